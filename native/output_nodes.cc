// Engine-owned nodes: interface-output (steers a packet to its tx interface's driver node),
// error-drop (counts the packet's error and frees it) and error-punt (counts and, until a punt
// consumer is attached, frees). Every drop in Quiver ends here, counted by reason.
#include <cstdio>
#include <string>

#include "engine.h"
#include "worker.h"

namespace quiver {
namespace {

enum class OutputNext : uint16_t { Drop, Count };  // driver tx nodes are appended by QUIVER_ARC
enum OutputError : uint32_t { kOutNoInterface, kOutAdminDown };

struct OutputTrace {
  uint32_t tx_if;
  uint16_t next;
};
std::string format_output(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const OutputTrace*>(d);
  return "tx interface " + std::to_string(t->tx_if) + " next " + std::to_string(t->next);
}

template <bool Trace>
uint32_t interface_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const InterfaceTable& t = w.interfaces();
  uint16_t next[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    const uint32_t tx = b->tx_if;
    if (__builtin_expect(tx < kMaxInterfaces && t.entry[tx].valid && t.entry[tx].admin_up, 1)) {
      next[i] = t.entry[tx].tx_next;
    } else {
      next[i] = uint16_t(OutputNext::Drop);
      b->error = node.error_code(tx < kMaxInterfaces && t.entry[tx].valid ? kOutAdminDown : kOutNoInterface);
    }
    if constexpr (Trace) {
      OutputTrace tr{tx, next[i]};
      w.trace(node, b, &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(interface_output, {
  .name = "interface-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(interface_output),
  .next_nodes = {"error-drop"},
  .errors = {{"no-interface", "tx interface does not exist", Severity::Error},
             {"admin-down", "tx interface is administratively down", Severity::Error}},
  .format_trace = format_output,
});

struct DropTrace {
  uint16_t error;
};
std::string format_drop(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const DropTrace*>(d);
  const Graph& g = Engine::get().graph();
  if (t->error < g.errors().size()) {
    const auto& ref = g.errors()[t->error];
    const auto& n = g.nodes()[ref.node];
    return n.name + ": " + n.reg->errors[ref.local].text;
  }
  return "error " + std::to_string(t->error);
}

// Counts per error and per rx interface, then frees the whole vector in one call.
template <bool Trace>
uint32_t error_drop(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    w.count_error_global(b->error);
    if (b->rx_if < kMaxInterfaces) w.count_if(b->rx_if, kIfDrops, 1);
    if constexpr (Trace) {
      DropTrace tr{b->error};
      w.trace(node, b, &tr, sizeof tr);
    }
  }
  w.free(bi, n);
  return n;
}

QUIVER_NODE(error_drop, {
  .name = "error-drop",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(error_drop),
  .next_nodes = {},
  .errors = {{"unspecified", "dropped without a reason", Severity::Error}},
  .format_trace = format_drop,
});

template <bool Trace>
uint32_t error_punt(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    w.count_error_global(b->error);
    if (b->rx_if < kMaxInterfaces) w.count_if(b->rx_if, kIfPunts, 1);
    if constexpr (Trace) {
      DropTrace tr{b->error};
      w.trace(node, b, &tr, sizeof tr);
    }
  }
  w.free(bi, n);
  return n;
}

QUIVER_NODE(error_punt, {
  .name = "error-punt",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(error_punt),
  .next_nodes = {},
  .errors = {},
  .format_trace = format_drop,
});

}  // namespace
}  // namespace quiver
