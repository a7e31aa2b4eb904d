// ip4-local: packets for one of the dataplane's own addresses. ICMP echo requests are turned
// into replies in place and routed back as locally originated packets; echo replies feed the
// dataplane's own pings; UDP goes to the node registered for its port (udp_ports.h) or gets
// an ICMP port unreachable; other protocols an ICMP protocol unreachable. No reassembly:
// fragments are dropped and counted.
#include <cstdio>
#include <string>

#include "../../native/clock.h"
#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/ping.h"
#include "../ip/udp_ports.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextLookup, kNextIcmpError };  // UDP port nodes follow
enum Error : uint32_t {
  kErrFragment, kErrBadIcmp, kErrBadChecksum, kErrEchoReplies, kErrIcmpOther, kErrBadUdp, kErrUdpChecksum,
  kErrNoListener, kErrUnknownProtocol, kErrEchoUnexpected, kErrChained
};

struct NodeTrace {
  uint32_t src, dst;
  uint8_t proto, icmp_type;
  uint16_t port;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char s[INET_ADDRSTRLEN], x[INET_ADDRSTRLEN], b[200];
  inet_ntop(AF_INET, &t->src, s, sizeof s);
  inet_ntop(AF_INET, &t->dst, x, sizeof x);
  snprintf(b, sizeof b, "local %s -> %s proto %u icmp-type %u port %u next %u", s, x, t->proto, t->icmp_type, t->port, t->next);
  return b;
}

inline uint16_t unreachable(Buffer* b, uint8_t code) {
  IpOpaque& o = ip_opaque(b);
  o.icmp_type = kIcmp4Unreachable;
  o.icmp_code = code;
  o.icmp_data = 0;
  return kNextIcmpError;
}

// Returns the next, or kNextDrop with b->error set; ~0 means consumed (freed by the caller).
inline uint32_t local(Worker& w, NodeRuntime& node, const IfL3Table* ifs, Buffer* b) {
  auto* ip = reinterpret_cast<Ip4Header*>(b->data());
  const uint32_t ihl = ip->header_bytes();
  const uint32_t len = ip->total_length();
  if (ip->is_fragment()) {
    b->error = node.error_code(kErrFragment);
    return kNextDrop;
  }
  // A chain (a jumbo packet) is only taken as UDP to a registered port (VXLAN over a jumbo
  // underlay), its IP and UDP headers in the head buffer.
  const bool chained = len > b->length;
  if (__builtin_expect(chained && (ip->protocol != kIpProtoUdp || b->length < ihl + 8), 0)) {
    b->error = node.error_code(kErrChained);
    return kNextDrop;
  }
  if (ip->protocol == kIpProtoIcmp) {
    if (len < ihl + sizeof(IcmpHeader)) {
      b->error = node.error_code(kErrBadIcmp);
      return kNextDrop;
    }
    auto* icmp = reinterpret_cast<IcmpHeader*>(b->data() + ihl);
    if (ip_checksum(icmp, len - ihl) != 0) {
      b->error = node.error_code(kErrBadChecksum);
      return kNextDrop;
    }
    if (icmp->type == kIcmp4EchoRequest && icmp->code == 0) {
      // Reply in place: swap the addresses, type 8 -> 0 (incremental checksum), fresh TTL.
      uint16_t old_word, new_word;
      std::memcpy(&old_word, icmp, 2);
      icmp->type = kIcmp4EchoReply;
      std::memcpy(&new_word, icmp, 2);
      icmp->checksum = csum_update16(icmp->checksum, old_word, new_word);
      const uint32_t src = ip->src;
      ip->src = ip->dst;
      ip->dst = src;
      ip->ttl = 64;
      ip->tos = 0;
      ip->set_checksum();
      IpOpaque& o = ip_opaque(b);
      o.fib_index = b->rx_if < kMaxInterfaces ? ifs->entry[b->rx_if].fib4 : o.fib_index;
      o.origin_if = b->rx_if < kMaxInterfaces ? b->rx_if : o.origin_if;
      b->rx_if = kInvalidIf;  // locally originated from here on
      return kNextLookup;
    }
    if (icmp->type == kIcmp4EchoReply) {
      const uint16_t ident = ntohs(uint16_t(icmp->data));
      const uint16_t seq = ntohs(uint16_t(icmp->data >> 16));
      w.count_error(node, ping_record(ident, seq, rdtsc()) ? kErrEchoReplies : kErrEchoUnexpected);
      return ~0u;
    }
    b->error = node.error_code(kErrIcmpOther);
    return kNextDrop;
  }
  if (ip->protocol == kIpProtoUdp) {
    auto* udp = reinterpret_cast<UdpHeader*>(b->data() + ihl);
    const uint32_t ulen = len >= ihl + 8 ? ntohs(udp->length_be) : 0;
    if (ulen < 8 || ihl + ulen > len) {
      b->error = node.error_code(kErrBadUdp);
      return kNextDrop;
    }
    if (udp->checksum && !(b->flags & kBufL4ChecksumOk) &&
        csum_fold(chained ? csum_chain(w.pool(), b, ihl, ulen, ip4_pseudo_sum(ip, ulen))
                          : csum_partial(udp, ulen, ip4_pseudo_sum(ip, ulen))) != 0) {
      b->error = node.error_code(kErrUdpChecksum);
      return kNextDrop;
    }
    const uint16_t next = g_udp_next4[ntohs(udp->dst_port_be)];
    if (__builtin_expect(chained && !next, 0)) {
      b->error = node.error_code(kErrChained);
      return kNextDrop;
    }
    if (next) {
      b->l3_offset = b->data_offset;
      b->l4_offset = uint16_t(b->data_offset + ihl);
      b->advance(int(ihl + 8));
      return next;
    }
    w.count_error(node, kErrNoListener);
    return unreachable(b, kIcmp4PortUnreachable);
  }
  w.count_error(node, kErrUnknownProtocol);
  return unreachable(b, kIcmp4ProtoUnreachable);
}

template <bool Trace>
uint32_t ip4_local(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const IfL3Table* ifs = g_l3.ifs.get();
  uint32_t keep[kFrameSize], consumed[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t n_keep = 0, n_consumed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (i + 4 < n) __builtin_prefetch(w.buffer(bi[i + 4])->data());
    NodeTrace t{};
    if constexpr (Trace) {
      const auto* ip = reinterpret_cast<const Ip4Header*>(b->data());
      t.src = ip->src;
      t.dst = ip->dst;
      t.proto = ip->protocol;
      const uint8_t* l4 = b->data() + ip->header_bytes();
      if (t.proto == kIpProtoIcmp) t.icmp_type = l4[0];
      if (t.proto == kIpProtoUdp) t.port = uint16_t(l4[2] << 8 | l4[3]);
    }
    const uint32_t nx = local(w, node, ifs, b);
    if constexpr (Trace) {
      t.next = uint16_t(nx);
      w.trace(node, b, &t, sizeof t);
    }
    if (nx == ~0u) {
      consumed[n_consumed++] = bi[i];
    } else {
      keep[n_keep] = bi[i];
      next[n_keep++] = uint16_t(nx);
    }
  }
  if (n_consumed) w.free(consumed, n_consumed);
  w.enqueue_to_nexts(node, keep, next, n_keep);
  return n;
}

QUIVER_NODE(ip4_local, {
  .name = "ip4-local",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_local),
  .next_nodes = {"error-drop", "ip4-lookup", "ip4-icmp-error"},
  .errors = {{"fragment", "fragment for us (no reassembly)", Severity::Error},
             {"bad-icmp", "ICMP message too short", Severity::Error},
             {"bad-checksum", "ICMP checksum is wrong", Severity::Error},
             {"echo-replies", "echo replies for the dataplane's pings", Severity::Info},
             {"icmp-unsupported", "ICMP type not handled locally", Severity::Info},
             {"bad-udp", "UDP length disagrees with the IP length", Severity::Error},
             {"udp-checksum", "UDP checksum is wrong", Severity::Error},
             {"udp-no-listener", "no node for this UDP port: ICMP port unreachable", Severity::Info},
             {"unknown-protocol", "protocol not handled locally: ICMP protocol unreachable", Severity::Info},
             {"echo-reply-unexpected", "echo reply no ping waits for", Severity::Info},
             {"chained", "spans several buffers (only UDP to a registered port is taken)", Severity::Error}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
