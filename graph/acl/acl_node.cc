// The ACL nodes: acl-ip4-in/out, acl-ip6-in/out on the routed arcs and acl-l2-in/out on the
// bridged ones, all one template; and acl-session-aging, the process node that ages sessions.
//
// Per vector, in phases (classify, then act):
//   1. parse every packet into a classifier key (quad loop, prefetch);
//   2. stateful interfaces: look the session up (own table, then other workers'), and an
//      ICMP error's embedded packet; a live session permits without rule evaluation;
//   3. the rest walk their interface's ACLs in order, four packets per classifier call;
//   4. act: permit (next feature on the arc), deny (error-drop, named), permit+reflect (create
//      the session, or drop when the table is full), no match: the default action.
#include <cstring>
#include <string>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/headers/ethernet.h"
#include "../../native/worker.h"
#include "acl.h"
#include "packet_key.h"
#include "session_path.h"

namespace quiver::acl {
namespace {

enum AclNext : uint16_t { kNextDrop = 0 };  // the arc adds every later feature and its end node
enum AclError : uint32_t {
  kErrDenyRule, kErrDenyDefault, kErrMalformed, kErrSessionLimit,  // drops
  kErrSessionHit, kErrRelated, kErrSessionCreated, kErrNonIp,       // counted, passed
};
const std::vector<ErrorDesc> kAclErrors = {
    {"denied-by-rule", "packet denied by an ACL rule", Severity::Info},
    {"denied-by-default", "no ACL rule matched; default action deny", Severity::Info},
    {"malformed", "IP header or L4 header cut short or invalid", Severity::Error},
    {"session-limit", "permit+reflect refused: session table full", Severity::Warning},
    {"session-hit", "permitted by a reflexive session", Severity::Info},
    {"related-icmp", "ICMP error about a session's packet permitted", Severity::Info},
    {"session-created", "reflexive session created", Severity::Info},
    {"non-ip", "bridged frame that is not IP, passed", Severity::Info},
};

// How a node finds the IP header: routed input arcs see the packet from the IP header on;
// bridged and output arcs see the Ethernet frame.
enum class Locate : uint8_t { Data, Ethernet };

enum Decision : uint8_t { kPass, kPassSession, kPassRelated, kPassNonIp, kMalformed, kClassify };

struct AclTrace {
  uint32_t if_index;
  uint8_t dir, family, decision, action;  // action: 0 deny 1 permit 2 reflect; no match: 254 default permit, 255 default deny
  uint32_t rule;
  char acl[24];
};
std::string format_acl_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const AclTrace*>(d);
  std::string s = std::string(t->dir == kInput ? "rx " : "tx ") + std::to_string(t->if_index) + " ip" +
                  (t->family == 4 ? "4" : t->family == 6 ? "6" : "?") + ": ";
  switch (t->decision) {
    case kPass: return s + "no ACL bound, pass";
    case kPassSession: return s + "permit by session";
    case kPassRelated: return s + "permit: ICMP error related to a session";
    case kPassNonIp: return s + "not IP, pass";
    case kMalformed: return s + "malformed, drop";
    default: break;
  }
  if (t->action >= 254) return s + "no rule matched: default " + (t->action == 254 ? "permit" : "deny");
  static const char* names[] = {"deny", "permit", "permit+reflect"};
  return s + names[t->action] + " by acl '" + std::string(t->acl, strnlen(t->acl, sizeof t->acl)) + "' rule " + std::to_string(t->rule);
}

// The L3 header of b and the bytes available from it; ethertype 0 when not IP.
inline const uint8_t* locate_l3(Buffer* b, Locate how, uint16_t& ethertype, uint32_t& len) {
  const uint8_t* d = b->data();
  if (how == Locate::Data) {
    ethertype = 0;
    len = b->length;
    return d;
  }
  uint32_t off = kEthernetHeaderSize;
  if (b->length < off) {
    ethertype = 0;
    len = 0;
    return d;
  }
  uint16_t type = rd16(d + 12);
  for (int tags = 0; tags < 2 && is_vlan_ethertype(type) && b->length >= off + kVlanTagSize; ++tags) {
    type = rd16(d + off + 2);
    off += kVlanTagSize;
  }
  ethertype = type;
  len = b->length - off;
  return d + off;
}

// The phases run over chunks of a vector so that a chunk's keys, buffer headers and packet
// headers stay in L1 from parsing to acting.
constexpr uint32_t kChunk = 64;

// What the node knows about a chunk's packets, phase to phase.
template <int Fam>
struct Vector {
  Buffer* const* b;  // the chunk's buffers
  uint16_t* next;    // and their nexts
  const DirBinding* bind[kChunk];
  const uint8_t* l3[kChunk];
  uint8_t family[kChunk], decision[kChunk], acl_pos[kChunk];
  uint32_t rule[kChunk];
  FlowMeta meta[kChunk];
  Key<8> k4[Fam == 6 ? 1 : kChunk];
  Key<16> k6[Fam == 4 ? 1 : kChunk];
  const Key<8>* key4(uint32_t i) const { return &k4[Fam == 6 ? 0 : i]; }
  const Key<16>* key6(uint32_t i) const { return &k6[Fam == 4 ? 0 : i]; }
  uint8_t tcp_flags(uint32_t i) const { return uint8_t(family[i] == 4 ? key4(i)->v[Family4::kDims] : key6(i)->v[Family6::kDims]); }
};

template <uint32_t Dir>
inline uint32_t if_of(const Buffer* b) {
  return Dir == kInput ? b->rx_if : b->tx_if;
}

// 1. Parse one packet into its key, or decide it without the classifier.
template <int Fam, uint32_t Dir, Locate How>
inline void parse_one(Vector<Fam>& v, const AclRuntime* rt, uint32_t i, uint32_t& last_if, const DirBinding*& last_bind) {
  Buffer* x = v.b[i];
  const uint32_t ifi = if_of<Dir>(x);
  if (ifi != last_if) {  // one interface per vector is the common case
    last_if = ifi;
    last_bind = rt ? rt->find(ifi, Dir) : nullptr;
  }
  v.bind[i] = last_bind;
  v.rule[i] = Classifier4::kNoMatch;
  v.family[i] = 0;
  if (!last_bind || last_bind->n == 0) {
    v.decision[i] = kPass;  // unbound meanwhile: the arc mask follows
    return;
  }
  uint16_t ethertype;
  uint32_t len;
  v.l3[i] = locate_l3(x, How, ethertype, len);
  if (How == Locate::Ethernet && Fam == 0 && ethertype != kEtherTypeIp4 && ethertype != kEtherTypeIp6) {
    v.decision[i] = kPassNonIp;
    return;
  }
  Parsed p;
  if constexpr (Fam == 4) p = parse_ip4(v.l3[i], len, v.k4[i], v.meta[i]);
  else if constexpr (Fam == 6) p = parse_ip6(v.l3[i], len, v.k6[i], v.meta[i]);
  else p = ethertype == kEtherTypeIp4 ? parse_ip4(v.l3[i], len, v.k4[i], v.meta[i]) : parse_ip6(v.l3[i], len, v.k6[i], v.meta[i]);
  if (p == Parsed::Malformed) {
    v.decision[i] = kMalformed;
    return;
  }
  v.family[i] = p == Parsed::Ip4 ? 4 : 6;
  v.decision[i] = kClassify;
}

// 2. Stateful interfaces: a live session (or, for an ICMP error, its embedded packet's
// session) permits without rule evaluation.
template <int Fam, uint32_t Dir>
inline void match_sessions(Vector<Fam>& v, uint32_t n, const SessionRuntime& sr, uint32_t me, const SessionTimeouts& t, uint64_t now) {
  SessionProbe probe[kChunk];
  Session* found[kChunk];
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (v.decision[i] != kClassify || !v.bind[i]->stateful) continue;
    bool src_is_a;
    key_of(probe[m].key, if_of<Dir>(v.b[i]), v.family[i], v.key4(i), v.key6(i), v.meta[i], src_is_a);
    probe[m].src_is_a = src_is_a;
    probe[m++].packet = uint16_t(i);
  }
  if (m == 0) return;
  lookup_sessions(sr, me, probe, m, t, now, found);
  for (uint32_t j = 0; j < m; ++j) {
    const uint32_t i = probe[j].packet;
    if (found[j]) {
      touch(*found[j], probe[j].src_is_a, v.tcp_flags(i), now);
      v.decision[i] = kPassSession;
      continue;
    }
    SessionKey ik;
    if (v.meta[i].inner && inner_key(if_of<Dir>(v.b[i]), v.family[i], v.l3[i], v.meta[i].l3_length, v.meta[i].inner, ik) &&
        find_session(sr, me, ik, ik.hash(), t, now))
      v.decision[i] = kPassRelated;
  }
}

// 3. The rest walk their interface's ACLs in order (first match wins), four packets per
// classifier call when they share binding and family: one interface per vector is usual.
template <int Fam>
inline void classify(Vector<Fam>& v, uint32_t n) {
  uint32_t todo[kChunk], m = 0;
  for (uint32_t i = 0; i < n; ++i)
    if (v.decision[i] == kClassify) todo[m++] = i;
  auto one = [&](uint32_t x) {
    for (uint32_t a = 0; a < v.bind[x]->n && v.rule[x] == Classifier4::kNoMatch; ++a) {
      if constexpr (Fam != 6)
        if (v.family[x] == 4) v.rule[x] = v.bind[x]->acl[a]->ip4.lookup(v.k4[x]);
      if constexpr (Fam != 4)
        if (v.family[x] == 6) v.rule[x] = v.bind[x]->acl[a]->ip6.lookup(v.k6[x]);
      v.acl_pos[x] = uint8_t(a);
    }
  };
  for (uint32_t j = 0; j < m;) {
    const uint32_t q[4] = {todo[j], todo[std::min(j + 1, m - 1)], todo[std::min(j + 2, m - 1)], todo[std::min(j + 3, m - 1)]};
    const DirBinding* db = v.bind[q[0]];
    const uint8_t f = v.family[q[0]];
    if (j + 4 > m || v.bind[q[1]] != db || v.bind[q[2]] != db || v.bind[q[3]] != db || v.family[q[1]] != f ||
        v.family[q[2]] != f || v.family[q[3]] != f) {
      one(q[0]);
      j += 1;
      continue;
    }
    for (uint32_t a = 0; a < db->n; ++a) {
      uint32_t best[4];
      for (int l = 0; l < 4; ++l) best[l] = v.rule[q[l]] == Classifier4::kNoMatch ? Classifier4::kNoMatch : 0;
      if constexpr (Fam != 6) {
        if (f == 4) {
          const Key<8>* kp[4] = {&v.k4[q[0]], &v.k4[q[1]], &v.k4[q[2]], &v.k4[q[3]]};
          db->acl[a]->ip4.lookup4(kp, best);
        }
      }
      if constexpr (Fam != 4) {
        if (f == 6) {
          const Key<16>* kp[4] = {&v.k6[q[0]], &v.k6[q[1]], &v.k6[q[2]], &v.k6[q[3]]};
          db->acl[a]->ip6.lookup4(kp, best);
        }
      }
      bool all = true;
      for (int l = 0; l < 4; ++l) {
        if (v.rule[q[l]] == Classifier4::kNoMatch && best[l] != Classifier4::kNoMatch) {
          v.rule[q[l]] = best[l];
          v.acl_pos[q[l]] = uint8_t(a);
        }
        all &= v.rule[q[l]] != Classifier4::kNoMatch;
      }
      if (all) break;
    }
    j += 4;
  }
}

// Counter updates gathered over runs of packets with the same binding or rule (a vector is
// usually one interface and few rules), written once per run instead of once per packet.
struct CounterRuns {
  uint32_t me;
  uint32_t dir;
  IfCounters* if_counters = nullptr;
  uint32_t pending[kIfAclCounters] = {};
  const CompiledAcl* acl = nullptr;
  uint32_t rule = 0;
  uint64_t packets = 0, bytes = 0;

  void count_if(IfCounters* c, uint32_t which) {
    if (c != if_counters) {
      flush_if();
      if_counters = c;
    }
    pending[which]++;
  }
  void flush_if() {
    if (if_counters) {
      uint64_t* dst = if_counters->at(me, dir);
      for (uint32_t k = 0; k < kIfAclCounters; ++k) dst[k] += pending[k];
    }
    std::fill(pending, pending + kIfAclCounters, 0u);
  }
  void count_rule(const CompiledAcl* a, uint32_t r, uint32_t len) {
    if (a != acl || r != rule) {
      flush_rule();
      acl = a;
      rule = r;
    }
    packets++;
    bytes += len;
  }
  void flush_rule() {
    if (acl && packets) {
      uint64_t* c = acl->counters.row(me) + 2 * rule;
      c[0] += packets;
      c[1] += bytes;
    }
    packets = bytes = 0;
  }
};

// permit+reflect: the session of this packet, created (or revived when expired, or found when an
// earlier packet of this vector made it). False when the table has no room.
template <int Fam, uint32_t Dir>
inline bool reflect(Vector<Fam>& v, uint32_t i, SessionTable* t, const SessionTimeouts& timeouts, uint64_t now, bool& created) {
  created = false;
  if (!t) return false;
  bool src_is_a;
  SessionKey k;
  key_of(k, if_of<Dir>(v.b[i]), v.family[i], v.key4(i), v.key6(i), v.meta[i], src_is_a);
  const uint32_t h = k.hash();
  uint32_t s = t->find(k, h);
  if (s == SessionTable::kNone) {
    s = t->insert(k, h, src_is_a, now);
    if (s == SessionTable::kNone) return false;
    created = true;
  } else if (expired(t->session(s), timeouts, now)) {
    Session& old = t->session(s);
    old.flags_a.store(0, std::memory_order_relaxed);
    old.flags_b.store(0, std::memory_order_relaxed);
    old.initiator_is_a = src_is_a;
    old.created_tsc = now;
    created = true;
  }
  touch(t->session(s), src_is_a, v.tcp_flags(i), now);
  return true;
}

template <bool Trace, int Fam, uint32_t Dir, Locate How, FeatureArcRef* Arc>
uint32_t acl_node(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  AclControl& ctl = AclControl::get();
  const AclRuntime* rt = ctl.runtime.get();
  const SessionTimeouts* timeouts = ctl.timeouts.get();
  const uint32_t me = w.id();
  const uint64_t now = w.now_tsc();
  Buffer* bufs[kFrameSize];
  uint16_t nexts[kFrameSize];
  w.buffers(bi, bufs, n);
  Vector<Fam> v;
  uint32_t last_if = kInvalidIf;
  const DirBinding* last_bind = nullptr;
  SessionTable* own = rt && rt->any_stateful ? ctl.sessions.table[me].load(std::memory_order_acquire) : nullptr;
  CounterRuns runs{me, Dir};
  uint32_t n_session = 0, n_related = 0, n_created = 0, n_non_ip = 0;
  uint32_t next_if = kInvalidIf;
  uint16_t next_pass = 0;

  for (uint32_t base = 0; base < n; base += kChunk) {
    const uint32_t m = n - base < kChunk ? n - base : kChunk;
    v.b = bufs + base;
    v.next = nexts + base;
    uint32_t i = 0;
    for (; i + 8 <= m; i += 4) {
      for (uint32_t k = 4; k < 8; ++k) {
        __builtin_prefetch(v.b[i + k]);
        __builtin_prefetch(v.b[i + k]->data());
      }
      parse_one<Fam, Dir, How>(v, rt, i, last_if, last_bind);
      parse_one<Fam, Dir, How>(v, rt, i + 1, last_if, last_bind);
      parse_one<Fam, Dir, How>(v, rt, i + 2, last_if, last_bind);
      parse_one<Fam, Dir, How>(v, rt, i + 3, last_if, last_bind);
    }
    for (; i < m; ++i) {
      if (base + i + 4 < n) __builtin_prefetch(bufs[base + i + 4]);  // the next chunk's first ones
      parse_one<Fam, Dir, How>(v, rt, i, last_if, last_bind);
    }

    if (rt && rt->any_stateful) match_sessions<Fam, Dir>(v, m, ctl.sessions, me, *timeouts, now);
    classify<Fam>(v, m);

    // 4. Act.
    for (i = 0; i < m; ++i) {
      Buffer* x = v.b[i];
      IfCounters* ic = v.bind[i] ? v.bind[i]->counters : nullptr;
      bool pass = true;
      uint32_t error = 0;
      switch (v.decision[i]) {
        case kPass: break;
        case kPassNonIp: ++n_non_ip; runs.count_if(ic, kCntNonIp); break;
        case kPassSession: ++n_session; runs.count_if(ic, kCntSessionHit); break;
        case kPassRelated: ++n_related; runs.count_if(ic, kCntRelatedHit); break;
        case kMalformed: pass = false; error = kErrMalformed; runs.count_if(ic, kCntMalformed); break;
        default: {
          if (v.rule[i] == Classifier4::kNoMatch) {
            pass = v.bind[i]->default_permit;
            runs.count_if(ic, pass ? kCntPermitDefault : kCntDenyDefault);
            if (!pass) error = kErrDenyDefault;
            break;
          }
          const CompiledAcl* acl = v.bind[i]->acl[v.acl_pos[i]];
          runs.count_rule(acl, v.rule[i], x->total_length());
          const Action act = acl->actions[v.rule[i]];
          if (act == Action::Deny) {
            pass = false;
            error = kErrDenyRule;
            runs.count_if(ic, kCntDenyRule);
            break;
          }
          runs.count_if(ic, kCntPermitRule);
          if (act != Action::Reflect) break;
          bool created;
          if (!reflect<Fam, Dir>(v, i, own, *timeouts, now, created)) {
            pass = false;
            error = kErrSessionLimit;
            runs.count_if(ic, kCntSessionRefused);
          } else if (created) {
            ++n_created;
            runs.count_if(ic, kCntSessionCreated);
          }
        }
      }
      if (pass) {
        // The next feature depends on the interface only.
        const uint32_t ifi = if_of<Dir>(x);
        if (ifi != next_if) {
          next_if = ifi;
          next_pass = (*Arc)->next(node, x);
        }
        v.next[i] = next_pass;
      } else {
        v.next[i] = kNextDrop;
        x->error = node.error_code(error);
      }
      if constexpr (Trace) {
        if (x->flags & kBufTraced) {
          AclTrace t{};
          t.if_index = if_of<Dir>(x);
          t.dir = uint8_t(Dir);
          t.family = v.family[i];
          t.decision = v.decision[i];
          t.action = v.bind[i] && v.bind[i]->default_permit ? 254 : 255;
          t.rule = v.rule[i];
          if (v.decision[i] == kClassify && v.rule[i] != Classifier4::kNoMatch) {
            const CompiledAcl& acl = *v.bind[i]->acl[v.acl_pos[i]];
            t.action = uint8_t(acl.actions[v.rule[i]]);
            std::memcpy(t.acl, acl.name.data(), std::min(acl.name.size(), sizeof t.acl));
          }
          w.trace(node, x, &t, sizeof t);
        }
      }
    }
  }
  runs.flush_if();
  runs.flush_rule();
  if (n_session) w.count_error(node, kErrSessionHit, n_session);
  if (n_related) w.count_error(node, kErrRelated, n_related);
  if (n_created) w.count_error(node, kErrSessionCreated, n_created);
  if (n_non_ip) w.count_error(node, kErrNonIp, n_non_ip);
  // Drops are counted by error-drop under b->error.
  w.enqueue_to_nexts(node, bi, nexts, n);
  return n;
}

FeatureArcRef arc_ip4_in("ip4-unicast"), arc_ip4_out("ip4-output"), arc_ip6_in("ip6-unicast"), arc_ip6_out("ip6-output"),
    arc_l2_in("l2-input-features"), arc_l2_out("l2-output-features");

#define ACL_NODE(id, node_name, fam, dir, how, arc)                                                                   \
  QUIVER_NODE(id, {.name = node_name,                                                                                 \
                   .type = NodeType::Internal,                                                                        \
                   .dispatch = acl_node<false, fam, dir, how, &arc>,                                                  \
                   .dispatch_trace = acl_node<true, fam, dir, how, &arc>,                                             \
                   .next_nodes = {"error-drop"},                                                                      \
                   .errors = kAclErrors,                                                                              \
                   .format_trace = format_acl_trace})

ACL_NODE(acl_ip4_in, "acl-ip4-in", 4, kInput, Locate::Data, arc_ip4_in);
ACL_NODE(acl_ip4_out, "acl-ip4-out", 4, kOutput, Locate::Ethernet, arc_ip4_out);
ACL_NODE(acl_ip6_in, "acl-ip6-in", 6, kInput, Locate::Data, arc_ip6_in);
ACL_NODE(acl_ip6_out, "acl-ip6-out", 6, kOutput, Locate::Ethernet, arc_ip6_out);
ACL_NODE(acl_l2_in, "acl-l2-in", 0, kInput, Locate::Ethernet, arc_l2_in);
ACL_NODE(acl_l2_out, "acl-l2-out", 0, kOutput, Locate::Ethernet, arc_l2_out);

// Order 100 on every arc: after input checks that other features may add with lower orders.
QUIVER_ARC_FEATURE(acl_ip4_in, "ip4-unicast", "acl-ip4-in", 100);
QUIVER_ARC_FEATURE(acl_ip4_out, "ip4-output", "acl-ip4-out", 100);
QUIVER_ARC_FEATURE(acl_ip6_in, "ip6-unicast", "acl-ip6-in", 100);
QUIVER_ARC_FEATURE(acl_ip6_out, "ip6-output", "acl-ip6-out", 100);
QUIVER_ARC_FEATURE(acl_l2_in, "l2-input-features", "acl-l2-in", 100);
QUIVER_ARC_FEATURE(acl_l2_out, "l2-output-features", "acl-l2-out", 100);

// Aging: every worker sweeps its own table a slice at a time, never per packet.
// Its pace: every 100 ms while the worker holds sessions, else once a second, so that an idle
// worker stays asleep (expiry itself is exact: a packet never revives an expired session).
uint32_t acl_session_aging(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  AclControl& ctl = AclControl::get();
  SessionTable* t = ctl.sessions.table[w.id()].load(std::memory_order_acquire);
  const SessionTimeouts* timeouts = ctl.timeouts.get();
  const bool busy = t && timeouts && t->count() > 0;
  node.next_run_tsc = w.now_tsc() + ns_to_tsc(busy ? 100000000 : 1000000000);
  if (!busy) return 0;
  const uint32_t budget = std::max<uint32_t>(4096, t->capacity() / 8);  // the whole pool in ~1 s
  const uint32_t removed = t->sweep(rdtsc(), *timeouts, budget);
  if (removed) w.count_error(node, 0, removed);
  return removed;
}

QUIVER_NODE(acl_session_aging, {.name = "acl-session-aging",
                                .type = NodeType::Process,
                                .dispatch = acl_session_aging,
                                .dispatch_trace = acl_session_aging,
                                .errors = {{"aged", "reflexive sessions removed after their idle timeout", Severity::Info}},
                                .interval_ns = 100000000,
                                .process_on_all_workers = true});

void on_start(Engine& e) { AclControl::get().on_start(e); }
void on_stop(Engine& e) { AclControl::get().on_stop(e); }
void on_interface_delete(Engine& e, uint32_t if_index) { AclControl::get().on_interface_delete(e, if_index); }
QUIVER_FEATURE(acl, {.name = "acl", .on_start = on_start, .on_stop = on_stop, .on_interface_delete = on_interface_delete});

}  // namespace
}  // namespace quiver::acl
