// ACL state: named ACLs compiled into classifiers, per-interface bindings (an ordered list of
// ACLs per direction and a default action), rule and interface counters, session tables.
//
// Workers read one published AclRuntime per dispatch call (epoch swap: a change never stops
// traffic); the control side keeps the names and rebuilds what changed. Counters are per worker
// in tables owned here and summed by the reader (`show acl`).
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../../native/epoch.h"
#include "../../native/interface.h"
#include "classifier.h"
#include "rule.h"
#include "sessions.h"

namespace quiver {
class Engine;
}

namespace quiver::acl {

constexpr uint32_t kMaxAclsPerDirection = 16;
enum Direction : uint32_t { kInput = 0, kOutput = 1 };

// Per-rule counters: [worker][rule] {packets, bytes}, each worker's row padded to a cache line.
struct RuleCounters {
  uint32_t workers = 0, stride = 0;  // stride in uint64 words
  std::unique_ptr<uint64_t[]> v;
  void init(uint32_t n_workers, uint32_t n_rules) {
    workers = n_workers;
    stride = (2 * n_rules + 7) & ~7u;
    v.reset(new (std::align_val_t(64)) uint64_t[size_t(workers) * stride]());
  }
  uint64_t* row(uint32_t worker) const { return v.get() + size_t(worker) * stride; }
  void clear() { std::fill(v.get(), v.get() + size_t(workers) * stride, 0); }
};

struct CompiledAcl {
  std::string name;
  std::vector<Rule> rules;
  std::vector<Action> actions;  // rules[i].action, compact for the packet path
  Classifier4 ip4;
  Classifier6 ip6;
  bool has_reflect = false;
  double build_ms = 0;
  RuleCounters counters;
};

// Events counted per interface and direction (per worker; `show acl interface`).
enum IfAclCounter : uint32_t {
  kCntPermitRule, kCntDenyRule, kCntPermitDefault, kCntDenyDefault, kCntSessionHit, kCntRelatedHit,
  kCntSessionCreated, kCntSessionRefused, kCntMalformed, kCntNonIp, kIfAclCounters = 16
};
extern const char* const kIfAclCounterNames[];

struct IfCounters {
  uint32_t workers = 0;
  std::unique_ptr<uint64_t[]> v;  // [worker][direction][kIfAclCounters]
  explicit IfCounters(uint32_t n_workers) : workers(n_workers), v(new (std::align_val_t(64)) uint64_t[size_t(n_workers) * 2 * kIfAclCounters]()) {}
  uint64_t* at(uint32_t worker, uint32_t dir) const { return v.get() + (size_t(worker) * 2 + dir) * kIfAclCounters; }
};

// What a worker needs to filter one direction of one interface.
struct DirBinding {
  uint32_t n = 0;                           // ACLs, in order; 0: nothing applied
  bool default_permit = false;
  bool stateful = false;                    // look sessions up (a reflect rule on this interface)
  const CompiledAcl* acl[kMaxAclsPerDirection] = {};
  IfCounters* counters = nullptr;
};

struct AclRuntime {
  std::vector<DirBinding> bind;  // [if_index * 2 + direction]; shorter than kMaxInterfaces * 2
  std::vector<std::shared_ptr<const CompiledAcl>> keep;   // keeps what `bind` points to alive
  std::vector<std::shared_ptr<IfCounters>> keep_counters;
  bool any_stateful = false;
  const DirBinding* find(uint32_t if_index, uint32_t dir) const {
    const size_t i = size_t(if_index) * 2 + dir;
    return i < bind.size() ? &bind[i] : nullptr;
  }
};

struct SessionConfig {
  uint32_t max_per_worker = 65536;
  double tcp_established_s = 86400, tcp_transient_s = 120, udp_s = 600, icmp_s = 60, other_s = 600;
};

// The session tables and their parameters as workers see them.
struct SessionRuntime {
  std::atomic<SessionTable*> table[kMaxWorkers] = {};
  uint32_t workers = 0;
};

// The control side: owns everything, runs under the engine's control lock.
class AclControl {
 public:
  static AclControl& get();

  void on_start(Engine& e);
  void on_stop(Engine& e);
  void on_interface_delete(Engine& e, uint32_t if_index);

  // Creates or replaces (bulk) an ACL: compiled off the packet path, then published.
  const CompiledAcl& set_acl(const std::string& name, std::vector<Rule> rules);
  void delete_acl(const std::string& name);
  struct Binding {
    std::vector<std::string> acls[2];
    bool default_permit[2] = {false, false};
  };
  void bind(uint32_t if_index, const Binding& b);
  void set_session_config(const SessionConfig& c);
  const SessionConfig& session_config() const { return session_config_; }
  void clear_sessions(uint32_t if_index);  // SessionTable::kNone: all

  const std::map<std::string, std::shared_ptr<CompiledAcl>>& acls() const { return acls_; }
  const std::map<uint32_t, Binding>& bindings() const { return bindings_; }
  const IfCounters* if_counters(uint32_t if_index) const {
    auto it = counters_.find(if_index);
    return it == counters_.end() ? nullptr : it->second.get();
  }
  const CompiledAcl* find(const std::string& name) const {
    auto it = acls_.find(name);
    return it == acls_.end() ? nullptr : it->second.get();
  }

  Published<AclRuntime> runtime;
  Published<SessionTimeouts> timeouts;
  SessionRuntime sessions;

 private:
  void publish();
  void ensure_session_tables();
  void enable_features(uint32_t if_index, uint32_t dir, bool on);
  std::vector<std::string> bound_to(const std::string& acl) const;

  Engine* engine_ = nullptr;
  uint32_t workers_ = 0;
  std::map<std::string, std::shared_ptr<CompiledAcl>> acls_;
  std::map<uint32_t, Binding> bindings_;
  std::map<uint32_t, std::shared_ptr<IfCounters>> counters_;
  SessionConfig session_config_;
};

}  // namespace quiver::acl
