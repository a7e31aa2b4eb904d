// l2-xconnect: every frame received on an interface leaves on the interface it is
// cross-connected to, untouched (VPP's `set interface l2 xconnect`), handed straight to that
// interface's tx node (tx_direct; through interface-output, which drops and counts, when it is
// down).
#include <string>

#include "../../native/engine.h"
#include "../../native/napi/napi.h"
#include "../../native/worker.h"
#include "l2_control.h"

namespace quiver {
namespace {

enum XcNext : uint16_t { kXcOutput, kXcDrop };
enum XcError : uint32_t { kXcNotConnected };

struct XcTrace {
  uint32_t rx_if, tx_if;
};
std::string format_xc(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const XcTrace*>(d);
  return "rx " + std::to_string(t->rx_if) + " -> tx " + std::to_string(t->tx_if);
}

inline uint16_t steer(NodeRuntime& node, const InterfaceTable& t, Buffer* b) {
  const IfRuntime& rt = t.entry[b->rx_if];
  if (__builtin_expect(rt.mode == IfMode::XConnect && rt.xconnect_peer < kMaxInterfaces, 1)) {
    b->tx_if = rt.xconnect_peer;
    return node.tx_next(t.entry[rt.xconnect_peer], kXcOutput);
  }
  b->error = node.error_code(kXcNotConnected);
  return kXcDrop;
}

template <bool Trace>
uint32_t l2_xconnect(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const InterfaceTable& t = w.interfaces();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    __builtin_prefetch(b[i + 4]);
    __builtin_prefetch(b[i + 5]);
    __builtin_prefetch(b[i + 6]);
    __builtin_prefetch(b[i + 7]);
    next[i] = steer(node, t, b[i]);
    next[i + 1] = steer(node, t, b[i + 1]);
    next[i + 2] = steer(node, t, b[i + 2]);
    next[i + 3] = steer(node, t, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = steer(node, t, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      XcTrace tr{b[i]->rx_if, b[i]->tx_if};
      w.trace(node, b[i], &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(l2_xconnect, {
  .name = "l2-xconnect",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(l2_xconnect),
  .next_nodes = {"interface-output", "error-drop"},
  .errors = {{"not-connected", "interface has no cross-connect", Severity::Error}},
  .format_trace = format_xc,
  .tx_direct = true,
});

}  // namespace

// xconnect(rx, tx): frames received on rx leave on tx. One direction, as in VPP; call twice
// for both. xconnect(rx, null) returns rx to L3 mode.
QUIVER_NAPI(xconnect) {
  Engine& e = Engine::get();
  Interface& rx = interface_arg(info[0], "rx");
  if (info.Length() > 1 && (info[1].IsNull() || info[1].IsUndefined())) {
    e.update_runtime(rx.index, [](IfRuntime& r) {
      r.mode = IfMode::L3;
      r.xconnect_peer = 0xffffffffu;
    });
    return info.Env().Undefined();
  }
  Interface& tx = interface_arg(info[1], "tx");
  if (rx.index == tx.index) throw std::runtime_error("tx: cannot cross-connect '" + rx.name + "' to itself");
  if (l2::is_bvi(rx)) throw std::runtime_error("rx: '" + rx.name + "' is a BVI; it receives from its bridge domain");
  l2::bridge_detach(rx.index);  // an interface is in one L2 mode at a time
  e.update_runtime(rx.index, [&](IfRuntime& r) {
    r.mode = IfMode::XConnect;
    r.xconnect_peer = tx.index;
  });
  return info.Env().Undefined();
}

}  // namespace quiver
