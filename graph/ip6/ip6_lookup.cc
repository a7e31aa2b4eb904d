// ip6-lookup: longest-prefix match of the destination in the IPv6 FIB of the packet's table
// (per-length hash probes, longest first), then the load-balance set (flow hash when it has
// several paths) to an adjacency whose kind decides the next node. A locally originated packet
// to a link-local destination never consults the FIB: it leaves on the interface that
// originated it (neighbor discovery there).
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/ip6_fib.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextRewrite, kNextDiscover, kNextLocal, kNextIcmpError };
enum Error : uint32_t { kErrBlackhole, kErrMulticast, kErrBroadcast, kErrUnresolved, kErrReserved, kErrNoRoute, kErrNoTable };
static_assert(uint32_t(kErrNoRoute) == uint32_t(kDropReasons));

struct NodeTrace {
  uint32_t fib;
  uint8_t dst[16];
  uint32_t lb, adj;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char x[INET6_ADDRSTRLEN], b[200];
  inet_ntop(AF_INET6, t->dst, x, sizeof x);
  snprintf(b, sizeof b, "fib %u dst %s load-balance %u adjacency %u next %u", t->fib, x, t->lb, t->adj, t->next);
  return b;
}

inline uint16_t lookup(Worker& w, NodeRuntime& node, const L3View& v, Buffer* b, uint32_t* lb_out) {
  const auto* ip = reinterpret_cast<const Ip6Header*>(b->data());
  uint32_t fib;
  if (__builtin_expect(b->rx_if < kMaxInterfaces, 1)) {
    fib = v.ifs->entry[b->rx_if].fib6;
  } else {
    const IpOpaque& o = ip_opaque(b);
    fib = o.fib_index;
    if (ip6_is_link_local(ip->dst) && o.origin_if < kMaxInterfaces && v.ifs->entry[o.origin_if].glean6 != ~0u) {
      b->next_hop = v.ifs->entry[o.origin_if].glean6;
      *lb_out = ~0u;
      return kNextDiscover;
    }
  }
  const Ip6Fib* f = fib < kMaxFibs ? g_l3.fib6[fib].load(std::memory_order_acquire) : nullptr;
  const uint32_t lbi = f ? f->lookup(IpAddr::be64(ip->dst), IpAddr::be64(ip->dst + 8)) : ~0u;
  *lb_out = lbi;
  if (__builtin_expect(lbi >= v.lbs->count, 0)) {
    b->error = node.error_code(kErrNoTable);
    return kNextDrop;
  }
  const LoadBalance& lb = v.lbs->lb[lbi];
  uint32_t ai = lb.bucket[0];
  if (__builtin_expect(lb.n_paths > 1, 0)) {
    b->flow_hash = flow_hash_ip6(ip, sizeof(Ip6Header), ip->next_header, lb.symmetric, b->length);
    ai = lb.pick(b->flow_hash);
  }
  const Adjacency& a = v.adjs->adj[ai];
  b->next_hop = ai;
  switch (a.kind) {
    case AdjKind::Rewrite: return kNextRewrite;
    case AdjKind::Glean:
    case AdjKind::Incomplete: return kNextDiscover;
    case AdjKind::Local: return kNextLocal;
    case AdjKind::Unreachable: {
      IpOpaque& o = ip_opaque(b);
      o.icmp_type = kIcmp6Unreachable;
      o.icmp_code = kIcmp6NoRoute;
      o.icmp_data = 0;
      w.count_error(node, kErrNoRoute);
      return kNextIcmpError;
    }
    case AdjKind::Drop: break;
  }
  b->error = node.error_code(a.drop_reason);
  return kNextDrop;
}

template <bool Trace>
uint32_t ip6_lookup(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const L3View v = L3View::get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t lb[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = lookup(w, node, v, b[i], &lb[i]);
    next[i + 1] = lookup(w, node, v, b[i + 1], &lb[i + 1]);
    next[i + 2] = lookup(w, node, v, b[i + 2], &lb[i + 2]);
    next[i + 3] = lookup(w, node, v, b[i + 3], &lb[i + 3]);
  }
  for (; i < n; ++i) next[i] = lookup(w, node, v, b[i], &lb[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{};
      t.fib = b[i]->rx_if < kMaxInterfaces ? v.ifs->entry[b[i]->rx_if].fib6 : ip_opaque(b[i]).fib_index;
      std::memcpy(t.dst, reinterpret_cast<const Ip6Header*>(b[i]->data())->dst, 16);
      t.lb = lb[i];
      t.adj = b[i]->next_hop;
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip6_lookup, {
  .name = "ip6-lookup",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_lookup),
  .next_nodes = {"error-drop", "ip6-rewrite", "ip6-discover-neighbor", "ip6-local", "ip6-icmp-error"},
  .errors = {{"blackhole", "route drops (blackhole)", Severity::Info},
             {"multicast", "multicast destination (no multicast routing)", Severity::Info},
             {"broadcast", "broadcast destination", Severity::Info},
             {"unresolved", "route's next hop does not resolve", Severity::Error},
             {"reserved", "destination in reserved space", Severity::Error},
             {"no-route", "no route: ICMPv6 unreachable sent", Severity::Info},
             {"no-table", "packet's table does not exist", Severity::Error}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
