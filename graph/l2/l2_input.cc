// l2-input: entry to a bridge domain (and to the L2 path of cross-connected sub-interfaces).
// Tags the buffer with its bridge domain, applies the rx interface's ingress tag rewrite and
// starts the "l2-input-features" arc (ACLs and other input features by rx interface), whose
// end is l2-fwd.
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "l2.h"
#include "l2_vtr.h"

namespace quiver {
namespace l2 {

QUIVER_FEATURE_ARC(l2_in, "l2-input-features", "l2-input", "l2-fwd", false);

namespace {

enum InNext : uint16_t { kInDrop };  // the arc adds l2-fwd and the features
enum InError : uint32_t { kInNotMember, kInRewriteFailed, kInStopped };

FeatureArcRef g_input_arc("l2-input-features");

struct InTrace {
  uint32_t rx_if;
  uint16_t bd;
  uint8_t rewrite;
  uint8_t dropped;
};
std::string format_in(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const InTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "rx %u bridge-domain index %u%s%s", t->rx_if, t->bd, t->rewrite ? " tag-rewrite" : "",
           t->dropped ? " dropped" : "");
  return b;
}

struct InCtx {
  NodeRuntime& node;
  const L2IfTable& ifs;
  const InterfaceTable& it;
  ArcStart arc;
};

inline uint16_t enter(InCtx& c, Buffer* b) {
  const L2If& l2 = c.ifs.entry[b->rx_if];
  if (__builtin_expect(!(l2.flags & kL2Member), 0) && c.it.entry[b->rx_if].mode != IfMode::XConnect) {
    b->error = c.node.error_code(kInNotMember);
    return kInDrop;
  }
  if (__builtin_expect(l2.in.active(), 0) && !apply_tag_op(b, l2.in)) {
    b->error = c.node.error_code(kInRewriteFailed);
    return kInDrop;
  }
  b->l2_bridge = l2.bd;
  return c.arc.next(b->rx_if);
}

template <bool Trace>
uint32_t l2_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  L2Runtime* rt = runtime();
  if (__builtin_expect(!rt, 0)) {
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kInStopped);
    w.enqueue(node, kInDrop, bi, n);
    return n;
  }
  InCtx c{node, *rt->ifs.get(), w.interfaces(), ArcStart(g_input_arc.get())};
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = enter(c, b[i]);
    next[i + 1] = enter(c, b[i + 1]);
    next[i + 2] = enter(c, b[i + 2]);
    next[i + 3] = enter(c, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = enter(c, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      InTrace t{b[i]->rx_if, uint16_t(b[i]->l2_bridge), c.ifs.entry[b[i]->rx_if].in.active(), next[i] == kInDrop};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(l2_input, {
  .name = "l2-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(l2_input),
  .next_nodes = {"error-drop"},
  .errors = {{"not-a-member", "rx interface is not in a bridge domain", Severity::Error},
             {"tag-rewrite-failed", "ingress tag rewrite: frame lacks the tags to pop or headroom to push", Severity::Error},
             {"stopped", "l2 runtime is being torn down", Severity::Error}},
  .format_trace = format_in,
});

}  // namespace
}  // namespace l2
}  // namespace quiver
