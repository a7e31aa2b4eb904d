// VXLAN tunnels, control side: the registry of tunnels (each one an interface of driver
// "vxlan" whose tx node is vxlan4-encap / vxlan6-encap), the outer header templates, the decap
// hash, and publication of the whole table to workers on every change. N-API:
//   vxlanTunnelCreate({name, src, dst, vni, dstPort, encapVrf, ttl, df, mac?, mtu?, deferTable?}) -> index
//   vxlanTunnels() -> [{name, index, src, dst, vni, dstPort, encapVrf, encapVrfFound, ttl, df, family}]
// A tunnel is deleted as any interface is (deleteInterface); the hook below drops it from the
// table before the interface goes away.
#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "vxlan.h"
#include "vxlan_control.h"

namespace quiver {
namespace vxlan {

Published<VxlanTable> g_vxlan;
std::atomic<bool> g_underlay_shortcuts{true};

namespace {

std::map<uint32_t, TunnelConfig> g_tunnels;  // by interface index; under the control lock
uint32_t g_test_if = kInvalidIf;  // test chains
uint32_t g_test_chain_at = 0;

std::string addr_str(const TunnelConfig& c, const uint8_t* a) {
  char s[INET6_ADDRSTRLEN];
  inet_ntop(c.is_ip6 ? AF_INET6 : AF_INET, a, s, sizeof s);
  return s;
}

void build_template(const TunnelConfig& c, EncapTunnel& et) {
  std::memset(et.rewrite, 0, sizeof et.rewrite);
  et.is_ip6 = c.is_ip6;
  et.df = c.df;
  et.vni = c.vni;
  et.if_index = c.if_index;
  et.fib_index = c.encap_fib;
  VxlanHeader vx{};
  vx.flags = kFlagI;
  vx.vni_be = htonl(c.vni << 8);
  if (c.is_ip6) {
    auto* ip = reinterpret_cast<Ip6Header*>(et.rewrite);
    auto* udp = reinterpret_cast<UdpHeader*>(et.rewrite + sizeof(Ip6Header));
    ip->vtc_flow_be = htonl(0x60000000u);
    ip->next_header = kIpProtoUdp;
    ip->hop_limit = c.ttl;
    std::memcpy(ip->src, c.src, 16);
    std::memcpy(ip->dst, c.dst, 16);
    udp->dst_port_be = htons(c.dst_port);
    std::memcpy(udp + 1, &vx, sizeof vx);
    // Everything of the UDP checksum that never changes: pseudo-header addresses and next
    // header, destination port, VXLAN header. Lengths and source port are added per packet.
    uint32_t s = csum_partial(ip->src, 32);
    s += htons(uint16_t(kIpProtoUdp));
    s += udp->dst_port_be;
    s = csum_partial(&vx, sizeof vx, s);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    et.v6_sum = s;
  } else {
    auto* ip = reinterpret_cast<Ip4Header*>(et.rewrite);
    auto* udp = reinterpret_cast<UdpHeader*>(et.rewrite + sizeof(Ip4Header));
    ip->version_ihl = 0x45;
    ip->frag_be = c.df ? htons(0x4000) : 0;
    ip->ttl = c.ttl;
    ip->protocol = kIpProtoUdp;
    std::memcpy(&ip->src, c.src, 4);
    std::memcpy(&ip->dst, c.dst, 4);
    ip->set_checksum();
    et.ip4_checksum = ip->checksum;
    udp->dst_port_be = htons(c.dst_port);
    std::memcpy(udp + 1, &vx, sizeof vx);
  }
}

// The next an encap node sends a tunnel's packets to: the underlay lookup of its family,
// error-drop when the lookup is not compiled in.
uint16_t underlay_next(Engine& e, bool is_ip6) {
  const NodeInfo* n = e.graph().find(is_ip6 ? "vxlan6-encap" : "vxlan4-encap");
  const uint16_t next = is_ip6 ? kEncapNextIp6 : kEncapNextIp4;
  return n && n->next_resolved[next] ? next : uint16_t(kEncapNextDrop);
}

// An encap table named before it exists (a config creates interfaces before VRFs) is resolved
// when the tunnel comes up, and checked every ~100 ms on the housekeeping thread.
class VxlanOps : public InterfaceOps {
 public:
  const char* driver() const override { return "vxlan"; }
  void destroy(Interface&) override {}
  void set_admin(Interface& intf, bool up) override {
    if (up) refresh_encap_table(intf.index);
  }
  void poll_control(Interface& intf) override { refresh_encap_table(intf.index); }
  std::string details_json(const Interface& intf) override {
    auto it = g_tunnels.find(intf.index);
    return it == g_tunnels.end() ? "{}" : tunnel_json(it->second);
  }
};

uint32_t parse_u32_field(const Napi::Object& o, const char* key, uint32_t def, uint32_t min, uint32_t max) {
  const uint32_t v = opt_u32(o, key, def);
  if (v < min || v > max)
    throw std::runtime_error(std::string(key) + ": " + std::to_string(v) + " is outside " + std::to_string(min) + ".." +
                             std::to_string(max));
  return v;
}

// Parses an address into out (16 bytes, IPv4 in the first 4); returns true for IPv6.
bool parse_addr(const std::string& s, const char* field, uint8_t* out) {
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, s.c_str(), out) == 1) return false;
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) return true;
  throw std::runtime_error(std::string(field) + ": '" + s + "' is not an IPv4 or IPv6 address");
}

bool unusable_unicast(bool v6, const uint8_t* a) {
  static const uint8_t zero[16] = {};
  if (v6) return a[0] == 0xff || std::memcmp(a, zero, 16) == 0;
  return a[0] >= 224 || (a[0] | a[1] | a[2] | a[3]) == 0;
}

}  // namespace

std::string tunnel_json(const TunnelConfig& c) {
  Interface* intf = Engine::get().interface(c.if_index);
  return "{\"name\":" + json_str(intf ? intf->name : "") + ",\"index\":" + std::to_string(c.if_index) +
         ",\"src\":" + json_str(addr_str(c, c.src)) + ",\"dst\":" + json_str(addr_str(c, c.dst)) +
         ",\"vni\":" + std::to_string(c.vni) + ",\"dstPort\":" + std::to_string(c.dst_port) +
         ",\"encapVrf\":" + std::to_string(c.encap_vrf) +
         ",\"encapVrfFound\":" + (c.encap_fib == kUnresolvedFib ? "false" : "true") + ",\"ttl\":" + std::to_string(c.ttl) +
         ",\"df\":" + (c.df ? "true" : "false") + ",\"family\":" + (c.is_ip6 ? "\"ip6\"" : "\"ip4\"") + "}";
}

// ip4/ip6-vxlan-bypass (vxlan_bypass.cc) on every interface while a tunnel of its family
// exists, off otherwise. Every index, so interfaces created later have it too.
void set_bypass(Engine& e, const char* arc_name, const char* node, bool on) {
  FeatureArc* a = find_feature_arc(arc_name);
  const int ni = e.graph().node_index(node);
  if (!a || ni < 0 || a->position_of_node[size_t(ni)] < 1) return;  // the path is not compiled in
  const uint32_t bit = 1u << (a->position_of_node[size_t(ni)] - 1);
  const ArcMasks* cur = a->masks.get();
  if (!cur || bool(cur->mask[0] & bit) == on) return;
  auto* next = new ArcMasks(*cur);
  for (uint32_t& m : next->mask) m = on ? m | bit : m & ~bit;
  a->masks.publish(e.epochs(), next);
}

void add_vtep(std::vector<Vtep>& list, const TunnelConfig& c) {
  Vtep v;
  v.fib_index = c.encap_fib;
  v.port_be = htons(c.dst_port);
  std::memcpy(v.addr, c.src, 16);
  for (const Vtep& x : list)
    if (x.fib_index == v.fib_index && x.port_be == v.port_be && std::memcmp(x.addr, v.addr, 16) == 0) return;
  list.push_back(v);
}

void publish_tunnels() {
  Engine& e = Engine::get();
  auto* t = new VxlanTable();
  t->test_chain_at = g_test_chain_at;
  size_t slots = 16;
  while (slots < g_tunnels.size() * 2) slots <<= 1;
  t->slots.assign(slots, DecapSlot{});
  t->mask = uint32_t(slots - 1);
  for (auto& [if_index, c] : g_tunnels) {
    const uint32_t ti = uint32_t(t->tunnels.size());
    t->tunnels.emplace_back();
    EncapTunnel& et = t->tunnels.back();
    build_template(c, et);
    et.next = underlay_next(e, c.is_ip6);
    et.drop_error = kErrNoUnderlay;
    if (c.encap_fib == kUnresolvedFib && et.next != kEncapNextDrop) {
      et.next = kEncapNextDrop;
      et.drop_error = kErrNoEncapTable;
    }
    t->tunnel_of_if[if_index] = ti;
    // Decap sees the tunnel from the other side: the remote is the outer source.
    TunnelKey k;
    k.family = c.is_ip6 ? 6 : 4;
    k.port_be = htons(c.dst_port);
    k.vni = c.vni;
    std::memcpy(k.remote, c.dst, 16);
    std::memcpy(k.local, c.src, 16);
    uint32_t i = k.hash() & t->mask;
    while (t->slots[i].tunnel != ~0u) i = (i + 1) & t->mask;
    t->slots[i] = DecapSlot{k, ti};
    t->vnis.push_back(c.vni);
    if (c.encap_fib != kUnresolvedFib) add_vtep(c.is_ip6 ? t->vteps6 : t->vteps4, c);
  }
  std::sort(t->vnis.begin(), t->vnis.end());
  t->vnis.erase(std::unique(t->vnis.begin(), t->vnis.end()), t->vnis.end());
  const bool shortcuts = g_underlay_shortcuts.load();
  const bool v4 = shortcuts && !t->vteps4.empty(), v6 = shortcuts && !t->vteps6.empty();
  g_vxlan.publish(e.epochs(), t);
  set_bypass(e, "ip4-unicast", "ip4-vxlan-bypass", v4);
  set_bypass(e, "ip6-unicast", "ip6-vxlan-bypass", v6);
}

const std::map<uint32_t, TunnelConfig>& tunnels() { return g_tunnels; }

void refresh_encap_table(uint32_t if_index) {
  auto it = g_tunnels.find(if_index);
  if (it == g_tunnels.end()) return;
  const uint32_t fib = resolve_encap_vrf(it->second.encap_vrf);
  if (fib == it->second.encap_fib) return;
  it->second.encap_fib = fib;
  publish_tunnels();
}
uint32_t test_chains_interface() { return g_test_if; }
void set_test_chains(uint32_t if_index, uint32_t chain_at) {
  g_test_if = if_index;
  g_test_chain_at = chain_at;
  publish_tunnels();
}

namespace {

void on_start(Engine&) {
  g_underlay_shortcuts = true;
  g_tunnels.clear();
  g_test_if = kInvalidIf;
  g_test_chain_at = 0;
  publish_tunnels();
}
void on_stop(Engine&) {
  g_tunnels.clear();
  g_test_if = kInvalidIf;
  g_test_chain_at = 0;
  g_vxlan.reset_unsafe();
}
void on_interface_delete(Engine&, uint32_t if_index) {
  bool changed = g_tunnels.erase(if_index) > 0;
  if (g_test_if == if_index) {
    g_test_if = kInvalidIf;
    g_test_chain_at = 0;
    changed = true;
  }
  if (changed) publish_tunnels();
}

}  // namespace

QUIVER_FEATURE(vxlan, {.name = "vxlan", .on_start = on_start, .on_stop = on_stop, .on_interface_delete = on_interface_delete});

QUIVER_NAPI(vxlanTunnelCreate) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  Napi::Object o = arg_object(info, 0, "tunnel");
  const std::string name = opt_string(o, "name", "");
  if (name.empty()) throw std::runtime_error("name: a tunnel needs a name");
  TunnelConfig c;
  if (!o.Has("src") || !o.Get("src").IsString()) throw std::runtime_error("src: required (the local underlay address)");
  if (!o.Has("dst") || !o.Get("dst").IsString()) throw std::runtime_error("dst: required (the remote VTEP's address)");
  c.is_ip6 = parse_addr(opt_string(o, "src", ""), "src", c.src);
  const bool dst6 = parse_addr(opt_string(o, "dst", ""), "dst", c.dst);
  if (dst6 != c.is_ip6) throw std::runtime_error("dst: address family differs from src");
  if (unusable_unicast(c.is_ip6, c.src)) throw std::runtime_error("src: must be a unicast address");
  if (unusable_unicast(c.is_ip6, c.dst)) throw std::runtime_error("dst: must be a unicast address (multicast groups are not supported)");
  if (std::memcmp(c.src, c.dst, 16) == 0) throw std::runtime_error("dst: equals src");
  if (!o.Has("vni") || o.Get("vni").IsUndefined()) throw std::runtime_error("vni: required");
  c.vni = parse_u32_field(o, "vni", 0, 0, kMaxVni);
  const uint32_t port = opt_u32(o, "dstPort", kPortIana);
  if (port != kPortIana && port != kPortLinux)
    throw std::runtime_error("dstPort: must be 4789 or 8472 (the ports Quiver decapsulates)");
  c.dst_port = uint16_t(port);
  c.encap_vrf = opt_u32(o, "encapVrf", 0);
  c.encap_fib = resolve_encap_vrf(c.encap_vrf);
  // The config creates interfaces before VRFs: it may name a table that comes later.
  if (c.encap_fib == kUnresolvedFib && !opt_bool(o, "deferTable", false))
    throw std::runtime_error("encapVrf: table " + std::to_string(c.encap_vrf) + " does not exist");
  c.ttl = uint8_t(parse_u32_field(o, "ttl", 64, 1, 255));
  c.df = opt_bool(o, "df", false);
  for (auto& [idx, other] : g_tunnels)
    if (other.is_ip6 == c.is_ip6 && other.vni == c.vni && other.dst_port == c.dst_port &&
        std::memcmp(other.src, c.src, 16) == 0 && std::memcmp(other.dst, c.dst, 16) == 0)
      throw std::runtime_error("vni: tunnel '" + e.interface(idx)->name + "' already carries VNI " + std::to_string(c.vni) +
                               " between these addresses");
  uint8_t mac[6];
  if (o.Has("mac") && !o.Get("mac").IsUndefined()) {
    parse_mac(opt_string(o, "mac", ""), mac, "mac");
    if (mac[0] & 1) throw std::runtime_error("mac: must be a unicast address");
  } else {
    // Random and locally administered, as the kernel's vxlan device: tunnels of different
    // nodes meet in one overlay, so an index-derived MAC would collide.
    std::random_device rd;
    for (auto& x : mac) x = uint8_t(rd());
    mac[0] = uint8_t((mac[0] & 0xfe) | 0x02);
  }
  const uint32_t mtu = parse_u32_field(o, "mtu", 1500 - (c.is_ip6 ? kOverhead6 : kOverhead4), 68, 9216);
  Interface& intf = e.create_interface(name, c.is_ip6 ? "vxlan6-encap" : "vxlan4-encap", std::make_unique<VxlanOps>(), mac, mtu);
  c.if_index = intf.index;
  g_tunnels[intf.index] = c;
  publish_tunnels();
  e.set_link(intf, true);  // a tunnel has no carrier of its own: its link is up once it exists
  return Napi::Number::New(info.Env(), intf.index);
}

// vxlanUnderlayShortcuts(on?) -> whether they are on (after the change, if one was asked)
QUIVER_NAPI(vxlanUnderlayShortcuts) {
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!Engine::get().running()) throw std::runtime_error("engine: not running");
    g_underlay_shortcuts = info[0].ToBoolean().Value();
    publish_tunnels();
  }
  return Napi::Boolean::New(info.Env(), g_underlay_shortcuts.load());
}

QUIVER_NAPI(vxlanTunnels) {
  std::string j = "[";
  for (auto& [idx, c] : g_tunnels) {
    if (j.size() > 1) j += ",";
    j += tunnel_json(c);
  }
  j += "]";
  Napi::Object JSON = info.Env().Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(info.Env(), j)});
}

}  // namespace vxlan
}  // namespace quiver
