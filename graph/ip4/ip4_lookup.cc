// ip4-lookup: longest-prefix match of the destination in the FIB of the packet's table (the rx
// interface's, or the one a locally originated packet carries), then the load-balance set
// (flow hash over the 5-tuple when it has several paths) to one adjacency, whose kind decides
// the next node.
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/ip4_mtrie.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextRewrite, kNextArp, kNextLocal, kNextIcmpError };
// The first kDropReasons errors are indexed by Adjacency::drop_reason.
enum Error : uint32_t { kErrBlackhole, kErrMulticast, kErrBroadcast, kErrUnresolved, kErrReserved, kErrNoRoute, kErrNoTable };
static_assert(uint32_t(kErrNoRoute) == uint32_t(kDropReasons));

struct NodeTrace {
  uint32_t fib, dst, lb, adj;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char x[INET_ADDRSTRLEN], b[160];
  inet_ntop(AF_INET, &t->dst, x, sizeof x);
  snprintf(b, sizeof b, "fib %u dst %s load-balance %u adjacency %u next %u", t->fib, x, t->lb, t->adj, t->next);
  return b;
}

inline uint32_t fib_of(const IfL3Table* ifs, Buffer* b) {
  return b->rx_if < kMaxInterfaces ? ifs->entry[b->rx_if].fib4 : ip_opaque(b).fib_index;
}

inline uint16_t finish(Worker& w, NodeRuntime& node, const L3View& v, Buffer* b, uint32_t lbi) {
  if (__builtin_expect(lbi >= v.lbs->count, 0)) {
    b->error = node.error_code(kErrNoTable);
    return kNextDrop;
  }
  const LoadBalance& lb = v.lbs->lb[lbi];
  uint32_t ai = lb.bucket[0];
  if (__builtin_expect(lb.n_paths > 1, 0)) {
    b->flow_hash = flow_hash_ip4(reinterpret_cast<const Ip4Header*>(b->data()), lb.symmetric);
    ai = lb.pick(b->flow_hash);
  }
  const Adjacency& a = v.adjs->adj[ai];
  b->next_hop = ai;
  switch (a.kind) {
    case AdjKind::Rewrite: return kNextRewrite;
    case AdjKind::Glean:
    case AdjKind::Incomplete: return kNextArp;
    case AdjKind::Local: return kNextLocal;
    case AdjKind::Unreachable: {
      IpOpaque& o = ip_opaque(b);
      o.icmp_type = kIcmp4Unreachable;
      o.icmp_code = kIcmp4NetUnreachable;
      o.icmp_data = 0;
      w.count_error(node, kErrNoRoute);
      return kNextIcmpError;
    }
    case AdjKind::Drop: break;
  }
  b->error = node.error_code(a.drop_reason);
  return kNextDrop;
}

inline uint32_t dst_of(Buffer* b) { return ntohl(reinterpret_cast<const Ip4Header*>(b->data())->dst); }

// The mtrie walk is staged over the whole vector: every packet's destination first (root
// slot prefetched), then every root leaf (next ply slot prefetched for those that need one),
// then the second level for all, then the third. A packet's ply line is asked for a whole vector before it is read, so the
// DRAM/TLB misses of a large table overlap instead of queueing behind each other.
template <bool Trace>
uint32_t ip4_lookup(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const L3View v = L3View::get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t dst[kFrameSize], leaf[kFrameSize];
  const Ip4Mtrie* trie[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t last_fib = ~0u;
  const Ip4Mtrie* last = nullptr;
  for (uint32_t i = 0; i < n; ++i) {
    if (i + 8 < n) {
      __builtin_prefetch(b[i + 8]);
      __builtin_prefetch(b[i + 8]->data());
    }
    const uint32_t f = fib_of(v.ifs, b[i]);
    if (__builtin_expect(f != last_fib, 0)) {
      last_fib = f;
      last = f < kMaxFibs ? g_l3.fib4[f].load(std::memory_order_acquire) : nullptr;
    }
    trie[i] = last;
    dst[i] = dst_of(b[i]);
    if (__builtin_expect(last != nullptr, 1)) __builtin_prefetch(last->root_slot(dst[i]));
  }
  uint32_t pending = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (__builtin_expect(!trie[i], 0)) {
      leaf[i] = ~0u;  // terminal, load-balance index past the table: "no-table"
      continue;
    }
    leaf[i] = trie[i]->root_leaf(dst[i]);
    if (!(leaf[i] & 1u)) {
      __builtin_prefetch(trie[i]->next_slot(leaf[i], dst[i], 1));
      ++pending;
    }
  }
  for (int level = 1; level <= 2 && pending; ++level) {
    pending = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (leaf[i] & 1u) continue;
      leaf[i] = *trie[i]->next_slot(leaf[i], dst[i], level);
      if (level == 1 && !(leaf[i] & 1u)) {
        __builtin_prefetch(trie[i]->next_slot(leaf[i], dst[i], 2));
        ++pending;
      }
    }
  }
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    next[i] = finish(w, node, v, b[i], leaf[i] >> 1);
    next[i + 1] = finish(w, node, v, b[i + 1], leaf[i + 1] >> 1);
    next[i + 2] = finish(w, node, v, b[i + 2], leaf[i + 2] >> 1);
    next[i + 3] = finish(w, node, v, b[i + 3], leaf[i + 3] >> 1);
  }
  for (; i < n; ++i) next[i] = finish(w, node, v, b[i], leaf[i] >> 1);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{fib_of(v.ifs, b[i]), htonl(dst[i]), leaf[i] >> 1, b[i]->next_hop, next[i]};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip4_lookup, {
  .name = "ip4-lookup",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_lookup),
  .next_nodes = {"error-drop", "ip4-rewrite", "ip4-arp", "ip4-local", "ip4-icmp-error"},
  .errors = {{"blackhole", "route drops (blackhole)", Severity::Info},
             {"multicast", "multicast destination (no multicast routing)", Severity::Info},
             {"broadcast", "broadcast destination", Severity::Info},
             {"unresolved", "route's next hop does not resolve", Severity::Error},
             {"reserved", "destination in reserved space (240.0.0.0/4)", Severity::Error},
             {"no-route", "no route: ICMP unreachable sent", Severity::Info},
             {"no-table", "packet's table does not exist", Severity::Error}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
