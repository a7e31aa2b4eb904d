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

inline uint16_t finish(Worker& w, NodeRuntime& node, const L3View& v, Buffer* b, uint32_t lbi) {
  if (__builtin_expect(lbi >= v.lbs->count, 0)) {
    b->error = node.error_code(kErrNoTable);
    return kNextDrop;
  }
  const LoadBalance& lb = v.lbs->lb[lbi];
  uint32_t ai = lb.bucket[0];
  if (__builtin_expect(lb.n_paths > 1, 0)) {
    const auto* ip = reinterpret_cast<const Ip6Header*>(b->data());
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

constexpr uint32_t kNoLength = 0xff;
constexpr uint32_t kDecided = ~0u - 1;  // next already chosen (link-local egress)

// Staged over the whole vector, like ip4-lookup: every packet's band masks are asked for
// first, then each packet's longest candidate slot, then the probes, so the misses overlap.
template <bool Trace>
uint32_t ip6_lookup(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const L3View v = L3View::get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t lb[kFrameSize], first[kFrameSize], fibs[kFrameSize];
  uint64_t hi[kFrameSize], lo[kFrameSize];
  const Ip6Fib* fib[kFrameSize];
  const Ip6Fib::Array* arr[kFrameSize];
  Ip6Fib::Candidates cand[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t last_fib = ~0u;
  const Ip6Fib* last = nullptr;
  const Ip6Fib::Array* last_arr = nullptr;
  for (uint32_t i = 0; i < n; ++i) {
    if (i + 8 < n) {
      __builtin_prefetch(b[i + 8]);
      __builtin_prefetch(b[i + 8]->data() + 24);
    }
    const auto* ip = reinterpret_cast<const Ip6Header*>(b[i]->data());
    uint32_t f;
    lb[i] = ~0u;
    if (__builtin_expect(b[i]->rx_if < kMaxInterfaces, 1)) {
      f = v.ifs->entry[b[i]->rx_if].fib6;
    } else {
      const IpOpaque& o = ip_opaque(b[i]);
      f = o.fib_index;
      if (ip6_is_link_local(ip->dst) && o.origin_if < kMaxInterfaces && v.ifs->entry[o.origin_if].glean6 != ~0u) {
        b[i]->next_hop = v.ifs->entry[o.origin_if].glean6;  // leaves where it was originated
        lb[i] = kDecided;
      }
    }
    fibs[i] = f;
    if (__builtin_expect(f != last_fib, 0)) {
      last_fib = f;
      last = f < kMaxFibs ? g_l3.fib6[f].load(std::memory_order_acquire) : nullptr;
      last_arr = last ? last->array() : nullptr;
    }
    fib[i] = last;
    arr[i] = last_arr;
    hi[i] = IpAddr::be64(ip->dst);
    lo[i] = IpAddr::be64(ip->dst + 8);
    if (last && lb[i] == ~0u) Ip6Fib::prefetch_bands(last_arr, hi[i]);
  }
  for (uint32_t i = 0; i < n; ++i) {
    first[i] = kNoLength;
    if (!fib[i] || lb[i] != ~0u) continue;
    cand[i] = fib[i]->candidates(arr[i], hi[i]);
    // Every candidate's slot is asked for now (a short prefix comes after several misses).
    Ip6Fib::Candidates rest = cand[i];
    uint32_t len;
    for (int k = 0; k < 6 && rest.next(&len); ++k) __builtin_prefetch(Ip6Fib::first_slot(arr[i], hi[i], lo[i], len));
    cand[i].next(&first[i]);
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (!fib[i] || lb[i] != ~0u) continue;
    uint32_t r = first[i] == kNoLength ? ~0u : Ip6Fib::probe(arr[i], hi[i], lo[i], first[i]);
    if (r == ~0u) r = fib[i]->resolve(arr[i], hi[i], lo[i], cand[i]);
    lb[i] = r;
  }
  for (uint32_t i = 0; i < n; ++i) next[i] = lb[i] == kDecided ? uint16_t(kNextDiscover) : finish(w, node, v, b[i], lb[i]);
  if constexpr (Trace) {
    for (uint32_t i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{};
      t.fib = fibs[i];
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
