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
  uint8_t dir, family, decision, action;  // action: 0 deny 1 permit 2 reflect 255 none
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
  if (t->action == 255) return s + "no rule matched, default action";
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

template <int Fam>
struct Keys {
  Key<8> k4[Fam == 6 ? 1 : kFrameSize];
  Key<16> k6[Fam == 4 ? 1 : kFrameSize];
};

// Session lookup helpers ----------------------------------------------------------------------

inline SessionKey key_of(uint32_t if_index, uint8_t family, const Key<8>* k4, const Key<16>* k6, const FlowMeta& m, bool& src_is_a) {
  if (family == 4)
    return make_session_key(if_index, 4, uint8_t(k4->v[Family4::kProto]), &k4->v[0], &k4->v[1], m.sport, m.dport, src_is_a);
  return make_session_key(if_index, 6, uint8_t(k6->v[Family6::kProto]), &k6->v[0], &k6->v[4], m.sport, m.dport, src_is_a);
}

// The embedded packet of an ICMP error, as the session of its original direction would see it.
inline bool inner_key(uint32_t if_index, uint8_t family, const uint8_t* l3, uint32_t len, uint16_t inner, SessionKey& out) {
  const uint8_t* p = l3 + inner;
  const uint32_t avail = len - inner;
  uint32_t src[4] = {}, dst[4] = {};
  uint8_t proto;
  uint32_t l4;
  if (family == 4) {
    if (avail < 20 || (p[0] >> 4) != 4) return false;
    l4 = uint32_t(p[0] & 0x0f) * 4;
    proto = p[9];
    src[0] = rd32(p + 12);
    dst[0] = rd32(p + 16);
  } else {
    if (avail < 40 || (p[0] >> 4) != 6) return false;
    l4 = 40;  // errors quoting extension headers are not matched
    proto = p[6];
    for (int i = 0; i < 4; ++i) {
      src[i] = rd32(p + 8 + 4 * i);
      dst[i] = rd32(p + 24 + 4 * i);
    }
  }
  uint16_t sport = 0, dport = 0;
  if (proto == kIpProtoTcp || proto == kIpProtoUdp || proto == kIpProtoSctp) {
    if (avail < l4 + 4) return false;
    sport = rd16(p + l4);
    dport = rd16(p + l4 + 2);
  } else if (proto == kIpProtoIcmp || proto == kIpProtoIcmp6) {
    if (avail < l4 + 8) return false;
    if (icmp_is_query(family, p[l4])) sport = dport = rd16(p + l4 + 4);
  }
  bool src_is_a;
  out = make_session_key(if_index, family, proto, src, dst, sport, dport, src_is_a);
  return true;
}

inline void touch(Session& s, bool src_is_a, uint8_t tcp_flags, uint64_t now) {
  s.last_tsc.store(now, std::memory_order_relaxed);
  if (s.key.proto != kIpProtoTcp || !tcp_flags) return;
  auto& f = (src_is_a ? s.flags_a : s.flags_b);
  if ((f.load(std::memory_order_relaxed) & tcp_flags) != tcp_flags) f.fetch_or(tcp_flags, std::memory_order_relaxed);
}

inline bool expired(const Session& s, const SessionTimeouts& t, uint64_t now) {
  const uint64_t last = s.last_tsc.load(std::memory_order_relaxed);
  return now > last && now - last > t.of(s);
}

// Finds a live session: own table first, then (multi-worker) the others', read-only.
inline Session* find_session(const SessionRuntime& sr, uint32_t self, const SessionKey& k, uint32_t h, const SessionTimeouts& t,
                             uint64_t now) {
  if (SessionTable* own = sr.table[self].load(std::memory_order_acquire)) {
    const uint32_t i = own->find(k, h);
    if (i != SessionTable::kNone) return expired(own->session(i), t, now) ? nullptr : &own->session(i);
  }
  for (uint32_t w = 0; w < sr.workers; ++w) {
    if (w == self) continue;
    SessionTable* other = sr.table[w].load(std::memory_order_acquire);
    if (!other) continue;
    const uint32_t i = other->find_shared(k, h);
    if (i != SessionTable::kNone && !expired(other->session(i), t, now)) return &other->session(i);
  }
  return nullptr;
}

// The node ------------------------------------------------------------------------------------

template <bool Trace, int Fam, uint32_t Dir, Locate How, FeatureArcRef* Arc>
uint32_t acl_node(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  AclControl& ctl = AclControl::get();
  const AclRuntime* rt = ctl.runtime.get();
  const SessionTimeouts* timeouts = ctl.timeouts.get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  const DirBinding* bind[kFrameSize];
  const uint8_t* l3[kFrameSize];
  uint8_t family[kFrameSize], decision[kFrameSize], acl_pos[kFrameSize];
  uint32_t rule[kFrameSize];
  FlowMeta meta[kFrameSize];
  Keys<Fam> keys;
  w.buffers(bi, b, n);
  const uint32_t me = w.id();
  const uint64_t now = w.now_tsc();

  // 1. Parse.
  auto parse = [&](uint32_t i) {
    Buffer* x = b[i];
    const uint32_t ifi = Dir == kInput ? x->rx_if : x->tx_if;
    bind[i] = rt ? rt->find(ifi, Dir) : nullptr;
    rule[i] = Classifier4::kNoMatch;
    family[i] = 0;
    if (!bind[i] || bind[i]->n == 0) {
      decision[i] = kPass;
      return;
    }
    uint16_t ethertype;
    uint32_t len;
    l3[i] = locate_l3(x, How, ethertype, len);
    if (How == Locate::Ethernet && Fam == 0 && ethertype != kEtherTypeIp4 && ethertype != kEtherTypeIp6) {
      decision[i] = kPassNonIp;
      return;
    }
    Parsed p = Parsed::Malformed;
    if constexpr (Fam == 4) p = parse_ip4(l3[i], len, keys.k4[i], meta[i]);
    if constexpr (Fam == 6) p = parse_ip6(l3[i], len, keys.k6[i], meta[i]);
    if constexpr (Fam == 0) {
      p = ethertype == kEtherTypeIp4 ? parse_ip4(l3[i], len, keys.k4[i], meta[i]) : parse_ip6(l3[i], len, keys.k6[i], meta[i]);
    }
    if (p == Parsed::Malformed) {
      decision[i] = kMalformed;
      return;
    }
    family[i] = p == Parsed::Ip4 ? 4 : 6;
    decision[i] = kClassify;
  };
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    parse(i);
    parse(i + 1);
    parse(i + 2);
    parse(i + 3);
  }
  for (; i < n; ++i) parse(i);

  // 2. Sessions.
  if (rt && rt->any_stateful) {
    for (i = 0; i < n; ++i) {
      if (decision[i] != kClassify || !bind[i]->stateful) continue;
      const uint32_t ifi = Dir == kInput ? b[i]->rx_if : b[i]->tx_if;
      bool src_is_a;
      const SessionKey k = key_of(ifi, family[i], &keys.k4[Fam == 6 ? 0 : i], &keys.k6[Fam == 4 ? 0 : i], meta[i], src_is_a);
      if (Session* s = find_session(ctl.sessions, me, k, k.hash(), *timeouts, now)) {
        const uint32_t flags = family[i] == 4 ? keys.k4[Fam == 6 ? 0 : i].v[Family4::kDims] : keys.k6[Fam == 4 ? 0 : i].v[Family6::kDims];
        touch(*s, src_is_a, uint8_t(flags), now);
        decision[i] = kPassSession;
        continue;
      }
      SessionKey ik;
      if (meta[i].inner && inner_key(ifi, family[i], l3[i], meta[i].l3_length, meta[i].inner, ik) &&
          find_session(ctl.sessions, me, ik, ik.hash(), *timeouts, now))
        decision[i] = kPassRelated;
    }
  }

  // 3. Classify: each interface's ACLs in order, first match wins; four packets per call when
  // they share the binding and family (the common case: one interface per vector).
  uint32_t todo[kFrameSize], m = 0;
  for (i = 0; i < n; ++i)
    if (decision[i] == kClassify) todo[m++] = i;
  auto classify_one = [&](uint32_t x) {
    for (uint32_t a = 0; a < bind[x]->n && rule[x] == Classifier4::kNoMatch; ++a) {
      if constexpr (Fam != 6)
        if (family[x] == 4) rule[x] = bind[x]->acl[a]->ip4.lookup(keys.k4[x]);
      if constexpr (Fam != 4)
        if (family[x] == 6) rule[x] = bind[x]->acl[a]->ip6.lookup(keys.k6[x]);
      acl_pos[x] = uint8_t(a);
    }
  };
  for (uint32_t j = 0; j < m;) {
    const uint32_t q[4] = {todo[j], todo[std::min(j + 1, m - 1)], todo[std::min(j + 2, m - 1)], todo[std::min(j + 3, m - 1)]};
    const DirBinding* db = bind[q[0]];
    const uint8_t f = family[q[0]];
    if (j + 4 > m || bind[q[1]] != db || bind[q[2]] != db || bind[q[3]] != db || family[q[1]] != f || family[q[2]] != f ||
        family[q[3]] != f) {
      classify_one(q[0]);
      j += 1;
      continue;
    }
    for (uint32_t a = 0; a < db->n; ++a) {
      uint32_t best[4];
      for (int l = 0; l < 4; ++l) best[l] = rule[q[l]] == Classifier4::kNoMatch ? Classifier4::kNoMatch : 0;
      if constexpr (Fam != 6) {
        if (f == 4) {
          const Key<8>* kp[4] = {&keys.k4[q[0]], &keys.k4[q[1]], &keys.k4[q[2]], &keys.k4[q[3]]};
          db->acl[a]->ip4.lookup4(kp, best);
        }
      }
      if constexpr (Fam != 4) {
        if (f == 6) {
          const Key<16>* kp[4] = {&keys.k6[q[0]], &keys.k6[q[1]], &keys.k6[q[2]], &keys.k6[q[3]]};
          db->acl[a]->ip6.lookup4(kp, best);
        }
      }
      bool all = true;
      for (int l = 0; l < 4; ++l) {
        if (rule[q[l]] == Classifier4::kNoMatch && best[l] != Classifier4::kNoMatch) {
          rule[q[l]] = best[l];
          acl_pos[q[l]] = uint8_t(a);
        }
        all &= rule[q[l]] != Classifier4::kNoMatch;
      }
      if (all) break;
    }
    j += 4;
  }

  // 4. Act.
  uint32_t n_session = 0, n_related = 0, n_created = 0, n_non_ip = 0;
  for (i = 0; i < n; ++i) {
    Buffer* x = b[i];
    const uint32_t ifi = Dir == kInput ? x->rx_if : x->tx_if;
    bool pass = true;
    uint32_t error = 0;
    uint64_t* ic = bind[i] && bind[i]->counters ? bind[i]->counters->at(me, Dir) : nullptr;
    switch (decision[i]) {
      case kPass: break;
      case kPassNonIp: ++n_non_ip; ic[kCntNonIp]++; break;
      case kPassSession: ++n_session; ic[kCntSessionHit]++; break;
      case kPassRelated: ++n_related; ic[kCntRelatedHit]++; break;
      case kMalformed: pass = false; error = kErrMalformed; ic[kCntMalformed]++; break;
      default: {
        const DirBinding& db = *bind[i];
        if (rule[i] == Classifier4::kNoMatch) {
          pass = db.default_permit;
          ic[pass ? kCntPermitDefault : kCntDenyDefault]++;
          if (!pass) error = kErrDenyDefault;
          break;
        }
        const CompiledAcl& acl = *db.acl[acl_pos[i]];
        uint64_t* rc = acl.counters.row(me) + 2 * rule[i];
        rc[0]++;
        rc[1] += x->total_length();
        const Action act = acl.rules[rule[i]].action;
        if (act == Action::Deny) {
          pass = false;
          error = kErrDenyRule;
          ic[kCntDenyRule]++;
          break;
        }
        ic[kCntPermitRule]++;
        if (act != Action::Reflect) break;
        SessionTable* t = ctl.sessions.table[me].load(std::memory_order_acquire);
        bool src_is_a;
        const SessionKey k = key_of(ifi, family[i], &keys.k4[Fam == 6 ? 0 : i], &keys.k6[Fam == 4 ? 0 : i], meta[i], src_is_a);
        const uint32_t h = k.hash();
        uint32_t s = t ? t->find(k, h) : SessionTable::kNone;  // an expired one, or one made earlier in this vector
        if (s == SessionTable::kNone && t) {
          s = t->insert(k, h, src_is_a, now);
          if (s != SessionTable::kNone) {
            ++n_created;
            ic[kCntSessionCreated]++;
          }
        } else if (s != SessionTable::kNone && expired(t->session(s), *timeouts, now)) {
          Session& old = t->session(s);
          old.flags_a.store(0, std::memory_order_relaxed);
          old.flags_b.store(0, std::memory_order_relaxed);
          old.initiator_is_a = src_is_a;
          old.created_tsc = now;
          ++n_created;
          ic[kCntSessionCreated]++;
        }
        if (s == SessionTable::kNone) {
          pass = false;
          error = kErrSessionLimit;
          ic[kCntSessionRefused]++;
          break;
        }
        const uint32_t flags = family[i] == 4 ? keys.k4[Fam == 6 ? 0 : i].v[Family4::kDims] : keys.k6[Fam == 4 ? 0 : i].v[Family6::kDims];
        touch(t->session(s), src_is_a, uint8_t(flags), now);
      }
    }
    if (pass) {
      next[i] = (*Arc)->next(node, x);
    } else {
      next[i] = kNextDrop;
      x->error = node.error_code(error);
    }
    if constexpr (Trace) {
      if (x->flags & kBufTraced) {
        AclTrace t{};
        t.if_index = ifi;
        t.dir = uint8_t(Dir);
        t.family = family[i];
        t.decision = decision[i];
        t.action = 255;
        t.rule = rule[i];
        if (decision[i] == kClassify && rule[i] != Classifier4::kNoMatch) {
          const CompiledAcl& acl = *bind[i]->acl[acl_pos[i]];
          t.action = uint8_t(acl.rules[rule[i]].action);
          std::memcpy(t.acl, acl.name.data(), std::min(acl.name.size(), sizeof t.acl));
        }
        w.trace(node, x, &t, sizeof t);
      }
    }
  }
  if (n_session) w.count_error(node, kErrSessionHit, n_session);
  if (n_related) w.count_error(node, kErrRelated, n_related);
  if (n_created) w.count_error(node, kErrSessionCreated, n_created);
  if (n_non_ip) w.count_error(node, kErrNonIp, n_non_ip);
  // Drops are counted by error-drop under b->error.
  w.enqueue_to_nexts(node, bi, next, n);
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
uint32_t acl_session_aging(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  AclControl& ctl = AclControl::get();
  SessionTable* t = ctl.sessions.table[w.id()].load(std::memory_order_acquire);
  const SessionTimeouts* timeouts = ctl.timeouts.get();
  if (!t || !timeouts || t->count() == 0) return 0;
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
