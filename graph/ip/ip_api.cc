// JavaScript entry points of the L3 feature: tables, interface addresses and table binding,
// routes (bulk: prefixes packed in a Uint32Array), neighbors, knobs. Each validates the whole
// request before changing anything, and names the field that is wrong.
#include <algorithm>
#include <stdexcept>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "l3.h"

namespace quiver {

std::string fib_json(L3& l3, FibTable& t, IpFamily f, const Napi::Object& o);  // ip_show.cc
std::string neighbors_json(L3& l3, IpFamily f);

namespace {

L3& l3_or_throw() {
  if (!Engine::get().running() || !L3::get().running()) throw std::runtime_error("engine: not running");
  return L3::get();
}

IpFamily family_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string f = arg_string(info, i, "family");
  if (f == "ip4") return IpFamily::V4;
  if (f == "ip6") return IpFamily::V6;
  throw std::runtime_error("family: '" + f + "' is not ip4 or ip6");
}

bool parse_ip(const std::string& s, IpFamily* f, IpAddr* a) {
  if (inet_pton(AF_INET, s.c_str(), a->b) == 1) {
    *f = IpFamily::V4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), a->b) == 1) {
    *f = IpFamily::V6;
    return true;
  }
  return false;
}

IpAddr ip_arg(const std::string& s, IpFamily want, const std::string& field) {
  IpFamily f;
  IpAddr a;
  if (!parse_ip(s, &f, &a)) throw std::runtime_error(field + ": '" + s + "' is not an IP address");
  if (f != want) throw std::runtime_error(field + ": '" + s + "' is not an " + (want == IpFamily::V4 ? "IPv4" : "IPv6") + " address");
  return a;
}

// "addr/len" with optional host bits (interface addresses) or not (routes).
void prefix_arg(const std::string& s, IpFamily* f, IpAddr* a, uint8_t* len, bool host_bits_ok, const std::string& field) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) throw std::runtime_error(field + ": '" + s + "' has no prefix length (addr/len)");
  if (!parse_ip(s.substr(0, slash), f, a)) throw std::runtime_error(field + ": '" + s + "' is not an IP prefix");
  const std::string l = s.substr(slash + 1);
  const uint32_t max = *f == IpFamily::V4 ? 32 : 128;
  if (l.empty() || l.size() > 3 || !std::all_of(l.begin(), l.end(), ::isdigit) || uint32_t(std::stoul(l)) > max)
    throw std::runtime_error(field + ": '" + s + "' has a bad prefix length (0.." + std::to_string(max) + ")");
  *len = uint8_t(std::stoul(l));
  if (!host_bits_ok && ip_mask(*f, *a, *len) != *a) throw std::runtime_error(field + ": " + s + " has host bits set");
}

uint32_t table_id_arg(const Napi::CallbackInfo& info, size_t i) { return arg_u32(info, i, "table"); }

// A route's next hops as parsed from {kind, paths: [{via, interface}]}; validated, not applied.
struct RouteSpec {
  uint32_t special = ~0u;  // kLbBlackhole / kLbUnreachable / kLbLocal, or forward
  std::vector<Path> paths;
};

RouteSpec spec_arg(const Napi::Value& v, IpFamily f, const std::string& at) {
  if (!v.IsObject()) throw std::runtime_error(at + ": must be an object");
  Napi::Object o = v.As<Napi::Object>();
  RouteSpec s;
  const std::string kind = opt_string(o, "kind", "forward");
  if (kind == "drop") s.special = kLbBlackhole;
  else if (kind == "unreachable") s.special = kLbUnreachable;
  else if (kind == "local") s.special = kLbLocal;
  else if (kind != "forward") throw std::runtime_error(at + ".kind: '" + kind + "' is not forward, drop, unreachable or local");
  Napi::Value pv = o.Get("paths");
  if (s.special != ~0u) {
    if (pv.IsArray() && pv.As<Napi::Array>().Length()) throw std::runtime_error(at + ".paths: a " + kind + " route has no next hops");
    return s;
  }
  if (!pv.IsArray() || pv.As<Napi::Array>().Length() == 0) throw std::runtime_error(at + ".paths: a forward route needs at least one next hop");
  Napi::Array pa = pv.As<Napi::Array>();
  if (pa.Length() > kMaxPaths) throw std::runtime_error(at + ".paths: at most " + std::to_string(kMaxPaths) + " next hops");
  for (uint32_t i = 0; i < pa.Length(); ++i) {
    const std::string pat = at + ".paths[" + std::to_string(i) + "]";
    if (!pa.Get(i).IsObject()) throw std::runtime_error(pat + ": must be an object");
    Napi::Object po = pa.Get(i).As<Napi::Object>();
    Path p;
    const bool has_via = po.Has("via") && !po.Get("via").IsUndefined();
    const bool has_if = po.Has("interface") && !po.Get("interface").IsUndefined();
    if (!has_via && !has_if) throw std::runtime_error(pat + ": give via, interface or both");
    if (has_if) {
      Interface& intf = interface_arg(po.Get("interface"), (pat + ".interface").c_str());
      p.if_index = intf.index;
    }
    if (has_via) {
      if (!po.Get("via").IsString()) throw std::runtime_error(pat + ".via: must be a string");
      p.nh = ip_arg(po.Get("via").As<Napi::String>().Utf8Value(), f, pat + ".via");
      p.type = Path::Via;
      if (f == IpFamily::V6 && ip6_is_link_local(p.nh.b) && !has_if)
        throw std::runtime_error(pat + ".interface: a link-local next hop needs its interface");
    } else {
      p.type = Path::Attached;
    }
    s.paths.push_back(p);
  }
  return s;
}

uint32_t spec_pathlist(L3& l3, FibTable& t, IpFamily f, const RouteSpec& s) {
  if (s.special != ~0u) return l3.special_pathlist(s.special);
  return l3.pathlist(t.index, f, s.paths);
}

const uint32_t* u32_array(const Napi::Value& v, const char* field, size_t* n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw std::runtime_error(std::string(field) + ": must be a Uint32Array");
  auto a = v.As<Napi::Uint32Array>();
  *n = a.ElementLength();
  return a.Data();
}

IpAddr unpack(IpFamily f, const uint32_t* w) {
  if (f == IpFamily::V4) return IpAddr::v4(htonl(w[0]));
  IpAddr a;
  for (int i = 0; i < 4; ++i) {
    const uint32_t be = htonl(w[i]);
    std::memcpy(a.b + 4 * i, &be, 4);
  }
  return a;
}

Napi::Value json_value(Napi::Env env, const std::string& text) {
  Napi::Object JSON = env.Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(env, text)});
}

}  // namespace

// --- tables ---

QUIVER_NAPI(ipTableAdd) {
  L3& l3 = l3_or_throw();
  const uint32_t id = arg_u32(info, 0, "id");
  Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
  const std::string hash = opt_string(o, "ecmpHash", "five-tuple");
  if (hash != "five-tuple" && hash != "symmetric") throw std::runtime_error("ecmpHash: '" + hash + "' is not five-tuple or symmetric");
  l3.add_table(id, hash == "symmetric", opt_string(o, "name", ""));
  l3.publish();
  return info.Env().Undefined();
}

// ipTableSet(id, {name?, ecmpHash?}): the hash changes for every load-balance set of the table.
QUIVER_NAPI(ipTableSet) {
  L3& l3 = l3_or_throw();
  FibTable& t = l3.table_or_throw(arg_u32(info, 0, "id"), "id");
  Napi::Object o = arg_object(info, 1, "table");
  const std::string hash = opt_string(o, "ecmpHash", t.symmetric ? "symmetric" : "five-tuple");
  if (hash != "five-tuple" && hash != "symmetric") throw std::runtime_error("ecmpHash: '" + hash + "' is not five-tuple or symmetric");
  t.name = opt_string(o, "name", t.name);
  l3.set_table_hash(t, hash == "symmetric");
  return info.Env().Undefined();
}

QUIVER_NAPI(ipTableDelete) {
  l3_or_throw().delete_table(arg_u32(info, 0, "id"));
  return info.Env().Undefined();
}

QUIVER_NAPI(ipTables) {
  L3& l3 = l3_or_throw();
  std::string j = "[";
  bool first = true;
  for (FibTable* t : l3.tables()) {
    if (!first) j += ",";
    first = false;
    j += "{\"id\":" + std::to_string(t->id) + ",\"name\":" + json_str(t->name) + ",\"ecmpHash\":\"" +
         (t->symmetric ? "symmetric" : "five-tuple") + "\",\"interfaces\":" + std::to_string(t->interfaces) +
         ",\"ip4Routes\":" + std::to_string(t->r4.size()) + ",\"ip6Routes\":" + std::to_string(t->f6->size()) +
         ",\"ip4Bytes\":" + std::to_string(l3.memory_bytes(*t, IpFamily::V4)) +
         ",\"ip6Bytes\":" + std::to_string(l3.memory_bytes(*t, IpFamily::V6)) +
         ",\"ip4Plies\":" + std::to_string(t->m4->plies_in_use()) + "}";
  }
  return json_value(info.Env(), j + "]");
}

// --- interfaces ---

QUIVER_NAPI(ipInterfaceTable) {
  L3& l3 = l3_or_throw();
  Interface& intf = interface_arg(info[0], "interface");
  l3.set_interface_table(intf.index, arg_u32(info, 1, "table"));
  return info.Env().Undefined();
}

QUIVER_NAPI(ipAddressAdd) {
  L3& l3 = l3_or_throw();
  Interface& intf = interface_arg(info[0], "interface");
  IpFamily f;
  IpAddr a;
  uint8_t len;
  prefix_arg(arg_string(info, 1, "address"), &f, &a, &len, true, "address");
  const bool announce = info.Length() < 3 || info[2].ToBoolean().Value();
  l3.add_address(intf.index, f, a, len, announce);
  return info.Env().Undefined();
}

QUIVER_NAPI(ipAddressDelete) {
  L3& l3 = l3_or_throw();
  Interface& intf = interface_arg(info[0], "interface");
  IpFamily f;
  IpAddr a;
  uint8_t len;
  prefix_arg(arg_string(info, 1, "address"), &f, &a, &len, true, "address");
  l3.delete_address(intf.index, f, a, len);
  return info.Env().Undefined();
}

// [{interface, index, table, addresses: ["a/len"...], linkLocal}]
QUIVER_NAPI(ipInterfaces) {
  L3& l3 = l3_or_throw();
  std::string j = "[";
  bool first = true;
  for (Interface* i : Engine::get().interfaces()) {
    const IfState& s = l3.if_state(i->index);
    if (!first) j += ",";
    first = false;
    const FibTable* t = l3.table_at(s.fib);
    j += "{\"interface\":" + json_str(i->name) + ",\"index\":" + std::to_string(i->index) + ",\"table\":" +
         std::to_string(t ? t->id : 0) + ",\"addresses\":[";
    for (size_t k = 0; k < s.addrs.size(); ++k) {
      if (k) j += ",";
      j += json_str(prefix_str(s.addrs[k].family, s.addrs[k].addr, s.addrs[k].len));
    }
    j += "],\"linkLocal\":";
    j += s.ip6_enabled ? json_str(ip_str(IpFamily::V6, IpAddr::v6(s.link_local))) : "null";
    j += "}";
  }
  return json_value(info.Env(), j + "]");
}

// --- routes ---

// ipRoutesAdd(table, family, prefixes: Uint32Array, specs: object[], specIndex?: Uint32Array)
// prefixes: [addr, len] (ip4) or [w0, w1, w2, w3, len] (ip6) per route, host-order words.
QUIVER_NAPI(ipRoutesAdd) {
  L3& l3 = l3_or_throw();
  FibTable& t = l3.table_or_throw(table_id_arg(info, 0), "table");
  const IpFamily f = family_arg(info, 1);
  size_t n_words;
  const uint32_t* words = u32_array(info[2], "prefixes", &n_words);
  const uint32_t stride = f == IpFamily::V4 ? 2 : 5;
  if (n_words % stride) throw std::runtime_error("prefixes: length " + std::to_string(n_words) + " is not a multiple of " + std::to_string(stride));
  const size_t n = n_words / stride;
  if (!info[3].IsArray() || info[3].As<Napi::Array>().Length() == 0) throw std::runtime_error("routes: must be a non-empty array");
  Napi::Array sa = info[3].As<Napi::Array>();
  std::vector<RouteSpec> specs;
  for (uint32_t i = 0; i < sa.Length(); ++i) specs.push_back(spec_arg(sa.Get(i), f, "routes[" + std::to_string(i) + "]"));
  const uint32_t* index = nullptr;
  if (info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull()) {
    size_t n_index;
    index = u32_array(info[4], "routeIndex", &n_index);
    if (n_index != n) throw std::runtime_error("routeIndex: has " + std::to_string(n_index) + " entries for " + std::to_string(n) + " prefixes");
  }
  const uint32_t max_len = f == IpFamily::V4 ? 32 : 128;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t* w = words + i * stride;
    const uint32_t len = w[stride - 1];
    const std::string at = "prefixes[" + std::to_string(i) + "]";
    if (len > max_len) throw std::runtime_error(at + ": prefix length " + std::to_string(len) + " exceeds " + std::to_string(max_len));
    const IpAddr a = unpack(f, w);
    if (ip_mask(f, a, uint8_t(len)) != a) throw std::runtime_error(at + ": " + prefix_str(f, a, uint8_t(len)) + " has host bits set");
    if (index && index[i] >= specs.size())
      throw std::runtime_error("routeIndex[" + std::to_string(i) + "]: " + std::to_string(index[i]) + " is not an index into routes");
  }
  l3.reserve_routes(t, f, n);
  // Pathlists first and published, so no FIB leaf names a load-balance set workers lack.
  std::vector<uint32_t> pls;
  for (auto& s : specs) {
    pls.push_back(spec_pathlist(l3, t, f, s));
    l3.pl_ref(pls.back());  // held across the batch: a replaced route must not free it
  }
  l3.publish();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t* w = words + i * stride;
    l3.route_set(t, f, unpack(f, w), uint8_t(w[stride - 1]), kSourceApi, pls[index ? index[i] : 0]);
  }
  for (uint32_t pl : pls) l3.pl_unref(pl);
  l3.resolve_recursive();
  l3.gc();
  l3.publish();
  return Napi::Number::New(info.Env(), double(n));
}

// ipRoutesDelete(table, family, prefixes) -> number removed (absent ones are skipped).
QUIVER_NAPI(ipRoutesDelete) {
  L3& l3 = l3_or_throw();
  FibTable& t = l3.table_or_throw(table_id_arg(info, 0), "table");
  const IpFamily f = family_arg(info, 1);
  size_t n_words;
  const uint32_t* words = u32_array(info[2], "prefixes", &n_words);
  const uint32_t stride = f == IpFamily::V4 ? 2 : 5;
  if (n_words % stride) throw std::runtime_error("prefixes: length is not a multiple of " + std::to_string(stride));
  const size_t n = n_words / stride;
  const uint32_t max_len = f == IpFamily::V4 ? 32 : 128;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t* w = words + i * stride;
    if (w[stride - 1] > max_len) throw std::runtime_error("prefixes[" + std::to_string(i) + "]: bad prefix length");
    const IpAddr a = unpack(f, w);
    if (ip_mask(f, a, uint8_t(w[stride - 1])) != a)
      throw std::runtime_error("prefixes[" + std::to_string(i) + "]: " + prefix_str(f, a, uint8_t(w[stride - 1])) + " has host bits set");
  }
  uint32_t removed = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t* w = words + i * stride;
    removed += l3.route_set(t, f, unpack(f, w), uint8_t(w[stride - 1]), kSourceApi, ~0u);
  }
  l3.resolve_recursive();
  l3.gc();
  l3.publish();
  return Napi::Number::New(info.Env(), removed);
}

// ipFibLookup(table, family, addresses: Uint32Array) -> Uint32Array of load-balance indices:
// the same lookup the packet path does (tests compare it against a reference).
QUIVER_NAPI(ipFibLookup) {
  L3& l3 = l3_or_throw();
  FibTable& t = l3.table_or_throw(table_id_arg(info, 0), "table");
  const IpFamily f = family_arg(info, 1);
  size_t n_words;
  const uint32_t* words = u32_array(info[2], "addresses", &n_words);
  const uint32_t stride = f == IpFamily::V4 ? 1 : 4;
  const size_t n = n_words / stride;
  auto out = Napi::Uint32Array::New(info.Env(), n);
  for (size_t i = 0; i < n; ++i) {
    IpAddr a = f == IpFamily::V4 ? IpAddr::v4(htonl(words[i])) : unpack(IpFamily::V6, words + i * 4);
    out[i] = l3.lookup_lb(t, f, a);
  }
  return out;
}

QUIVER_NAPI(ipFib) {
  L3& l3 = l3_or_throw();
  FibTable& t = l3.table_or_throw(table_id_arg(info, 0), "table");
  const IpFamily f = family_arg(info, 1);
  Napi::Object o = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
  return json_value(info.Env(), fib_json(l3, t, f, o));
}

// --- neighbors ---

QUIVER_NAPI(ipNeighbors) {
  L3& l3 = l3_or_throw();
  return json_value(info.Env(), neighbors_json(l3, family_arg(info, 0)));
}

QUIVER_NAPI(ipNeighborAdd) {
  L3& l3 = l3_or_throw();
  Interface& intf = interface_arg(info[0], "interface");
  IpFamily f;
  IpAddr a;
  const std::string s = arg_string(info, 1, "address");
  if (!parse_ip(s, &f, &a)) throw std::runtime_error("address: '" + s + "' is not an IP address");
  uint8_t mac[6];
  parse_mac(arg_string(info, 2, "mac"), mac, "mac");
  if (mac_is_multicast(mac)) throw std::runtime_error("mac: a neighbor's MAC must be unicast");
  bool resolved = false;
  l3.neighbor_set(intf.index, f, a, mac, true, false, &resolved);
  l3.publish();
  if (resolved) l3_kick_held();
  return info.Env().Undefined();
}

QUIVER_NAPI(ipNeighborDelete) {
  L3& l3 = l3_or_throw();
  Interface& intf = interface_arg(info[0], "interface");
  IpFamily f;
  IpAddr a;
  const std::string s = arg_string(info, 1, "address");
  if (!parse_ip(s, &f, &a)) throw std::runtime_error("address: '" + s + "' is not an IP address");
  if (!l3.neighbor_delete(intf.index, f, a)) throw std::runtime_error("address: no neighbor " + s + " on '" + intf.name + "'");
  l3.publish();
  return info.Env().Undefined();
}

// ipConfig({neighborLimit, neighborAgeSeconds, holdMs, icmpRate, icmpBurst}) -> current values
QUIVER_NAPI(ipConfig) {
  L3& l3 = l3_or_throw();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(info.Env());
  NeighborConfig& nc = l3.neighbor_config();
  const uint32_t limit = opt_u32(o, "neighborLimit", nc.limit);
  const double age = opt_number(o, "neighborAgeSeconds", double(nc.age_ns) / 1e9);
  const uint32_t hold = opt_u32(o, "holdMs", uint32_t(g_l3.hold_ns.load() / 1000000));
  const uint32_t rate = opt_u32(o, "icmpRate", g_l3.icmp_rate.load());
  const uint32_t burst = opt_u32(o, "icmpBurst", g_l3.icmp_burst.load());
  if (limit < 1) throw std::runtime_error("neighborLimit: must be at least 1");
  if (!(age > 0) || age > 86400 * 365) throw std::runtime_error("neighborAgeSeconds: must be > 0");
  if (hold < 1 || hold > 60000) throw std::runtime_error("holdMs: must be 1..60000");
  if (burst < 1) throw std::runtime_error("icmpBurst: must be at least 1");
  nc.limit = limit;
  nc.age_ns = uint64_t(age * 1e9);
  g_l3.hold_ns = uint64_t(hold) * 1000000ull;
  g_l3.icmp_rate = rate;
  g_l3.icmp_burst = burst;
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("neighborLimit", double(nc.limit));
  r.Set("neighborAgeSeconds", double(nc.age_ns) / 1e9);
  r.Set("holdMs", double(hold));
  r.Set("icmpRate", double(rate));
  r.Set("icmpBurst", double(burst));
  r.Set("neighborLearnDroppedLimit", double(l3.learn_dropped_limit));
  return r;
}

}  // namespace quiver
