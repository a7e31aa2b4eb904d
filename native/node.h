// A node declares itself once: name, type, dispatch function (plain and tracing variants),
// next nodes by name, error counters with text, trace formatter. Registration is static: each
// feature's .cc file holds a QUIVER_NODE record and nothing central needs editing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace quiver {

constexpr uint32_t kFrameSize = 256;  // most buffers a dispatch call receives

class Worker;
struct NodeRuntime;

enum class NodeType : uint8_t { Input, Internal, Process };
enum class Severity : uint8_t { Info, Warning, Error };

struct ErrorDesc {
  const char* name;
  const char* text;
  Severity severity = Severity::Error;
};

// Input nodes are called with n == 0 and produce packets; process nodes are called every
// interval_ns with n == 0. Returns the number of packets handled (vectors for show runtime).
using DispatchFn = uint32_t (*)(Worker& w, NodeRuntime& node, const uint32_t* buffers, uint32_t n);
// Formats the bytes a node recorded with Worker::trace() for one packet.
using TraceFormatFn = std::string (*)(const uint8_t* data, uint32_t len);

struct NodeRegistration {
  const char* name = nullptr;
  NodeType type = NodeType::Internal;
  DispatchFn dispatch = nullptr;
  DispatchFn dispatch_trace = nullptr;  // same function compiled with Trace = true
  std::vector<const char*> next_nodes;  // index i is next i of the node's local enum
  std::vector<ErrorDesc> errors;
  TraceFormatFn format_trace = nullptr;
  uint64_t interval_ns = 0;  // process nodes
  // Process nodes that must run on every worker (per-worker tables); else worker 0 only.
  bool process_on_all_workers = false;
  // Sends packets to interfaces' tx nodes directly, skipping interface-output (as VPP's
  // l2-output and ip4-rewrite do): the graph appends every tx node (interface-output's nexts
  // after error-drop) to this node's nexts, from NodeRuntime::tx_base on.
  bool tx_direct = false;
};

std::vector<NodeRegistration>& node_registry();
// Extra arcs added by a feature to another feature's node, e.g. a driver's tx node as a next
// of interface-output. Returned indices are resolved when the graph is built.
struct ExtraArc {
  const char* from;
  const char* to;
};
std::vector<ExtraArc>& extra_arc_registry();

struct NodeRegistrar {
  explicit NodeRegistrar(NodeRegistration r) { node_registry().push_back(std::move(r)); }
};
struct ArcRegistrar {
  ArcRegistrar(const char* from, const char* to) { extra_arc_registry().push_back({from, to}); }
};

#define QUIVER_CONCAT_(a, b) a##b
#define QUIVER_CONCAT(a, b) QUIVER_CONCAT_(a, b)
// QUIVER_NODE(l2_xconnect, { .name = "l2-xconnect", ... });
#define QUIVER_NODE(id, ...) static ::quiver::NodeRegistrar QUIVER_CONCAT(node_registrar_, id)(::quiver::NodeRegistration __VA_ARGS__)
#define QUIVER_ARC(id, from, to) static ::quiver::ArcRegistrar QUIVER_CONCAT(arc_registrar_, id)(from, to)
// Both variants of a dispatch template: fn<false> and fn<true>.
#define QUIVER_DISPATCH(fn) .dispatch = fn<false>, .dispatch_trace = fn<true>

}  // namespace quiver
