#include "feature_arc.h"

#include <algorithm>
#include <stdexcept>

#include "engine.h"
#include "json.h"
#include "napi/napi.h"
#include "worker.h"

namespace quiver {

std::vector<ArcDecl>& arc_decl_registry() {
  static std::vector<ArcDecl> r;
  return r;
}
std::vector<ArcFeatureDecl>& arc_feature_registry() {
  static std::vector<ArcFeatureDecl> r;
  return r;
}
std::deque<FeatureArc>& feature_arcs() {
  static std::deque<FeatureArc> a;
  return a;
}
static std::vector<FeatureArcRef*>& arc_refs() {
  static std::vector<FeatureArcRef*> r;
  return r;
}

FeatureArcRef::FeatureArcRef(const char* name) : name_(name) { arc_refs().push_back(this); }

FeatureArc* find_feature_arc(const std::string& name) {
  for (auto& a : feature_arcs())
    if (a.name == name) return &a;
  return nullptr;
}

uint16_t FeatureArc::next(const NodeRuntime& node, Buffer* b) const {
  const int p = position_of_node[node.index];
  const uint32_t k = uint32_t(features.size());
  // Features after this one: clear bits 0..p-1 (feature p-1 is this node).
  const uint32_t later = p >= 32 ? 0 : masks.get()->mask[if_of(b)] & ~((1u << p) - 1u);
  const uint32_t t = later ? uint32_t(__builtin_ctz(later)) : k;
  return next_of[size_t(p)][t];
}

// Features of an arc in order; the same order Graph::build used to add next arcs.
static std::vector<ArcFeatureDecl> ordered_features(const char* arc) {
  std::vector<ArcFeatureDecl> f;
  for (auto& d : arc_feature_registry())
    if (std::string(d.arc) == arc) f.push_back(d);
  std::stable_sort(f.begin(), f.end(), [](const ArcFeatureDecl& a, const ArcFeatureDecl& b) { return a.order < b.order; });
  return f;
}

void add_feature_arc_nexts(std::vector<ExtraArc>& extra) {
  for (auto& a : arc_decl_registry()) {
    auto f = ordered_features(a.name);
    for (size_t i = 0; i < f.size(); ++i) {
      extra.push_back({a.start_node, f[i].node});
      for (size_t j = i + 1; j < f.size(); ++j) extra.push_back({f[i].node, f[j].node});
      extra.push_back({f[i].node, a.end_node});
    }
    extra.push_back({a.start_node, a.end_node});
  }
}

void build_feature_arcs(Engine& engine) {
  const Graph& g = engine.graph();
  auto& arcs = feature_arcs();
  for (auto& a : arcs) a.masks.reset_unsafe();
  arcs.clear();
  for (auto& d : arc_decl_registry()) {
    if (g.node_index(d.start_node) < 0) continue;  // the feature owning the start is not built
    auto f = ordered_features(d.name);
    if (f.size() > kMaxArcFeatures) throw std::runtime_error(std::string("arc ") + d.name + ": more than 32 features");
    arcs.emplace_back();
    FeatureArc& a = arcs.back();
    a.name = d.name;
    a.start_node = uint16_t(g.node_index(d.start_node));
    a.end_node = uint16_t(std::max(0, g.node_index(d.end_node)));
    a.by_tx = d.by_tx;
    a.position_of_node.assign(g.nodes().size(), -1);
    std::vector<std::string> participants = {d.start_node};
    for (auto& x : f) {
      const int ni = g.node_index(x.node);
      if (ni < 0) throw std::runtime_error(std::string("arc ") + d.name + ": feature node '" + x.node + "' does not exist");
      a.features.push_back(uint16_t(ni));
      participants.push_back(x.node);
    }
    for (size_t p = 0; p < participants.size(); ++p) {
      a.position_of_node[size_t(g.node_index(participants[p]))] = int(p);
      std::vector<uint16_t> row(f.size() + 1, 0);
      for (size_t t = 0; t <= f.size(); ++t) {
        if (t + 1 <= p) continue;  // a feature never goes back to an earlier one
        const std::string target = t < f.size() ? std::string(f[t].node) : std::string(d.end_node);
        const int nx = g.next_index(participants[p], target);
        if (nx < 0) throw std::runtime_error("arc " + a.name + ": " + participants[p] + " has no next " + target);
        row[t] = uint16_t(nx);
      }
      a.next_of.push_back(std::move(row));
    }
    a.masks.publish(engine.epochs(), new ArcMasks());
  }
  for (auto* r : arc_refs()) r->resolve();
}

// featureEnable(arc, featureNode, interface, on)
QUIVER_NAPI(featureEnable) {
  Engine& e = Engine::get();
  const std::string arc_name = arg_string(info, 0, "arc");
  const std::string node = arg_string(info, 1, "feature");
  Interface& intf = interface_arg(info[2], "interface");
  const bool on = info.Length() < 4 || info[3].ToBoolean().Value();
  FeatureArc* a = find_feature_arc(arc_name);
  if (!a) throw std::runtime_error("arc: no feature arc '" + arc_name + "'");
  const int ni = e.graph().node_index(node);
  const int p = ni < 0 ? -1 : a->position_of_node[size_t(ni)];
  if (p < 1) throw std::runtime_error("feature: '" + node + "' is not a feature on arc '" + arc_name + "'");
  auto* next = new ArcMasks(*a->masks.get());
  if (on) next->mask[intf.index] |= 1u << (p - 1);
  else next->mask[intf.index] &= ~(1u << (p - 1));
  a->masks.publish(e.epochs(), next);
  return info.Env().Undefined();
}

// featureArcs(): [{name, start, end, byTx, features: [...], enabled: {ifIndex: [feature...]}}]
QUIVER_NAPI(featureArcs) {
  Engine& e = Engine::get();
  std::string j = "[";
  bool first = true;
  for (auto& a : feature_arcs()) {
    if (!first) j += ",";
    first = false;
    const auto& nodes = e.graph().nodes();
    j += "{\"name\":" + json_str(a.name) + ",\"start\":" + json_str(nodes[a.start_node].name) + ",\"end\":" +
         json_str(nodes[a.end_node].name) + ",\"byTx\":" + (a.by_tx ? "true" : "false") + ",\"features\":[";
    for (size_t i = 0; i < a.features.size(); ++i) j += (i ? "," : "") + json_str(nodes[a.features[i]].name);
    j += "],\"enabled\":{";
    bool f2 = true;
    if (e.running()) {
      const ArcMasks* m = a.masks.get();
      for (uint32_t i = 0; i < kMaxInterfaces; ++i) {
        // A feature on for every interface sets its bit at every index: list existing ones.
        if (!m || !m->mask[i] || !e.interface(i)) continue;
        j += std::string(f2 ? "" : ",") + "\"" + std::to_string(i) + "\":[";
        f2 = false;
        bool f3 = true;
        for (size_t k = 0; k < a.features.size(); ++k)
          if (m->mask[i] & (1u << k)) {
            j += (f3 ? "" : ",") + json_str(nodes[a.features[k]].name);
            f3 = false;
          }
        j += "]";
      }
    }
    j += "}}";
  }
  j += "]";
  Napi::Object JSON = info.Env().Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(info.Env(), j)});
}

}  // namespace quiver
