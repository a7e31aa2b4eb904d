// ip4-lookup: longest-prefix match of the destination in the FIB of the packet's table (the rx
// interface's, or the one a locally originated packet carries), then the load-balance set
// (flow hash over the 5-tuple when it has several paths) to one adjacency, whose kind decides
// the next node. Four packets at a time through the mtrie, with the buffers and the root
// leaves of the following packets prefetched.
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

template <bool Trace>
uint32_t ip4_lookup(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const L3View v = L3View::get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    if (i + 12 <= n)
      for (uint32_t k = 8; k < 12; ++k) __builtin_prefetch(b[i + k]->data());
    const uint32_t f0 = fib_of(v.ifs, b[i]), f1 = fib_of(v.ifs, b[i + 1]), f2 = fib_of(v.ifs, b[i + 2]),
                   f3 = fib_of(v.ifs, b[i + 3]);
    const uint32_t dst[4] = {dst_of(b[i]), dst_of(b[i + 1]), dst_of(b[i + 2]), dst_of(b[i + 3])};
    uint32_t lb[4];
    const Ip4Mtrie* m = f0 < kMaxFibs ? g_l3.fib4[f0].load(std::memory_order_acquire) : nullptr;
    if (__builtin_expect(m && f0 == f1 && f0 == f2 && f0 == f3, 1)) {
      m->lookup4(dst, lb);
    } else {
      const uint32_t f[4] = {f0, f1, f2, f3};
      for (int k = 0; k < 4; ++k) {
        const Ip4Mtrie* mk = f[k] < kMaxFibs ? g_l3.fib4[f[k]].load(std::memory_order_acquire) : nullptr;
        lb[k] = mk ? mk->lookup(dst[k]) : ~0u;
      }
    }
    // Root leaves of the next quad: their data lines were prefetched an iteration ago.
    if (m)
      for (uint32_t k = 4; k < 8; ++k) __builtin_prefetch(m->root_slot(dst_of(b[i + k])));
    next[i] = finish(w, node, v, b[i], lb[0]);
    next[i + 1] = finish(w, node, v, b[i + 1], lb[1]);
    next[i + 2] = finish(w, node, v, b[i + 2], lb[2]);
    next[i + 3] = finish(w, node, v, b[i + 3], lb[3]);
  }
  for (; i < n; ++i) {
    const uint32_t f = fib_of(v.ifs, b[i]);
    const Ip4Mtrie* m = f < kMaxFibs ? g_l3.fib4[f].load(std::memory_order_acquire) : nullptr;
    next[i] = finish(w, node, v, b[i], m ? m->lookup(dst_of(b[i])) : ~0u);
  }
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      const uint32_t f = fib_of(v.ifs, b[i]);
      const Ip4Mtrie* m = f < kMaxFibs ? g_l3.fib4[f].load() : nullptr;
      NodeTrace t{f, htonl(dst_of(b[i])), m ? m->lookup(dst_of(b[i])) : ~0u, b[i]->next_hop, next[i]};
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
