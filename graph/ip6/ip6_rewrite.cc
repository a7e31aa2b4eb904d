// ip6-rewrite: hop-limit check (expiring packets get an ICMPv6 time exceeded), MTU check of
// the tx interface (ICMPv6 packet too big: routers never fragment IPv6), hop-limit decrement
// (IPv6 has no header checksum), then the Ethernet header from the adjacency and the tx
// interface, and the ip6-output feature arc towards interface-output; with no ip6-output
// feature on the tx interface, straight to its tx node (tx_direct, as VPP's ip6-rewrite).
// Locally originated packets keep their hop limit.
#include <cstdio>
#include <string>

#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "../ip/dpo.h"

namespace quiver {

QUIVER_FEATURE_ARC(ip6_output, "ip6-output", "ip6-rewrite", "interface-output", true);

namespace {

enum Next : uint16_t { kNextDrop, kNextIcmpError, kNextDiscover, kNextOutput };
enum Error : uint32_t { kErrHopLimit, kErrTooBig, kErrOwnTooBig, kErrNotResolved };

FeatureArcRef g_arc("ip6-output");

struct NodeTrace {
  uint32_t adj, tx_if;
  uint8_t hlim;
  uint16_t next;
  uint8_t head[14];
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char b[200];
  snprintf(b, sizeof b,
           "adjacency %u tx %u hop-limit %u next %u: %02x:%02x:%02x:%02x:%02x:%02x <- %02x:%02x:%02x:%02x:%02x:%02x",
           t->adj, t->tx_if, t->hlim, t->next, t->head[0], t->head[1], t->head[2], t->head[3], t->head[4], t->head[5],
           t->head[6], t->head[7], t->head[8], t->head[9], t->head[10], t->head[11]);
  return b;
}

inline uint16_t icmp(Buffer* b, uint8_t type, uint8_t code, uint32_t data) {
  IpOpaque& o = ip_opaque(b);
  o.icmp_type = type;
  o.icmp_code = code;
  o.icmp_data = data;
  return kNextIcmpError;
}

inline uint16_t rewrite(Worker& w, NodeRuntime& node, const AdjTable* adjs, const InterfaceTable& ift, const ArcMasks* features, Buffer* b) {
  const Adjacency& a = adjs->adj[b->next_hop];
  if (__builtin_expect(a.kind != AdjKind::Rewrite, 0)) {
    w.count_error(node, kErrNotResolved);
    return kNextDiscover;
  }
  auto* ip = reinterpret_cast<Ip6Header*>(b->data());
  const bool local = b->rx_if == kInvalidIf;
  if (__builtin_expect(ip->hop_limit <= 1 && !local, 0)) {
    w.count_error(node, kErrHopLimit);
    return icmp(b, kIcmp6TimeExceeded, 0, 0);
  }
  const IfRuntime& rt = ift.entry[a.if_index];
  if (__builtin_expect(sizeof(Ip6Header) + ntohs(ip->payload_length_be) > rt.mtu, 0)) {
    if (local) {
      b->error = node.error_code(kErrOwnTooBig);
      return kNextDrop;
    }
    w.count_error(node, kErrTooBig);
    return icmp(b, kIcmp6PacketTooBig, 0, rt.mtu);
  }
  if (__builtin_expect(!local, 1)) ip->hop_limit--;
  b->advance(-int(kEthernetHeaderSize));
  uint8_t* e = b->data();
  std::memcpy(e, a.dst_mac, 6);
  std::memcpy(e + 6, rt.mac, 6);
  e[12] = 0x86;
  e[13] = 0xdd;
  b->tx_if = a.if_index;
  b->l2_offset = b->data_offset;
  b->l3_offset = uint16_t(b->data_offset + kEthernetHeaderSize);
  return features->mask[a.if_index] ? g_arc->start_next(node, b) : node.tx_next(rt, kNextOutput);
}

template <bool Trace>
uint32_t ip6_rewrite(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const AdjTable* adjs = g_l3.adjs.get();
  const InterfaceTable& ift = w.interfaces();
  const ArcMasks* features = g_arc->masks.get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data() - kEthernetHeaderSize, 1);
    }
    next[i] = rewrite(w, node, adjs, ift, features, b[i]);
    next[i + 1] = rewrite(w, node, adjs, ift, features, b[i + 1]);
    next[i + 2] = rewrite(w, node, adjs, ift, features, b[i + 2]);
    next[i + 3] = rewrite(w, node, adjs, ift, features, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = rewrite(w, node, adjs, ift, features, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{b[i]->next_hop, b[i]->tx_if, 0, next[i], {}};
      if (next[i] != kNextDrop && next[i] != kNextIcmpError && next[i] != kNextDiscover) {
        std::memcpy(t.head, b[i]->data(), 14);
        t.hlim = b[i]->data()[14 + 7];
      }
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip6_rewrite, {
  .name = "ip6-rewrite",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_rewrite),
  .next_nodes = {"error-drop", "ip6-icmp-error", "ip6-discover-neighbor", "interface-output"},
  .errors = {{"hop-limit-exceeded", "hop limit expired in transit: ICMPv6 time exceeded", Severity::Info},
             {"packet-too-big", "larger than the tx interface MTU: ICMPv6 packet too big", Severity::Info},
             {"own-too-big", "a packet the dataplane originated exceeds the MTU", Severity::Error},
             {"not-resolved", "adjacency lost its resolution in flight", Severity::Info}},
  .format_trace = format_trace,
  .tx_direct = true,
});

}  // namespace
}  // namespace quiver
