// How an encapsulated packet is handed to the underlay: as a packet the dataplane originates
// (rx_if invalid), in the tunnel's encap table (L3's convention, ip_common.h).
//
// Every packet of a tunnel has the same outer destination, so encap looks it up once per run
// of packets of one tunnel (in practice once per vector), as ip4-lookup / ip6-lookup would,
// and sends the run straight to the rewrite when that lookup ends in one resolved adjacency,
// or writes the Ethernet header itself and goes to the underlay interface's tx node (through
// interface-output only when that interface is down) when it has no output feature (the
// rewrite of a locally originated packet within the MTU does nothing else).
// A destination in an attached subnet (a glean adjacency) takes its neighbor's adjacency when
// that is complete, as ip4-arp / ip6-discover-neighbor would. Anything else (ECMP, a next hop
// still resolving, no route, a local or link-local destination) goes to the lookup node as
// before, which handles it. Nothing is cached across vectors, so a route or neighbor change
// applies from the next vector on, as it does for forwarded packets.
#pragma once
#include "../ip/dpo.h"
#include "../ip/ip4_mtrie.h"
#include "../ip/ip6_fib.h"
#include "../ip/ip_common.h"
#include "vxlan.h"

namespace quiver {
namespace vxlan {

// What the lookup and rewrite nodes read of a packet the tunnel originates (encap sets rx_if
// invalid and l3_offset itself for every packet).
inline void underlay_opaque(Buffer* b, const EncapTunnel& et) {
  IpOpaque& o = ip_opaque(b);
  o.fib_index = et.fib_index;
  o.origin_if = et.if_index;
}

struct UnderlayRoute {
  uint16_t next;  // EncapNext
  uint32_t adj;   // Rewrite4/6: the adjacency (ip4-rewrite reads it from b->next_hop)
  // Output: what the rewrite would do to a locally originated packet (it keeps its TTL / hop
  // limit): the Ethernet header, the tx interface; and its MTU, beyond which a packet still
  // goes to the rewrite, which drops and counts it.
  uint32_t tx_if = kInvalidIf;
  uint16_t tx_next = kEncapNextOutput;  // the encap node's next to tx_if's tx node (tx_direct)
  uint32_t mtu = 0;
  uint8_t eth[kEthernetHeaderSize] = {};
};

// The underlay's output arcs by tx interface (ip4-output, ip6-output): a feature on the
// underlay interface needs the rewrite node, which starts the arc.
struct UnderlayOutputMasks {
  const uint32_t* ip4 = nullptr;
  const uint32_t* ip6 = nullptr;
};

// The FIB lookup of the tunnel's destination, for a run of its packets.
inline UnderlayRoute resolve_underlay(const EncapTunnel& et, const InterfaceTable& it, const UnderlayOutputMasks& out) {
  const UnderlayRoute lookup{et.next, 0};
  if (et.next != kEncapNextIp4 && et.next != kEncapNextIp6) return lookup;
  if (!g_underlay_shortcuts.load(std::memory_order_relaxed)) return lookup;
  const LbTable* lbs = g_l3.lbs.get();
  const AdjTable* adjs = g_l3.adjs.get();
  if (et.fib_index >= kMaxFibs || !lbs || !adjs) return lookup;
  uint32_t lbi;
  IpAddr dst_addr;
  if (et.next == kEncapNextIp4) {
    const Ip4Mtrie* fib = g_l3.fib4[et.fib_index].load(std::memory_order_acquire);
    if (!fib) return lookup;
    uint32_t dst;
    std::memcpy(&dst, et.rewrite + offsetof(Ip4Header, dst), 4);
    lbi = fib->lookup(ntohl(dst));
    dst_addr = IpAddr::v4(dst);
  } else {
    const uint8_t* dst = et.rewrite + offsetof(Ip6Header, dst);
    if (ip6_is_link_local(dst)) return lookup;  // ip6-lookup picks the origin's glean
    const Ip6Fib* fib = g_l3.fib6[et.fib_index].load(std::memory_order_acquire);
    if (!fib) return lookup;
    lbi = fib->lookup(IpAddr::be64(dst), IpAddr::be64(dst + 8));
    dst_addr = IpAddr::v6(dst);
  }
  if (lbi >= lbs->count || lbs->lb[lbi].n_paths != 1) return lookup;
  uint32_t ai = lbs->lb[lbi].bucket[0];
  if (ai >= adjs->count) return lookup;
  if (adjs->adj[ai].kind == AdjKind::Glean) {
    const NeighborMap* neighbors = g_l3.neighbors.get();
    ai = neighbors ? neighbors->find(adjs->adj[ai].if_index, dst_addr) : ~0u;
    if (ai >= adjs->count) return lookup;
  }
  const Adjacency& a = adjs->adj[ai];
  if (a.kind != AdjKind::Rewrite) return lookup;
  const bool v4 = et.next == kEncapNextIp4;
  UnderlayRoute r{uint16_t(v4 ? kEncapNextRewrite4 : kEncapNextRewrite6), ai};
  const uint32_t* features = v4 ? out.ip4 : out.ip6;
  if (a.if_index >= kMaxInterfaces || !features || features[a.if_index]) return r;
  const IfRuntime& tx = it.entry[a.if_index];
  r.next = kEncapNextOutput;
  r.tx_if = a.if_index;
  r.mtu = tx.mtu;
  std::memcpy(r.eth, a.dst_mac, 6);
  std::memcpy(r.eth + 6, tx.mac, 6);
  r.eth[12] = v4 ? 0x08 : 0x86;
  r.eth[13] = v4 ? 0x00 : 0xdd;
  return r;
}

}  // namespace vxlan
}  // namespace quiver
