// The dataplane's own ping: echo requests originated from one of its addresses (chosen by the
// route to the destination unless given) and routed like any locally originated packet;
// ip4-local / ip6-local record the replies (ping.h). The pacing lives in TypeScript.
#include "ping.h"

#include <stdexcept>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/napi/napi.h"
#include "l3.h"

namespace quiver {

PingSessions g_ping;

namespace {

// The interface a packet to dst leaves on (first path), or kInvalidIf.
uint32_t egress_if(L3& l3, const FibTable& t, IpFamily f, const IpAddr& dst) {
  const uint32_t lb = l3.lookup_lb(t, f, dst);
  if (lb >= l3.lbs().size()) return kInvalidIf;
  const Adjacency& a = l3.adjs()[l3.lbs()[lb].bucket[0]];
  return a.if_index;
}

}  // namespace

// ipPingOpen(identifier) -> session
QUIVER_NAPI(ipPingOpen) {
  const uint32_t ident = arg_u32(info, 0, "identifier");
  if (ident > 0xffff) throw std::runtime_error("identifier: must be 0..65535");
  for (uint32_t s = 0; s < kPingSessions; ++s) {
    uint32_t expected = 0;
    for (auto& t : g_ping.reply_tsc[s]) t.store(0);
    if (g_ping.id[s].compare_exchange_strong(expected, 0x10000u | ident)) return Napi::Number::New(info.Env(), s);
  }
  throw std::runtime_error("ping: too many pings at once (" + std::to_string(kPingSessions) + ")");
}

QUIVER_NAPI(ipPingClose) {
  const uint32_t s = arg_u32(info, 0, "session");
  if (s < kPingSessions) g_ping.id[s].store(0);
  return info.Env().Undefined();
}

// ipPingReply(session, seq) -> TSC of the reply or 0
QUIVER_NAPI(ipPingReply) {
  const uint32_t s = arg_u32(info, 0, "session"), seq = arg_u32(info, 1, "seq");
  if (s >= kPingSessions) throw std::runtime_error("session: no such ping session");
  return Napi::Number::New(info.Env(), double(g_ping.reply_tsc[s][seq % kPingSeqs].load()));
}

// ipPingSend(table, destination, source|'', identifier, seq, payloadBytes) -> TSC when sent
QUIVER_NAPI(ipPingSend) {
  Engine& e = Engine::get();
  L3& l3 = L3::get();
  if (!e.running() || !l3.running()) throw std::runtime_error("engine: not running");
  FibTable& t = l3.table_or_throw(arg_u32(info, 0, "table"), "table");
  const std::string ds = arg_string(info, 1, "destination"), ss = arg_string(info, 2, "source");
  const uint32_t ident = arg_u32(info, 3, "identifier"), seq = arg_u32(info, 4, "seq"), size = arg_u32(info, 5, "size");
  IpAddr dst, src;
  IpFamily f = IpFamily::V4;
  if (inet_pton(AF_INET, ds.c_str(), dst.b) != 1) {
    if (inet_pton(AF_INET6, ds.c_str(), dst.b) != 1) throw std::runtime_error("destination: '" + ds + "' is not an IP address");
    f = IpFamily::V6;
  }
  if (size > 1400) throw std::runtime_error("size: at most 1400 payload bytes");
  const uint32_t out_if = egress_if(l3, t, f, dst);
  uint32_t origin = out_if;
  if (!ss.empty()) {
    if (inet_pton(f == IpFamily::V4 ? AF_INET : AF_INET6, ss.c_str(), src.b) != 1)
      throw std::runtime_error("source: '" + ss + "' is not an address of the destination's family");
    origin = kInvalidIf;
    for (Interface* i : e.interfaces())
      for (const IfAddr& a : l3.if_state(i->index).addrs)
        if (a.family == f && a.addr == src && l3.if_state(i->index).fib == t.index) origin = i->index;
    if (origin == kInvalidIf) throw std::runtime_error("source: " + ss + " is not an address of this table");
  } else {
    if (out_if == kInvalidIf) throw std::runtime_error("destination: no route to " + ds + " in table " + std::to_string(t.id));
    const IfState& st = l3.if_state(out_if);
    bool found = false;
    for (const IfAddr& a : st.addrs)
      if (a.family == f && !found) {
        src = a.addr;
        found = true;
        if (ip_mask(f, a.addr, a.len) == ip_mask(f, dst, a.len)) break;
      }
    for (const IfAddr& a : st.addrs)
      if (a.family == f && ip_mask(f, a.addr, a.len) == ip_mask(f, dst, a.len)) src = a.addr;
    if (!found) throw std::runtime_error("source: '" + e.interface(out_if)->name + "' has no address to ping from");
  }
  std::vector<uint8_t> p;
  const uint32_t icmp_len = 8 + size;
  if (f == IpFamily::V4) {
    p.assign(20 + icmp_len, 0);
    auto* ip = reinterpret_cast<Ip4Header*>(p.data());
    ip->version_ihl = 0x45;
    ip->total_length_be = htons(uint16_t(p.size()));
    ip->id_be = htons(uint16_t(seq));
    ip->ttl = 64;
    ip->protocol = kIpProtoIcmp;
    ip->src = src.v4_net();
    ip->dst = dst.v4_net();
    ip->set_checksum();
    auto* icmp = reinterpret_cast<IcmpHeader*>(p.data() + 20);
    icmp->type = kIcmp4EchoRequest;
    icmp->data = uint32_t(htons(uint16_t(ident))) | (uint32_t(htons(uint16_t(seq))) << 16);
    for (uint32_t i = 0; i < size; ++i) p[28 + i] = uint8_t(i);
    icmp->checksum = ip_checksum(icmp, icmp_len);
  } else {
    p.assign(40 + icmp_len, 0);
    auto* ip = reinterpret_cast<Ip6Header*>(p.data());
    ip->vtc_flow_be = htonl(0x60000000u);
    ip->payload_length_be = htons(uint16_t(icmp_len));
    ip->next_header = kIpProtoIcmp6;
    ip->hop_limit = 64;
    std::memcpy(ip->src, src.b, 16);
    std::memcpy(ip->dst, dst.b, 16);
    auto* icmp = reinterpret_cast<IcmpHeader*>(p.data() + 40);
    icmp->type = kIcmp6EchoRequest;
    icmp->data = uint32_t(htons(uint16_t(ident))) | (uint32_t(htons(uint16_t(seq))) << 16);
    for (uint32_t i = 0; i < size; ++i) p[48 + i] = uint8_t(i);
    icmp->checksum = ip6_upper_checksum(ip, icmp, icmp_len, kIpProtoIcmp6);
  }
  const uint64_t tsc = rdtsc();
  l3_send_ip(t.index, f, origin, p);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("tsc", double(tsc));
  r.Set("source", ip_str(f, src));
  return r;
}

}  // namespace quiver
