// The graph built from the registry: node indices, next names resolved to node indices, and
// the global numbering of error counters and arcs used by the stats segment.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "node.h"

namespace quiver {

struct NodeInfo {
  uint16_t index = 0;
  const NodeRegistration* reg = nullptr;
  std::string name;
  std::vector<uint16_t> next_node;        // next i -> node index
  std::vector<std::string> next_name;     // as declared (for show graph)
  std::vector<bool> next_resolved;        // false: the named node is not compiled in -> error-drop
  uint32_t error_base = 0;                // global index of errors[0]
  uint32_t arc_base = 0;                  // global arc index of next 0
  uint16_t tx_base = 0;                   // tx_direct nodes: next of interface-output's next 1
};

class Graph {
 public:
  // Throws std::runtime_error naming the node when the registry is inconsistent.
  void build();
  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  const NodeInfo* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &nodes_[it->second];
  }
  int node_index(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? -1 : int(it->second);
  }
  // Next index of `to` in `from`'s next list, or -1.
  int next_index(const std::string& from, const std::string& to) const;
  uint32_t error_count() const { return n_errors_; }
  uint32_t arc_count() const { return n_arcs_; }
  // Error index -> (node, local error)
  struct ErrorRef { uint16_t node; uint16_t local; };
  const std::vector<ErrorRef>& errors() const { return errors_; }
  uint16_t drop_node() const { return drop_node_; }
  // Global error index of a node's named error, or throws.
  uint16_t error_index(const std::string& node, const std::string& error) const;

 private:
  std::vector<NodeInfo> nodes_;
  std::unordered_map<std::string, uint16_t> by_name_;
  std::vector<ErrorRef> errors_;
  uint32_t n_errors_ = 0;
  uint32_t n_arcs_ = 0;
  uint16_t drop_node_ = 0;
};

}  // namespace quiver
