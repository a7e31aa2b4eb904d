// l2-fwd: MAC learning and forwarding in one pass (VPP's l2-learn + l2-fwd): the end of the
// "l2-input-features" arc.
//
// Two loops over the vector: the first computes both MAC table keys of every packet and
// their home buckets, the second prefetches those buckets a few packets ahead and looks them up:
// * source: a hit on the rx interface marks the entry seen (aging); a miss or another
//   interface learns (inline on worker 0, the table's writer; a queued event elsewhere).
// * destination: broadcast/multicast and unknown unicast go to l2-flood when the bridge
//   domain floods them; a hit goes to l2-output (or up to L3 when it is the BVI's MAC),
//   unless it would leave where it came from or into the rx interface's split-horizon group.
//   A tx interface with no egress tag rewrite and no l2-output feature on skips l2-output
//   and interface-output (which would only hand the frame on) and goes straight to the
//   interface's tx node (tx_direct; interface-output when it is down, which counts the drop).
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "l2.h"

namespace quiver {
namespace l2 {
namespace {

enum FwdNext : uint16_t { kNextDrop, kNextOutput, kNextFlood, kNextBvi, kNextInterfaceOutput };

FeatureArcRef g_output_arc("l2-output-features");

struct FwdTrace {
  uint8_t dst[6], src[6];
  uint32_t rx_if, tx_if;
  uint16_t bd;
  uint16_t next;
};
std::string format_fwd(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const FwdTrace*>(d);
  // Nexts from tx_base on are interfaces' tx nodes: name them as the graph does.
  const NodeInfo* self = Engine::get().graph().find("l2-fwd");
  const char* next = self && t->next < self->next_name.size() ? self->next_name[t->next].c_str() : "?";
  char b[240];
  snprintf(b, sizeof b, "bd index %u %02x:%02x:%02x:%02x:%02x:%02x -> %02x:%02x:%02x:%02x:%02x:%02x rx %u -> %s tx %d", t->bd,
           t->src[0], t->src[1], t->src[2], t->src[3], t->src[4], t->src[5], t->dst[0], t->dst[1], t->dst[2], t->dst[3],
           t->dst[4], t->dst[5], t->rx_if, next,
           t->next == kNextOutput || t->next == kNextBvi || t->next >= kNextInterfaceOutput ? int(t->tx_if) : -1);
  return b;
}

struct FwdCtx {
  Worker& w;
  NodeRuntime& node;
  L2Runtime& rt;
  const BdTable& bds;
  const L2IfTable& ifs;
  const InterfaceTable& it;
  const MacLayout& fib;  // the table's layout for this vector (learning may grow the table)
  const uint32_t* out_features;  // l2-output-features masks by tx interface
  LearnQueue& queue;
  bool writer;
  uint32_t now;
  // The last source seen on its own interface and the last destination found: consecutive
  // packets of one flow skip the table (VPP's cached key). Reset when this worker learns.
  uint64_t seen_src = ~0ull;
  uint32_t seen_src_rx = kInvalidIf;
  uint64_t found_dst = ~0ull;
  uint32_t found_dst_value = 0;
};

// Hands a learn event to worker 0, once per station and interface between two drains.
inline void queue_learn(FwdCtx& c, uint64_t key, uint32_t rx) {
  LearnQueue& q = c.queue;
  const uint32_t h = uint32_t((key * 0x9e3779b97f4a7c15ull) >> 58);
  const uint32_t drains = q.drains.load(std::memory_order_relaxed);
  if (q.recent_key[h] == key && q.recent_if[h] == rx && q.recent_drain[h] == drains) return;
  const uint32_t tail = q.tail.load(std::memory_order_relaxed);
  if (tail - q.head.load(std::memory_order_acquire) >= LearnQueue::kSize) {
    c.w.count_error(c.node, kFwdQueueFull);
    return;
  }
  q.ev[tail & (LearnQueue::kSize - 1)] = LearnEvent{key, rx, 0};
  q.tail.store(tail + 1, std::memory_order_release);
  q.recent_key[h] = key;
  q.recent_if[h] = rx;
  q.recent_drain[h] = drains;
}

// A source that is not (or no longer) where the table says: learn or move it.
__attribute__((noinline)) void learn_slow(FwdCtx& c, uint64_t ks, uint32_t rx, uint32_t v) {
  if (v & kFibStatic) {
    c.w.count_error(c.node, kFwdStaticMove);
    return;
  }
  if (c.writer) {
    const int e = learn_on_writer(c.rt, c.bds, c.ifs, ks, rx, c.now);
    if (e >= 0) c.w.count_error(c.node, uint32_t(e));
    c.found_dst = ~0ull;  // the table changed
  } else {
    queue_learn(c, ks, rx);
  }
}

__attribute__((always_inline)) inline void learn_source(FwdCtx& c, const uint8_t* d, FibBucket* home, uint64_t ks, uint32_t rx) {
  if (ks == c.seen_src && rx == c.seen_src_rx) return;
  if (__builtin_expect(d[6] & 1, 0)) return;  // a multicast source is never a station
  FibBucket* fb;
  uint32_t slot;
  const uint32_t v = c.fib.lookup_from(home, ks, &fb, &slot);
  if (__builtin_expect(v && (v & kFibIfMask) == rx, 1)) {
    MacTable::touch(fb, slot);
    c.seen_src = ks;
    c.seen_src_rx = rx;
    return;
  }
  learn_slow(c, ks, rx, v);
}

inline uint16_t drop(FwdCtx& c, Buffer* b, FwdError e) {
  b->error = c.node.error_code(e);
  return kNextDrop;
}

// A cross-connected sub-interface: its ingress rewrite is done, it leaves through l2-output.
__attribute__((noinline)) uint16_t xconnect(FwdCtx& c, Buffer* b) {
  const IfRuntime& r = c.it.entry[b->rx_if];
  if (r.mode != IfMode::XConnect || r.xconnect_peer >= kMaxInterfaces) return drop(c, b, kFwdNotConnected);
  b->tx_if = r.xconnect_peer;
  return kNextOutput;
}

__attribute__((always_inline)) inline uint16_t forward(FwdCtx& c, Buffer* b, uint64_t kd, uint64_t ks, FibBucket* hd,
                                                       FibBucket* hs) {
  const uint32_t bd = b->l2_bridge;
  const uint32_t rx = b->rx_if;
  if (__builtin_expect(bd == 0, 0)) return xconnect(c, b);
  const BdRuntime& bdr = c.bds.bd[bd];
  if (__builtin_expect(!bdr.valid, 0)) return drop(c, b, kFwdNoBridge);
  const L2If& in = c.ifs.entry[rx];
  const uint8_t* d = b->data();
  if (bdr.learn && (in.flags & kL2Learn)) learn_source(c, d, hs, ks, rx);
  if (d[0] & 1) return bdr.flood ? uint16_t(kNextFlood) : drop(c, b, kFwdFloodOff);
  if (__builtin_expect(!bdr.forward, 0)) return drop(c, b, kFwdForwardOff);
  uint32_t v = c.found_dst_value;
  if (kd != c.found_dst) {
    FibBucket* fb;
    uint32_t slot;
    v = c.fib.lookup_from(hd, kd, &fb, &slot);
    if (!v) return bdr.uu_flood ? uint16_t(kNextFlood) : drop(c, b, kFwdUuFloodOff);
    c.found_dst = kd;
    c.found_dst_value = v;
  }
  const uint32_t tx = v & kFibIfMask;
  if (__builtin_expect(tx == rx, 0)) return drop(c, b, kFwdReflected);
  if (__builtin_expect(in.shg != 0, 0) && c.ifs.entry[tx].shg == in.shg) return drop(c, b, kFwdSplitHorizon);
  b->tx_if = tx;
  if (__builtin_expect(v & kFibBvi, 0)) return kNextBvi;
  return c.ifs.entry[tx].out.active() || c.out_features[tx] ? uint16_t(kNextOutput) : c.node.tx_next(c.it.entry[tx], kNextInterfaceOutput);
}

template <bool Trace>
uint32_t l2_fwd(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  uint64_t kd[kFrameSize], ks[kFrameSize];
  FibBucket* hd[kFrameSize];
  FibBucket* hs[kFrameSize];
  w.buffers(bi, b, n);
  L2Runtime* rt = runtime();
  if (__builtin_expect(!rt, 0)) {
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kFwdNoBridge);
    w.enqueue(node, kNextDrop, bi, n);
    return n;
  }
  const bool writer = w.id() == 0;
  FwdCtx c{w, node, *rt, *rt->bds.get(), *rt->ifs.get(), w.interfaces(), *rt->fib.layout(), g_output_arc->masks.get()->mask,
           rt->queues[w.id()], writer, writer ? fib_now(*rt, w.now_tsc()) : 0};
  // Keys and home buckets for the whole vector first; then the lookups, each kAhead packets
  // behind the prefetch of its buckets. A big table misses the cache on most lookups: a
  // steady kAhead packets' misses in flight overlap them, where prefetching the whole vector
  // at once asked for more lines than the core can have outstanding (measured: at 200k MACs
  // l2-fwd took 45-70 clocks/packet this way, 60-170 prefetching everything up front).
  constexpr uint32_t kAhead = 16;
  uint32_t i = 0;
  for (; i < n; ++i) {
    if (i + 4 < n) {
      __builtin_prefetch(b[i + 4]);
      __builtin_prefetch(b[i + 4]->data());
    }
    const uint32_t bd = b[i]->l2_bridge;
    const uint8_t* d = b[i]->data();
    kd[i] = MacTable::key_in_frame(bd, d);
    ks[i] = MacTable::key_in_frame(bd, d + 6);
    hd[i] = c.fib.home_bucket(kd[i]);
    hs[i] = c.fib.home_bucket(ks[i]);
    if (i < kAhead) {
      __builtin_prefetch(hd[i]);
      __builtin_prefetch(hs[i]);
    }
  }
  for (i = 0; i + 4 <= n; i += 4) {
    for (uint32_t k = i + kAhead; k < i + kAhead + 4 && k < n; ++k) {
      __builtin_prefetch(hd[k]);
      __builtin_prefetch(hs[k]);
    }
    next[i] = forward(c, b[i], kd[i], ks[i], hd[i], hs[i]);
    next[i + 1] = forward(c, b[i + 1], kd[i + 1], ks[i + 1], hd[i + 1], hs[i + 1]);
    next[i + 2] = forward(c, b[i + 2], kd[i + 2], ks[i + 2], hd[i + 2], hs[i + 2]);
    next[i + 3] = forward(c, b[i + 3], kd[i + 3], ks[i + 3], hd[i + 3], hs[i + 3]);
  }
  for (; i < n; ++i) next[i] = forward(c, b[i], kd[i], ks[i], hd[i], hs[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      FwdTrace t{};
      std::memcpy(t.dst, b[i]->data(), 6);
      std::memcpy(t.src, b[i]->data() + 6, 6);
      t.rx_if = b[i]->rx_if;
      t.tx_if = b[i]->tx_if;
      t.bd = uint16_t(b[i]->l2_bridge);
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(l2_fwd, {
  .name = "l2-fwd",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(l2_fwd),
  .next_nodes = {"error-drop", "l2-output", "l2-flood", "bvi-input", "interface-output"},
  .errors = {{"no-bridge-domain", "bridge domain was deleted", Severity::Error},
             {"forward-disabled", "unicast forwarding is off in this bridge domain", Severity::Info},
             {"flood-disabled", "broadcast/multicast flooding is off in this bridge domain", Severity::Info},
             {"uu-flood-disabled", "unknown unicast flooding is off in this bridge domain", Severity::Info},
             {"reflected", "destination MAC is behind the rx interface", Severity::Info},
             {"split-horizon", "destination is in the rx interface's split-horizon group", Severity::Info},
             {"not-connected", "cross-connected sub-interface has no peer", Severity::Error},
             {"mac-learned", "MAC addresses learned", Severity::Info},
             {"mac-move", "stations seen on a new interface (entry moved)", Severity::Info},
             {"mac-limit", "MACs not learned: bridge domain MAC limit reached", Severity::Warning},
             {"table-full", "MACs not learned: MAC table buckets full", Severity::Warning},
             {"static-mac-seen-elsewhere", "static MAC arrived on another interface (entry kept)", Severity::Warning},
             {"learn-queue-full", "learn events lost: queue to the MAC table writer full", Severity::Warning}},
  .format_trace = format_fwd,
  .tx_direct = true,
});

}  // namespace
}  // namespace l2
}  // namespace quiver
