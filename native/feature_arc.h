// Feature arcs (DESIGN §2): per-interface ordered feature lists, so a feature such as an
// input ACL is enabled on one interface without every packet of every interface testing a
// flag. An arc has a start node (which calls start_next() instead of going straight to its
// usual next), features ordered by `order`, and an end node. Per interface a bitmask says
// which features are on; a packet walks the set bits in order, then reaches the end node.
//
// Declared statically, like nodes:
//   QUIVER_FEATURE_ARC(ip4_unicast, "ip4-unicast", "ip4-input", "ip4-lookup", /*by_tx=*/false);
//   QUIVER_ARC_FEATURE(acl_in4, "ip4-unicast", "acl-ip4-in", 100);
// The graph gets the needed next arcs at build time (start -> every feature and the end;
// each feature -> every later feature and the end).
//
// Packet path:
//   static FeatureArcRef arc("ip4-unicast");          // resolved at engine start
//   next[i] = arc->start_next(node, b);               // in the start node
//   next[i] = arc->next(node, b);                     // in a feature node, when it lets b pass
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "buffer.h"
#include "epoch.h"
#include "interface.h"

namespace quiver {

struct NodeRuntime;
constexpr uint32_t kMaxArcFeatures = 32;

struct ArcDecl {
  const char* name;
  const char* start_node;
  const char* end_node;
  bool by_tx;  // which interface selects the feature list: tx (output arcs) or rx
};
struct ArcFeatureDecl {
  const char* arc;
  const char* node;
  int order;  // lower runs first
};
struct ExtraArc;
std::vector<ArcDecl>& arc_decl_registry();
// Graph::build calls this to add the next arcs every arc needs.
void add_feature_arc_nexts(std::vector<ExtraArc>& extra);
std::vector<ArcFeatureDecl>& arc_feature_registry();
struct ArcDeclRegistrar {
  explicit ArcDeclRegistrar(ArcDecl d) { arc_decl_registry().push_back(d); }
};
struct ArcFeatureRegistrar {
  explicit ArcFeatureRegistrar(ArcFeatureDecl d) { arc_feature_registry().push_back(d); }
};
#define QUIVER_FEATURE_ARC(id, name, start, end, by_tx) \
  static ::quiver::ArcDeclRegistrar QUIVER_CONCAT(arc_decl_, id)({name, start, end, by_tx})
#define QUIVER_ARC_FEATURE(id, arc, node, order) \
  static ::quiver::ArcFeatureRegistrar QUIVER_CONCAT(arc_feature_, id)({arc, node, order})

struct ArcMasks {
  uint32_t mask[kMaxInterfaces] = {};
};

class FeatureArc {
 public:
  std::string name;
  uint16_t start_node = 0;
  uint16_t end_node = 0;
  bool by_tx = false;
  std::vector<uint16_t> features;  // node indices, in order
  // next_of[p][t]: next index, in participant p's next list, of target t. Participant 0 is the
  // start node, p = i + 1 is feature i. Target t < k is feature t; t == k is the end node.
  std::vector<std::vector<uint16_t>> next_of;
  std::vector<int> position_of_node;  // node index -> participant (-1: not on this arc)
  Published<ArcMasks> masks;

  uint32_t if_of(const Buffer* b) const { return by_tx ? b->tx_if : b->rx_if; }
  bool enabled_on(uint32_t if_index) const { return masks.get()->mask[if_index] != 0; }

  // Start node: the first enabled feature, or the end node.
  uint16_t start_next(const NodeRuntime& node, Buffer* b) const {
    const uint32_t m = masks.get()->mask[if_of(b)];
    const uint32_t k = uint32_t(features.size());
    const uint32_t t = m ? uint32_t(__builtin_ctz(m)) : k;
    (void)node;
    return next_of[0][t];
  }
  // Feature node: the next enabled feature after this one, or the end node.
  uint16_t next(const NodeRuntime& node, Buffer* b) const;

  bool has_features() const { return !features.empty(); }
};

// Built by the engine at start from the registries; empty before.
std::deque<FeatureArc>& feature_arcs();  // deque: arcs hold atomics and never move
FeatureArc* find_feature_arc(const std::string& name);
// Builds arcs after the graph (adds no nexts: Graph::build adds those from the registries).
void build_feature_arcs(class Engine& engine);

// A handle a node keeps in a static: resolved on every engine start.
class FeatureArcRef {
 public:
  explicit FeatureArcRef(const char* name);
  FeatureArc* operator->() const { return arc_; }
  FeatureArc* get() const { return arc_; }
  const char* name() const { return name_; }
  void resolve() { arc_ = find_feature_arc(name_); }

 private:
  const char* name_;
  FeatureArc* arc_ = nullptr;
};

}  // namespace quiver
