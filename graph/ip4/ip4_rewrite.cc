// ip4-rewrite: TTL check (expiring packets get an ICMP time exceeded), MTU check of the tx
// interface (DF set: ICMP fragmentation needed; no fragmentation otherwise), TTL decrement
// with an incremental checksum update (RFC 1624), then the Ethernet header from the
// adjacency (destination MAC) and the tx interface (source MAC), and the ip4-output feature
// arc towards interface-output; with no ip4-output feature on the tx interface, straight to its
// tx node (tx_direct, as VPP's ip4-rewrite). Locally originated packets keep their TTL.
#include <cstdio>
#include <string>

#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "../ip/dpo.h"

namespace quiver {

QUIVER_FEATURE_ARC(ip4_output, "ip4-output", "ip4-rewrite", "interface-output", true);

namespace {

enum Next : uint16_t { kNextDrop, kNextIcmpError, kNextArp, kNextOutput };
enum Error : uint32_t { kErrTtlExpired, kErrMtuExceeded, kErrFragNeeded, kErrNotResolved };

FeatureArcRef g_arc("ip4-output");

struct NodeTrace {
  uint32_t adj, tx_if;
  uint8_t ttl;
  uint16_t next;
  uint8_t head[14];
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char b[200];
  snprintf(b, sizeof b,
           "adjacency %u tx %u ttl %u next %u: %02x:%02x:%02x:%02x:%02x:%02x <- %02x:%02x:%02x:%02x:%02x:%02x", t->adj,
           t->tx_if, t->ttl, t->next, t->head[0], t->head[1], t->head[2], t->head[3], t->head[4], t->head[5], t->head[6],
           t->head[7], t->head[8], t->head[9], t->head[10], t->head[11]);
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
  if (__builtin_expect(a.kind != AdjKind::Rewrite, 0)) {  // resolution changed meanwhile
    w.count_error(node, kErrNotResolved);
    return kNextArp;
  }
  auto* ip = reinterpret_cast<Ip4Header*>(b->data());
  const bool local = b->rx_if == kInvalidIf;
  if (__builtin_expect(ip->ttl <= 1 && !local, 0)) {
    w.count_error(node, kErrTtlExpired);
    return icmp(b, kIcmp4TimeExceeded, 0, 0);
  }
  const IfRuntime& rt = ift.entry[a.if_index];
  const uint16_t total = ip->total_length();
  if (__builtin_expect(total > rt.mtu, 0)) {
    if (ip->dont_fragment() && !local) {
      w.count_error(node, kErrFragNeeded);
      return icmp(b, kIcmp4Unreachable, kIcmp4FragNeeded, rt.mtu);
    }
    b->error = node.error_code(kErrMtuExceeded);
    return kNextDrop;
  }
  if (__builtin_expect(!local, 1)) {
    // TTL and protocol as the one 16-bit word the checksum sees (TTL is its low byte in
    // memory order); written back whole, so no narrow store is read back wide (a store
    // forwarding stall costs more than the rest of this node).
    uint16_t old_word;
    std::memcpy(&old_word, &ip->ttl, 2);
    const uint16_t new_word = uint16_t(old_word - 1);
    std::memcpy(&ip->ttl, &new_word, 2);
    ip->checksum = csum_update16(ip->checksum, old_word, new_word);
  }
  b->advance(-int(kEthernetHeaderSize));
  uint8_t* e = b->data();
  std::memcpy(e, a.dst_mac, 6);
  std::memcpy(e + 6, rt.mac, 6);
  e[12] = 0x08;
  e[13] = 0x00;
  b->tx_if = a.if_index;
  b->l2_offset = b->data_offset;
  b->l3_offset = uint16_t(b->data_offset + kEthernetHeaderSize);
  return features->mask[a.if_index] ? g_arc->start_next(node, b) : node.tx_next(rt, kNextOutput);
}

template <bool Trace>
uint32_t ip4_rewrite(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
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
      if (next[i] != kNextDrop && next[i] != kNextIcmpError && next[i] != kNextArp) {
        std::memcpy(t.head, b[i]->data(), 14);
        t.ttl = b[i]->data()[14 + 8];
      }
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip4_rewrite, {
  .name = "ip4-rewrite",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_rewrite),
  .next_nodes = {"error-drop", "ip4-icmp-error", "ip4-arp", "interface-output"},
  .errors = {{"ttl-expired", "TTL expired in transit: ICMP time exceeded", Severity::Info},
             {"mtu-exceeded", "larger than the tx interface MTU (no fragmentation)", Severity::Error},
             {"frag-needed", "larger than the MTU with DF set: ICMP fragmentation needed", Severity::Info},
             {"not-resolved", "adjacency lost its resolution in flight", Severity::Info}},
  .format_trace = format_trace,
  .tx_direct = true,
});

}  // namespace
}  // namespace quiver
