// The ACL control side: compile, bind, publish. Runs under the engine's control lock.
#include "acl.h"

#include <chrono>
#include <stdexcept>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"

namespace quiver::acl {

const char* const kIfAclCounterNames[] = {"permitRule", "denyRule", "permitDefault", "denyDefault", "sessionHit",
                                          "relatedHit", "sessionCreated", "sessionRefused", "malformed", "nonIp"};

AclControl& AclControl::get() {
  static AclControl* c = new AclControl();  // never destroyed: workers must not race static teardown
  return *c;
}

namespace {

struct ArcFeature {
  const char* arc;
  const char* node;
};
// Where the ACL nodes sit, per direction: routed IPv4 and IPv6, and bridged frames.
constexpr ArcFeature kArcFeatures[2][3] = {
    {{"ip4-unicast", "acl-ip4-in"}, {"ip6-unicast", "acl-ip6-in"}, {"l2-input-features", "acl-l2-in"}},
    {{"ip4-output", "acl-ip4-out"}, {"ip6-output", "acl-ip6-out"}, {"l2-output-features", "acl-l2-out"}},
};

SessionTimeouts to_ticks(const SessionConfig& c) {
  const double hz = tsc_hz();
  return SessionTimeouts{uint64_t(c.tcp_established_s * hz), uint64_t(c.tcp_transient_s * hz), uint64_t(c.udp_s * hz),
                         uint64_t(c.icmp_s * hz), uint64_t(c.other_s * hz)};
}

}  // namespace

void AclControl::on_start(Engine& e) {
  engine_ = &e;
  workers_ = e.config().workers;
  acls_.clear();
  bindings_.clear();
  counters_.clear();
  sessions.workers = workers_;
  for (auto& t : sessions.table) t.store(nullptr);
  timeouts.publish(e.epochs(), new SessionTimeouts(to_ticks(session_config_)));
  runtime.publish(e.epochs(), new AclRuntime());
}

void AclControl::on_stop(Engine& e) {
  // Workers still run here: unpublish, and free after a grace period.
  runtime.publish(e.epochs(), nullptr);
  for (uint32_t w = 0; w < kMaxWorkers; ++w) {
    SessionTable* t = sessions.table[w].exchange(nullptr);
    if (t) e.epochs().retire([t] { delete t; });
  }
  acls_.clear();
  bindings_.clear();
  counters_.clear();
  engine_ = nullptr;
}

void AclControl::on_interface_delete(Engine& e, uint32_t if_index) {
  if (!bindings_.count(if_index)) return;
  bind(if_index, Binding());
}

const CompiledAcl& AclControl::set_acl(const std::string& name, std::vector<Rule> rules) {
  if (!engine_) throw std::runtime_error("engine: not running");
  const auto t0 = std::chrono::steady_clock::now();
  auto acl = std::make_shared<CompiledAcl>();
  acl->name = name;
  acl->rules = std::move(rules);
  acl->ip4.build(acl->rules);
  acl->ip6.build(acl->rules);
  for (const Rule& r : acl->rules) {
    acl->actions.push_back(r.action);
    acl->has_reflect |= r.action == Action::Reflect;
  }
  acl->counters.init(workers_, uint32_t(acl->rules.size()));
  acl->build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  acls_[name] = acl;
  publish();
  ensure_session_tables();
  return *acl;
}

std::vector<std::string> AclControl::bound_to(const std::string& acl) const {
  std::vector<std::string> where;
  for (auto& [ifi, b] : bindings_)
    for (uint32_t d = 0; d < 2; ++d)
      for (auto& n : b.acls[d])
        if (n == acl) {
          Interface* i = engine_->interface(ifi);
          where.push_back((i ? i->name : std::to_string(ifi)) + (d == kInput ? " input" : " output"));
        }
  return where;
}

void AclControl::delete_acl(const std::string& name) {
  if (!engine_) throw std::runtime_error("engine: not running");
  if (!acls_.count(name)) throw std::runtime_error("name: no ACL named '" + name + "'");
  auto where = bound_to(name);
  if (!where.empty()) throw std::runtime_error("name: ACL '" + name + "' is applied to " + where.front());
  acls_.erase(name);
  publish();
}

void AclControl::bind(uint32_t if_index, const Binding& b) {
  if (!engine_) throw std::runtime_error("engine: not running");
  for (uint32_t d = 0; d < 2; ++d) {
    const char* field = d == kInput ? "input" : "output";
    if (b.acls[d].size() > kMaxAclsPerDirection)
      throw std::runtime_error(std::string(field) + ": at most " + std::to_string(kMaxAclsPerDirection) + " ACLs per direction");
    for (size_t i = 0; i < b.acls[d].size(); ++i) {
      const std::string at = std::string(field) + "[" + std::to_string(i) + "]";
      if (!acls_.count(b.acls[d][i])) throw std::runtime_error(at + ": no ACL named '" + b.acls[d][i] + "'");
      for (size_t j = 0; j < i; ++j)
        if (b.acls[d][j] == b.acls[d][i]) throw std::runtime_error(at + ": ACL '" + b.acls[d][i] + "' is listed twice");
    }
  }
  const bool had = bindings_.count(if_index) > 0;
  const bool empty = b.acls[kInput].empty() && b.acls[kOutput].empty();
  if (empty) {
    bindings_.erase(if_index);
    counters_.erase(if_index);
  } else {
    bindings_[if_index] = b;
    if (!counters_.count(if_index)) counters_[if_index] = std::make_shared<IfCounters>(workers_);
  }
  publish();
  for (uint32_t d = 0; d < 2; ++d) enable_features(if_index, d, !b.acls[d].empty());
  ensure_session_tables();
  if (had && empty) clear_sessions(if_index);
}

void AclControl::publish() {
  auto* rt = new AclRuntime();
  for (auto& [ifi, b] : bindings_) {
    if (rt->bind.size() < size_t(ifi + 1) * 2) rt->bind.resize(size_t(ifi + 1) * 2);
    bool stateful = false;
    for (uint32_t d = 0; d < 2; ++d)
      for (auto& n : b.acls[d]) stateful |= acls_.at(n)->has_reflect;
    auto counters = counters_.at(ifi);
    rt->keep_counters.push_back(counters);
    for (uint32_t d = 0; d < 2; ++d) {
      DirBinding& db = rt->bind[size_t(ifi) * 2 + d];
      db.n = uint32_t(b.acls[d].size());
      db.default_permit = b.default_permit[d];
      db.stateful = stateful;
      db.counters = counters.get();
      for (uint32_t i = 0; i < db.n; ++i) {
        auto acl = acls_.at(b.acls[d][i]);
        db.acl[i] = acl.get();
        rt->keep.push_back(acl);
      }
    }
    rt->any_stateful |= stateful;
  }
  runtime.publish(engine_->epochs(), rt);
}

void AclControl::ensure_session_tables() {
  const AclRuntime* rt = runtime.get();
  if (!rt || !rt->any_stateful) return;
  for (uint32_t w = 0; w < workers_; ++w)
    if (!sessions.table[w].load()) sessions.table[w].store(new SessionTable(session_config_.max_per_worker));
}

void AclControl::set_session_config(const SessionConfig& c) {
  const bool resize = c.max_per_worker != session_config_.max_per_worker;
  session_config_ = c;
  if (!engine_) return;
  timeouts.publish(engine_->epochs(), new SessionTimeouts(to_ticks(c)));
  if (!resize) return;
  for (uint32_t w = 0; w < workers_; ++w) {
    SessionTable* old = sessions.table[w].load();
    if (!old) continue;
    auto* fresh = new SessionTable(c.max_per_worker);
    // The owner moves its sessions (it is the only writer), then switches tables.
    engine_->workers()[w]->run_sync([&](Worker&) {
      fresh->absorb(*old);
      sessions.table[w].store(fresh);
    });
    engine_->epochs().retire([old] { delete old; });  // other workers may still read it
  }
}

void AclControl::clear_sessions(uint32_t if_index) {
  if (!engine_) return;
  for (uint32_t w = 0; w < workers_; ++w) {
    SessionTable* t = sessions.table[w].load();
    if (t) engine_->workers()[w]->run_sync([&](Worker&) { t->flush(if_index); });
  }
}

void AclControl::enable_features(uint32_t if_index, uint32_t dir, bool on) {
  for (const ArcFeature& f : kArcFeatures[dir]) {
    FeatureArc* a = find_feature_arc(f.arc);
    if (!a) continue;  // the path (l3, l2) is not compiled in
    const int ni = engine_->graph().node_index(f.node);
    const int p = ni < 0 ? -1 : a->position_of_node[size_t(ni)];
    if (p < 1) continue;
    const ArcMasks* cur = a->masks.get();
    const uint32_t bit = 1u << (p - 1);
    if (bool(cur->mask[if_index] & bit) == on) continue;
    auto* next = new ArcMasks(*cur);
    if (on) next->mask[if_index] |= bit;
    else next->mask[if_index] &= ~bit;
    a->masks.publish(engine_->epochs(), next);
  }
}

}  // namespace quiver::acl
