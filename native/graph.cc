#include "graph.h"

#include "feature_arc.h"

#include <cstring>
#include <stdexcept>

namespace quiver {

void Graph::build() {
  nodes_.clear();
  by_name_.clear();
  errors_.clear();
  auto& all = node_registry();
  if (all.size() >= 0xffff) throw std::runtime_error("graph: too many nodes");
  // error-drop is node 0 so that error index 0 (a zeroed buffer) means "unspecified".
  std::vector<const NodeRegistration*> reg;
  for (const auto& r : all)
    if (r.name && std::strcmp(r.name, "error-drop") == 0) reg.push_back(&r);
  for (const auto& r : all)
    if (!r.name || std::strcmp(r.name, "error-drop") != 0) reg.push_back(&r);
  for (const auto* rp : reg) {
    const auto& r = *rp;
    if (!r.name || !r.dispatch) throw std::runtime_error("graph: a node is registered without name or dispatch");
    if (by_name_.count(r.name)) throw std::runtime_error(std::string("graph: node '") + r.name + "' registered twice");
    NodeInfo n;
    n.index = uint16_t(nodes_.size());
    n.reg = &r;
    n.name = r.name;
    for (auto* nx : r.next_nodes) n.next_name.push_back(nx);
    by_name_[r.name] = n.index;
    nodes_.push_back(std::move(n));
  }
  std::vector<ExtraArc> extra = extra_arc_registry();
  add_feature_arc_nexts(extra);
  for (const auto& a : extra) {
    auto it = by_name_.find(a.from);
    if (it == by_name_.end()) continue;  // the parent feature is not compiled in
    auto& names = nodes_[it->second].next_name;
    bool present = false;
    for (auto& s : names) present |= s == a.to;
    if (!present) names.push_back(a.to);
  }
  // After every extra arc: interface-output's next list is complete.
  auto out = by_name_.find("interface-output");
  for (auto& n : nodes_) {
    if (!n.reg->tx_direct) continue;
    if (out == by_name_.end()) throw std::runtime_error("graph: node '" + n.name + "' is tx_direct but interface-output is missing");
    const auto& tx = nodes_[out->second].next_name;
    if (tx.empty() || tx[0] != "error-drop") throw std::runtime_error("graph: interface-output's next 0 must be error-drop");
    n.tx_base = uint16_t(n.next_name.size());
    n.next_name.insert(n.next_name.end(), tx.begin() + 1, tx.end());
  }
  auto drop = by_name_.find("error-drop");
  if (drop == by_name_.end()) throw std::runtime_error("graph: error-drop node is missing");
  drop_node_ = drop->second;
  n_errors_ = 0;
  n_arcs_ = 0;
  for (auto& n : nodes_) {
    n.error_base = n_errors_;
    for (uint16_t e = 0; e < n.reg->errors.size(); ++e) errors_.push_back({n.index, e});
    n_errors_ += uint32_t(n.reg->errors.size());
    n.arc_base = n_arcs_;
    n_arcs_ += uint32_t(n.next_name.size());
    for (auto& s : n.next_name) {
      auto it = by_name_.find(s);
      n.next_node.push_back(it == by_name_.end() ? drop_node_ : it->second);
      n.next_resolved.push_back(it != by_name_.end());
    }
  }
  if (n_errors_ > 0xffff) throw std::runtime_error("graph: too many error counters");
}

int Graph::next_index(const std::string& from, const std::string& to) const {
  const NodeInfo* n = find(from);
  if (!n) return -1;
  for (size_t i = 0; i < n->next_name.size(); ++i)
    if (n->next_name[i] == to) return int(i);
  return -1;
}

uint16_t Graph::error_index(const std::string& node, const std::string& error) const {
  const NodeInfo* n = find(node);
  if (!n) throw std::runtime_error("graph: no node '" + node + "'");
  for (size_t i = 0; i < n->reg->errors.size(); ++i)
    if (error == n->reg->errors[i].name) return uint16_t(n->error_base + i);
  throw std::runtime_error("graph: node '" + node + "' has no error '" + error + "'");
}

}  // namespace quiver
