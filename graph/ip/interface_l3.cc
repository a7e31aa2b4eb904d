// Interface addresses (several per interface, both families) and the table an interface is
// bound to. An address installs its connected prefix (attached: glean on the interface) and
// its own host route (local); an IPv4 subnet up to /30 also gets its directed broadcast as a
// drop. The first IPv6 address enables IPv6 on the interface with an EUI-64 link-local.
#include <stdexcept>

#include "../../native/engine.h"
#include "../../native/json.h"
#include "l3.h"

namespace quiver {

namespace {

bool overlaps(IpFamily f, const IpAddr& a, uint8_t la, const IpAddr& b, uint8_t lb) {
  const uint8_t l = la < lb ? la : lb;
  return ip_mask(f, a, l) == ip_mask(f, b, l);
}

IpAddr broadcast_of(const IpAddr& a, uint8_t len) {
  return IpAddr::v4(htonl(a.v4_host() | ~mask32(len)));
}

std::vector<uint8_t> garp_frame(const uint8_t* mac, uint32_t ip_net) {
  std::vector<uint8_t> f(14 + sizeof(ArpPacket), 0);
  auto* eth = reinterpret_cast<EthernetHeader*>(f.data());
  std::memset(eth->dst, 0xff, 6);
  std::memcpy(eth->src, mac, 6);
  eth->type_be = htons(kEtherTypeArp);
  auto* arp = reinterpret_cast<ArpPacket*>(f.data() + 14);
  arp->htype_be = htons(1);
  arp->ptype_be = htons(kEtherTypeIp4);
  arp->hlen = 6;
  arp->plen = 4;
  arp->op_be = htons(kArpRequest);
  std::memcpy(arp->sender_mac, mac, 6);
  arp->sender_ip = ip_net;
  arp->target_ip = ip_net;
  return f;
}

}  // namespace

IfState& L3::if_state(uint32_t if_index) { return ifs_[if_index]; }

uint32_t L3::glean_adj(uint32_t if_index, IpFamily f) {
  IfState& s = ifs_[if_index];
  uint32_t& g = f == IpFamily::V4 ? s.glean4 : s.glean6;
  if (g != ~0u) return g;
  g = alloc_adj();
  Adjacency& a = adjs_[g];
  a = Adjacency();
  a.kind = AdjKind::Glean;
  a.family = f;
  a.if_index = if_index;
  ifs_dirty_ = true;
  return g;
}

void L3::add_address(uint32_t if_index, IpFamily f, const IpAddr& a, uint8_t len, bool announce) {
  Engine& e = *engine_;
  Interface* intf = e.interface(if_index);
  if (!intf) throw std::runtime_error("interface: no interface " + std::to_string(if_index));
  const IfRuntime& rt = e.runtime_table().entry[if_index];
  if (rt.mode != IfMode::L3)
    throw std::runtime_error("interface: '" + intf->name + "' is not in L3 mode (it is " +
                             (rt.mode == IfMode::Bridge ? "in a bridge" : "cross-connected") + ")");
  const std::string shown = prefix_str(f, a, len);
  const uint8_t host_len = f == IpFamily::V4 ? 32 : 128;
  if (f == IpFamily::V4) {
    const uint32_t h = a.v4_host();
    if (h == 0 || ip4_is_multicast(h) || (h >> 28) == 0xf) throw std::runtime_error("address: " + shown + " is not a unicast address");
    if (len <= 30 && (h & ~mask32(len)) == 0) throw std::runtime_error("address: " + shown + " is the subnet's network address");
    if (len <= 30 && (h | mask32(len)) == ~0u) throw std::runtime_error("address: " + shown + " is the subnet's broadcast address");
  } else {
    if (ip6_is_multicast(a.b) || ip6_is_unspecified(a.b) || ip6_is_link_local(a.b))
      throw std::runtime_error("address: " + shown + " is not a global unicast address (link-locals are derived from the MAC)");
  }
  IfState& s = ifs_[if_index];
  uint32_t same_family = 0;
  for (const IfAddr& x : s.addrs) same_family += x.family == f;
  if (same_family >= kMaxIfAddrs)
    throw std::runtime_error("address: '" + intf->name + "' already has " + std::to_string(kMaxIfAddrs) + " addresses of this family");
  for (uint32_t i = 0; i < ifs_.size(); ++i) {
    const IfState& o = ifs_[i];
    if (o.fib != s.fib) continue;
    for (const IfAddr& x : o.addrs) {
      if (x.family != f) continue;
      if (i == if_index && x.addr == a && x.len == len) throw std::runtime_error("address: " + shown + " is already on '" + intf->name + "'");
      if (overlaps(f, a, len, x.addr, x.len) || x.addr == a) {
        Interface* other = e.interface(i);
        throw std::runtime_error("address: " + shown + " overlaps " + prefix_str(f, x.addr, x.len) + " on '" +
                                 (other ? other->name : std::to_string(i)) + "'");
      }
    }
  }
  FibTable& t = *table_at(s.fib);
  reserve_routes(t, f, 3);
  if (f == IpFamily::V6 && !s.ip6_enabled) {
    s.ip6_enabled = true;
    uint8_t* ll = s.link_local;
    std::memset(ll, 0, 16);
    ll[0] = 0xfe;
    ll[1] = 0x80;
    ll[8] = intf->mac[0] ^ 0x02;
    ll[9] = intf->mac[1];
    ll[10] = intf->mac[2];
    ll[11] = 0xff;
    ll[12] = 0xfe;
    ll[13] = intf->mac[3];
    ll[14] = intf->mac[4];
    ll[15] = intf->mac[5];
  }
  s.addrs.push_back(IfAddr{f, a, len});
  ifs_dirty_ = true;
  glean_adj(if_index, f);
  publish();  // the glean adjacency exists before any route names it
  if (len < host_len) {
    const uint32_t pl = pathlist(s.fib, f, {Path{Path::Attached, false, if_index, IpAddr()}});
    route_set(t, f, ip_mask(f, a, len), len, kSourceInterface, pl);
  }
  route_set(t, f, a, host_len, kSourceInterface, special_pathlist(kLbLocal));
  if (f == IpFamily::V4 && len <= 30) route_set(t, f, broadcast_of(a, len), 32, kSourceInterface, special_pathlist(kLbBroadcast));
  resolve_recursive();
  publish();
  if (announce && f == IpFamily::V4 && intf->admin_up) l3_send_frame(if_index, garp_frame(intf->mac, a.v4_net()));
}

void L3::delete_address(uint32_t if_index, IpFamily f, const IpAddr& a, uint8_t len) {
  Interface* intf = engine_->interface(if_index);
  IfState& s = ifs_[if_index];
  size_t i = 0;
  while (i < s.addrs.size() && !(s.addrs[i].family == f && s.addrs[i].addr == a && s.addrs[i].len == len)) ++i;
  if (i == s.addrs.size())
    throw std::runtime_error("address: " + prefix_str(f, a, len) + " is not on '" + (intf ? intf->name : std::to_string(if_index)) + "'");
  s.addrs.erase(s.addrs.begin() + long(i));
  FibTable& t = *table_at(s.fib);
  const uint8_t host_len = f == IpFamily::V4 ? 32 : 128;
  if (len < host_len) route_set(t, f, ip_mask(f, a, len), len, kSourceInterface, ~0u);
  route_set(t, f, a, host_len, kSourceInterface, ~0u);
  if (f == IpFamily::V4 && len <= 30) route_set(t, f, broadcast_of(a, len), 32, kSourceInterface, ~0u);
  if (f == IpFamily::V6) {
    bool any = false;
    for (const IfAddr& x : s.addrs) any |= x.family == IpFamily::V6;
    if (!any) {
      s.ip6_enabled = false;
      std::memset(s.link_local, 0, 16);
    }
  }
  ifs_dirty_ = true;
  resolve_recursive();
  gc();
  publish();
}

void L3::set_interface_table(uint32_t if_index, uint32_t table_id) {
  Interface* intf = engine_->interface(if_index);
  IfState& s = ifs_[if_index];
  FibTable& t = table_or_throw(table_id, "table");
  if (t.index == s.fib) return;
  if (!s.addrs.empty())
    throw std::runtime_error("table: '" + (intf ? intf->name : std::to_string(if_index)) + "' has addresses; remove them first");
  if (FibTable* old = table_at(s.fib)) old->interfaces -= old->index != 0 ? 1 : 0;
  s.fib = t.index;
  if (t.index != 0) t.interfaces++;
  ifs_dirty_ = true;
  publish();
}

void L3::interface_deleted(uint32_t if_index) {
  IfState& s = ifs_[if_index];
  while (!s.addrs.empty()) {
    const IfAddr x = s.addrs.back();
    delete_address(if_index, x.family, x.addr, x.len);
  }
  // Paths through it never resolve again (the index may be reused by a new interface).
  for (uint32_t id = 0; id < pathlists_.size(); ++id) {
    PathList& pl = pathlists_[id];
    if (!pl.alive) continue;
    bool touched = false;
    for (Path& p : pl.paths)
      if (p.if_index == if_index && !p.dead) {
        p.dead = true;
        touched = true;
      }
    if (!touched) continue;
    pathlist_by_key_.erase(pl.key);
    pl.key = path_key(pl.fib, pl.family, pl.paths) + "#" + std::to_string(id);  // unique: dead lists never merge
    pathlist_by_key_[pl.key] = id;
    resolve(pl);
  }
  resolve_recursive();
  for (uint32_t id = 0; id < neighbors_.size(); ++id) {
    Neighbor& n = neighbors_[id];
    if (!n.alive || n.if_index != if_index) continue;
    neighbor_free(id);
  }
  if (s.glean4 != ~0u) free_adj(s.glean4);
  if (s.glean6 != ~0u) free_adj(s.glean6);
  if (FibTable* t = table_at(s.fib)) t->interfaces -= t->index != 0 ? 1 : 0;
  s = IfState();
  ifs_dirty_ = true;
  gc();
  publish();
}

}  // namespace quiver
