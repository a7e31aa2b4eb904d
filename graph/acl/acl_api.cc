// N-API entry points of the ACL feature. The TypeScript module (acl.ts) validates first and
// names the field; these check again because the addon is reachable directly.
#include <arpa/inet.h>

#include <cmath>
#include <stdexcept>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/napi/napi.h"
#include "../../native/worker.h"
#include "acl.h"
#include "packet_key.h"

namespace quiver::acl {
namespace {

std::string acl_name_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string name = arg_string(info, i, "name");
  if (name.empty() || name.size() > 64) throw std::runtime_error("name: must be 1 to 64 characters");
  for (char c : name)
    if (!isalnum(uint8_t(c)) && c != '_' && c != '-' && c != '.' && c != ':' && c != '/')
      throw std::runtime_error("name: '" + name + "' may hold letters, digits and _ - . : /");
  return name;
}

const CompiledAcl& acl_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string name = arg_string(info, i, "name");
  const CompiledAcl* a = AclControl::get().find(name);
  if (!a) throw std::runtime_error("name: no ACL named '" + name + "'");
  return *a;
}

Napi::Object classifier_stats(Napi::Env env, const ClassifierStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rules", s.rules);
  o.Set("trees", s.trees);
  o.Set("nodes", s.nodes);
  o.Set("leaves", s.leaves);
  o.Set("ruleCopies", s.rule_copies);
  o.Set("maxDepth", s.max_depth);
  o.Set("maxLeaf", s.max_leaf);
  o.Set("bytes", double(s.bytes));
  return o;
}

Napi::Object acl_summary(Napi::Env env, const CompiledAcl& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", a.name);
  o.Set("rules", uint32_t(a.rules.size()));
  o.Set("buildMs", a.build_ms);
  o.Set("stateful", a.has_reflect);
  o.Set("ip4", classifier_stats(env, a.ip4.stats()));
  o.Set("ip6", classifier_stats(env, a.ip6.stats()));
  return o;
}

std::vector<std::string> string_list(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  if (!o.Has(key) || o.Get(key).IsUndefined()) return out;
  if (!o.Get(key).IsArray()) throw std::runtime_error(std::string(key) + ": must be a list of ACL names");
  Napi::Array a = o.Get(key).As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString()) throw std::runtime_error(std::string(key) + "[" + std::to_string(i) + "]: must be a string");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

bool default_arg(const Napi::Object& o, const char* key) {
  const std::string v = opt_string(o, key, "deny");
  if (v != "deny" && v != "permit") throw std::runtime_error(std::string(key) + ": '" + v + "' is not deny or permit");
  return v == "permit";
}

std::string addr_str(uint8_t family, const uint32_t* words) {
  uint8_t bytes[16];
  for (int i = 0; i < 4; ++i) {
    const uint32_t be = htonl(words[i]);
    std::memcpy(bytes + 4 * i, &be, 4);
  }
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

}  // namespace

// aclSet(name, rules: Uint32Array of kRuleWords per rule): creates or replaces in one call.
QUIVER_NAPI(aclSet) {
  const std::string name = acl_name_arg(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw std::runtime_error("rules: must be a Uint32Array (encodeRules)");
  Napi::Uint32Array words = info[1].As<Napi::Uint32Array>();
  std::vector<Rule> rules = decode_rules(words.Data(), words.ElementLength());
  return acl_summary(info.Env(), AclControl::get().set_acl(name, std::move(rules)));
}

QUIVER_NAPI(aclDelete) {
  AclControl::get().delete_acl(arg_string(info, 0, "name"));
  return info.Env().Undefined();
}

// aclBind(interface, {input?: string[], output?: string[], inputDefault?, outputDefault?}):
// replaces the interface's whole binding; empty lists remove it.
QUIVER_NAPI(aclBind) {
  Interface& intf = interface_arg(info[0], "interface");
  Napi::Object o = arg_object(info, 1, "binding");
  AclControl::Binding b;
  b.acls[kInput] = string_list(o, "input");
  b.acls[kOutput] = string_list(o, "output");
  b.default_permit[kInput] = default_arg(o, "inputDefault");
  b.default_permit[kOutput] = default_arg(o, "outputDefault");
  AclControl::get().bind(intf.index, b);
  return info.Env().Undefined();
}

// aclClassify(name, packets: Buffer, lengths: Uint32Array): each packet an IPv4 or IPv6 packet
// from its IP header on, concatenated. Returns an Int32Array: the first matching rule, -1 for
// no match, -2 for a malformed packet. Runs the packet path's parser and classifier (four at a
// time where four neighbours share a family) without the graph.
QUIVER_NAPI(aclClassify) {
  const CompiledAcl& acl = acl_arg(info, 0);
  if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw std::runtime_error("packets: give a Buffer of packets and a Uint32Array of their lengths");
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Uint32Array lengths = info[2].As<Napi::Uint32Array>();
  const size_t n = lengths.ElementLength();
  Napi::Int32Array out = Napi::Int32Array::New(info.Env(), n);
  std::vector<Key<8>> k4(n);
  std::vector<Key<16>> k6(n);
  std::vector<uint8_t> fam(n);
  size_t off = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t len = lengths[i];
    if (off + len > data.Length()) throw std::runtime_error("lengths[" + std::to_string(i) + "]: runs past the end of packets");
    const uint8_t* p = data.Data() + off;
    FlowMeta m;
    Parsed r = Parsed::Malformed;
    if (len && (p[0] >> 4) == 4) r = parse_ip4(p, len, k4[i], m);
    else if (len && (p[0] >> 4) == 6) r = parse_ip6(p, len, k6[i], m);
    fam[i] = r == Parsed::Ip4 ? 4 : r == Parsed::Ip6 ? 6 : 0;
    off += len;
  }
  auto result = [](uint32_t r) { return r == Classifier4::kNoMatch ? -1 : int32_t(r); };
  for (size_t i = 0; i < n;) {
    if (i + 4 <= n && fam[i] && fam[i] == fam[i + 1] && fam[i] == fam[i + 2] && fam[i] == fam[i + 3]) {
      uint32_t best[4] = {Classifier4::kNoMatch, Classifier4::kNoMatch, Classifier4::kNoMatch, Classifier4::kNoMatch};
      if (fam[i] == 4) {
        const Key<8>* kp[4] = {&k4[i], &k4[i + 1], &k4[i + 2], &k4[i + 3]};
        acl.ip4.lookup4(kp, best);
      } else {
        const Key<16>* kp[4] = {&k6[i], &k6[i + 1], &k6[i + 2], &k6[i + 3]};
        acl.ip6.lookup4(kp, best);
      }
      for (int l = 0; l < 4; ++l) out[i + l] = result(best[l]);
      i += 4;
      continue;
    }
    out[i] = fam[i] == 4 ? result(acl.ip4.lookup(k4[i])) : fam[i] == 6 ? result(acl.ip6.lookup(k6[i])) : -2;
    ++i;
  }
  return out;
}

// aclShow(name?): ACLs with their rules (encoded, as aclSet takes them) and per-rule counters
// summed over workers.
QUIVER_NAPI(aclShow) {
  Napi::Env env = info.Env();
  AclControl& ctl = AclControl::get();
  Napi::Array out = Napi::Array::New(env);
  auto add = [&](const CompiledAcl& a) {
    Napi::Object o = acl_summary(env, a);
    const uint32_t n = uint32_t(a.rules.size());
    Napi::Uint32Array words = Napi::Uint32Array::New(env, size_t(n) * kRuleWords);
    for (uint32_t r = 0; r < n; ++r) encode_rule(a.rules[r], words.Data() + size_t(r) * kRuleWords);
    Napi::BigUint64Array packets = Napi::BigUint64Array::New(env, n), bytes = Napi::BigUint64Array::New(env, n);
    for (uint32_t r = 0; r < n; ++r) {
      uint64_t p = 0, by = 0;
      for (uint32_t w = 0; w < a.counters.workers; ++w) {
        p += a.counters.row(w)[2 * r];
        by += a.counters.row(w)[2 * r + 1];
      }
      packets[r] = p;
      bytes[r] = by;
    }
    o.Set("encoded", words);
    o.Set("packets", packets);
    o.Set("bytes", bytes);
    out.Set(out.Length(), o);
  };
  if (info.Length() > 0 && info[0].IsString()) add(acl_arg(info, 0));
  else
    for (auto& [name, a] : ctl.acls()) add(*a);
  return out;
}

// aclInterfaces(): bindings and their counters.
QUIVER_NAPI(aclInterfaces) {
  Napi::Env env = info.Env();
  Engine& e = Engine::get();
  AclControl& ctl = AclControl::get();
  Napi::Array out = Napi::Array::New(env);
  for (auto& [ifi, b] : ctl.bindings()) {
    Napi::Object o = Napi::Object::New(env);
    Interface* intf = e.interface(ifi);
    o.Set("index", ifi);
    o.Set("interface", intf ? intf->name : std::to_string(ifi));
    const IfCounters* c = ctl.if_counters(ifi);
    for (uint32_t d = 0; d < 2; ++d) {
      Napi::Array names = Napi::Array::New(env);
      for (auto& n : b.acls[d]) names.Set(names.Length(), n);
      o.Set(d == kInput ? "input" : "output", names);
      o.Set(d == kInput ? "inputDefault" : "outputDefault", b.default_permit[d] ? "permit" : "deny");
      Napi::Object counters = Napi::Object::New(env);
      for (uint32_t k = 0; k < uint32_t(kCntNonIp) + 1; ++k) {
        uint64_t v = 0;
        for (uint32_t w = 0; c && w < c->workers; ++w) v += c->at(w, d)[k];
        counters.Set(kIfAclCounterNames[k], Napi::BigInt::New(env, v));
      }
      o.Set(d == kInput ? "inputCounters" : "outputCounters", counters);
    }
    out.Set(out.Length(), o);
  }
  return out;
}

// aclSessions(max = 1000): a snapshot, each worker copying its own table between vectors.
QUIVER_NAPI(aclSessions) {
  Napi::Env env = info.Env();
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const uint32_t max = info.Length() > 0 && info[0].IsNumber() ? arg_u32(info, 0, "max") : 1000;
  AclControl& ctl = AclControl::get();
  struct Row {
    uint32_t worker;
    SessionKey key;
    uint8_t initiator_is_a, flags_a, flags_b;
    bool established;
    uint64_t created, last;
  };
  std::vector<Row> rows;
  uint64_t total = 0;
  for (uint32_t w = 0; w < ctl.sessions.workers; ++w) {
    SessionTable* t = ctl.sessions.table[w].load();
    if (!t) continue;
    e.workers()[w]->run_sync([&](Worker&) {
      total += t->count();
      for (uint32_t i = 0; i < t->capacity() && rows.size() < max; ++i) {
        const Session& s = t->session(i);
        if (!s.live) continue;
        rows.push_back({w, s.key, s.initiator_is_a, s.flags_a.load(), s.flags_b.load(), s.tcp_established(), s.created_tsc,
                        s.last_tsc.load()});
      }
    });
  }
  const uint64_t now = rdtsc();
  const double hz = tsc_hz();
  Napi::Array list = Napi::Array::New(env);
  for (const Row& r : rows) {
    Napi::Object o = Napi::Object::New(env);
    Interface* intf = e.interface(r.key.if_index);
    o.Set("worker", r.worker);
    o.Set("interface", intf ? intf->name : std::to_string(r.key.if_index));
    o.Set("family", r.key.family);
    o.Set("protocol", r.key.proto);
    // Initiator first, as the operator thinks of the flow.
    const bool a_first = r.initiator_is_a;
    o.Set("src", addr_str(r.key.family, a_first ? r.key.a : r.key.b));
    o.Set("dst", addr_str(r.key.family, a_first ? r.key.b : r.key.a));
    o.Set("srcPort", a_first ? r.key.port_a : r.key.port_b);
    o.Set("dstPort", a_first ? r.key.port_b : r.key.port_a);
    std::string state = r.key.proto == 6 ? (r.established ? "established" : "transient") : r.key.proto == 17 ? "udp"
                        : (r.key.proto == 1 || r.key.proto == 58)                      ? "icmp"
                                                                                       : "other";
    o.Set("state", state);
    o.Set("tcpFlagsInitiator", a_first ? r.flags_a : r.flags_b);
    o.Set("tcpFlagsResponder", a_first ? r.flags_b : r.flags_a);
    o.Set("ageSeconds", now > r.created ? double(now - r.created) / hz : 0.0);
    o.Set("idleSeconds", now > r.last ? double(now - r.last) / hz : 0.0);
    list.Set(list.Length(), o);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", double(total));
  out.Set("sessions", list);
  return out;
}

// aclSessionConfig(config?): sets what is given, returns the whole configuration.
QUIVER_NAPI(aclSessionConfig) {
  Napi::Env env = info.Env();
  AclControl& ctl = AclControl::get();
  SessionConfig c = ctl.session_config();
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    c.max_per_worker = opt_u32(o, "maxSessionsPerWorker", c.max_per_worker);
    if (c.max_per_worker < 1 || c.max_per_worker > (1u << 24)) throw std::runtime_error("maxSessionsPerWorker: must be 1..16777216");
    struct {
      const char* key;
      double* v;
    } t[] = {{"tcpEstablished", &c.tcp_established_s}, {"tcpTransient", &c.tcp_transient_s}, {"udp", &c.udp_s},
             {"icmp", &c.icmp_s}, {"other", &c.other_s}};
    for (auto& x : t) {
      const double v = opt_number(o, x.key, *x.v);
      if (!(v >= 0.001 && v <= 31536000)) throw std::runtime_error(std::string(x.key) + ": must be 0.001..31536000 seconds");
      *x.v = v;
    }
    ctl.set_session_config(c);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxSessionsPerWorker", c.max_per_worker);
  out.Set("tcpEstablished", c.tcp_established_s);
  out.Set("tcpTransient", c.tcp_transient_s);
  out.Set("udp", c.udp_s);
  out.Set("icmp", c.icmp_s);
  out.Set("other", c.other_s);
  return out;
}

// aclClearSessions(interface?)
QUIVER_NAPI(aclClearSessions) {
  uint32_t ifi = SessionTable::kNone;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) ifi = interface_arg(info[0], "interface").index;
  AclControl::get().clear_sessions(ifi);
  return info.Env().Undefined();
}

// aclClearCounters(name?): rule counters of one ACL or all. Racing increments may survive.
QUIVER_NAPI(aclClearCounters) {
  AclControl& ctl = AclControl::get();
  if (info.Length() > 0 && info[0].IsString()) const_cast<CompiledAcl&>(acl_arg(info, 0)).counters.clear();
  else
    for (auto& [n, a] : ctl.acls()) a->counters.clear();
  return info.Env().Undefined();
}

}  // namespace quiver::acl
