// l2-output: exit from a bridge domain (or an L2 cross-connect of a sub-interface). Applies
// the tx interface's egress tag rewrite (the inverse of its ingress one) and starts the
// "l2-output-features" arc (output ACLs and other features by tx interface), which ends in
// interface-output. Features therefore see the frame as it will be on the wire.
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "l2.h"
#include "l2_vtr.h"

namespace quiver {
namespace l2 {

QUIVER_FEATURE_ARC(l2_out, "l2-output-features", "l2-output", "interface-output", true);

namespace {

enum OutNext : uint16_t { kOutDrop };  // the arc adds interface-output and the features
enum OutError : uint32_t { kOutRewriteFailed, kOutStopped };

FeatureArcRef g_output_arc("l2-output-features");

struct OutTrace {
  uint32_t tx_if;
  uint8_t rewrite;
  uint8_t dropped;
};
std::string format_out(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const OutTrace*>(d);
  char b[96];
  snprintf(b, sizeof b, "tx %u%s%s", t->tx_if, t->rewrite ? " tag-rewrite" : "", t->dropped ? " dropped" : "");
  return b;
}

inline uint16_t leave(NodeRuntime& node, const L2IfTable& ifs, const ArcStart& arc, Buffer* b) {
  const TagOp& op = ifs.entry[b->tx_if].out;
  if (__builtin_expect(op.active(), 0) && !apply_tag_op(b, op)) {
    b->error = node.error_code(kOutRewriteFailed);
    return kOutDrop;
  }
  return arc.next(b->tx_if);
}

template <bool Trace>
uint32_t l2_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  L2Runtime* rt = runtime();
  if (__builtin_expect(!rt, 0)) {
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kOutStopped);
    w.enqueue(node, kOutDrop, bi, n);
    return n;
  }
  const L2IfTable& ifs = *rt->ifs.get();
  const ArcStart arc(g_output_arc.get());
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    __builtin_prefetch(b[i + 4]);
    __builtin_prefetch(b[i + 5]);
    __builtin_prefetch(b[i + 6]);
    __builtin_prefetch(b[i + 7]);
    next[i] = leave(node, ifs, arc, b[i]);
    next[i + 1] = leave(node, ifs, arc, b[i + 1]);
    next[i + 2] = leave(node, ifs, arc, b[i + 2]);
    next[i + 3] = leave(node, ifs, arc, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = leave(node, ifs, arc, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      OutTrace t{b[i]->tx_if, ifs.entry[b[i]->tx_if].out.active(), next[i] == kOutDrop};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(l2_output, {
  .name = "l2-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(l2_output),
  .next_nodes = {"error-drop"},
  .errors = {{"tag-rewrite-failed", "egress tag rewrite: frame lacks the tags to pop or headroom to push", Severity::Error},
             {"stopped", "l2 runtime is being torn down", Severity::Error}},
  .format_trace = format_out,
});

}  // namespace
}  // namespace l2
}  // namespace quiver
