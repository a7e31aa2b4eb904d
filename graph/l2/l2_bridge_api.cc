// N-API entry points of bridge domains: create/set/delete, members (split horizon, learning,
// BVI), static MACs, and the show/clear views of bridge domains and the MAC table. Every
// change is validated whole before anything is published.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "../../native/worker.h"
#include "../ethernet/ethernet.h"
#include "l2.h"
#include "l2_control.h"

namespace quiver {
namespace l2 {
namespace {

constexpr uint32_t kMaxMacAge = 1000000;  // seconds

uint32_t bd_id_arg(const Napi::Value& v, const char* field) {
  if (!v.IsNumber()) throw std::runtime_error(std::string(field) + ": must be a bridge domain id (a number)");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d < 1 || d > kMaxBridgeDomainId || d != double(uint32_t(d)))
    throw std::runtime_error(std::string(field) + ": " + std::to_string(d) + " is not a bridge domain id (1.." +
                             std::to_string(kMaxBridgeDomainId) + ")");
  return uint32_t(d);
}

uint16_t existing_bd(uint32_t id, const char* field) {
  const uint16_t bd = bd_index_of(*live_runtime().bds.get(), id);
  if (!bd) throw std::runtime_error(std::string(field) + ": no bridge domain " + std::to_string(id));
  return bd;
}

// Reads the settings present in o over b (validated before the caller publishes).
void read_settings(const Napi::Object& o, BdRuntime& b) {
  b.learn = opt_bool(o, "learn", b.learn);
  b.forward = opt_bool(o, "forward", b.forward);
  b.uu_flood = opt_bool(o, "uuFlood", b.uu_flood);
  b.flood = opt_bool(o, "flood", b.flood);
  b.mac_age = opt_u32(o, "macAge", b.mac_age);
  if (b.mac_age > kMaxMacAge) throw std::runtime_error("macAge: " + std::to_string(b.mac_age) + " s exceeds " + std::to_string(kMaxMacAge));
  b.mac_limit = opt_u32(o, "macLimit", b.mac_limit);
  const uint32_t cap = live_runtime().fib.capacity();
  if (b.mac_limit > cap) throw std::runtime_error("macLimit: " + std::to_string(b.mac_limit) + " exceeds the MAC table's capacity " + std::to_string(cap));
}

uint8_t* mac_bytes(uint64_t key, uint8_t* out) {
  std::memcpy(out, &key, 6);
  return out;
}

std::string if_name(uint32_t index) {
  Interface* i = Engine::get().interface(index);
  if (i) return i->name;
  std::string s = "#";
  return s += std::to_string(index);
}

}  // namespace

void sync_l2_direct(uint32_t if_index) {
  const L2If& e = live_runtime().ifs.get()->entry[if_index];
  const bool direct = (e.flags & kL2Member) && !(e.flags & kL2Bvi) && !e.in.active();
  Engine::get().update_runtime(if_index, [&](IfRuntime& r) {
    r.flags = uint8_t(direct ? r.flags | kIfL2Direct : r.flags & ~kIfL2Direct);
  });
}

void bridge_detach(uint32_t if_index) {
  L2Runtime& rt = live_runtime();
  const L2If cur = rt.ifs.get()->entry[if_index];
  if (!(cur.flags & kL2Member)) return;
  const uint16_t bd = cur.bd;
  change_ifs([&](L2IfTable& t) {
    L2If& e = t.entry[if_index];
    e.bd = 0;
    e.shg = 0;
    e.flags = 0;
  });
  change_bds([&](BdTable& t) {
    auto& m = t.bd[bd].members;
    m.erase(std::remove_if(m.begin(), m.end(), [&](const BdMember& x) { return x.if_index == if_index; }), m.end());
    if (t.bd[bd].bvi_if == if_index) t.bd[bd].bvi_if = kInvalidIf;
  });
  Engine::get().update_runtime(if_index, [](IfRuntime& r) {
    if (r.mode == IfMode::Bridge) r.mode = IfMode::L3;
    r.bridge_domain = 0xffffffffu;
    r.flags &= uint8_t(~kIfL2Direct);
  });
  on_writer([&](L2Runtime& w) {
    fib_flush(w, [&](uint64_t key, uint32_t v) { return (key >> 48) == bd && (v & kFibIfMask) == if_index; });
  });
}

void bvi_mac_changing(Interface& intf, const uint8_t* new_mac) {
  L2Runtime* rt = runtime();
  if (!rt) return;
  const L2If cur = rt->ifs.get()->entry[intf.index];
  if (!(cur.flags & kL2Bvi)) return;
  const uint64_t old_key = MacTable::key_of(cur.bd, intf.mac), new_key = MacTable::key_of(cur.bd, new_mac);
  bool ok = true;
  on_writer([&](L2Runtime& w) {
    fib_flush(w, [&](uint64_t key, uint32_t) { return key == old_key; });
    ok = fib_set_static(w, new_key, intf.index | kFibBvi, fib_now(w, rdtsc()));
  });
  if (!ok) throw std::runtime_error("mac: the MAC table has no room for the BVI's new MAC");
}

// l2BridgeCreate({id, learn?, forward?, uuFlood?, flood?, macAge?, macLimit?})
QUIVER_NAPI(l2BridgeCreate) {
  Napi::Object o = arg_object(info, 0, "bridgeDomain");
  L2Runtime& rt = live_runtime();
  if (!has_key(o, "id")) throw std::runtime_error("id: a bridge domain needs an id");
  const uint32_t id = bd_id_arg(o.Get("id"), "id");
  const BdTable& cur = *rt.bds.get();
  if (bd_index_of(cur, id)) throw std::runtime_error("id: bridge domain " + std::to_string(id) + " already exists");
  uint16_t index = 0;
  for (uint32_t i = 1; i < kMaxBridgeDomains && !index; ++i)
    if (!cur.bd[i].valid) index = uint16_t(i);
  if (!index) throw std::runtime_error("id: limit of " + std::to_string(kMaxBridgeDomains - 1) + " bridge domains reached");
  BdRuntime b;
  read_settings(o, b);
  b.valid = 1;
  b.id = id;
  // A recycled index may still own entries of the bridge domain deleted there before.
  on_writer([&](L2Runtime& w) { fib_flush(w, [&](uint64_t key, uint32_t) { return (key >> 48) == index; }); });
  change_bds([&](BdTable& t) { t.bd[index] = b; });
  rt.bridge_domains.fetch_add(1);
  return Napi::Number::New(info.Env(), index);
}

// l2BridgeSet(id, {learn?, forward?, uuFlood?, flood?, macAge?, macLimit?})
QUIVER_NAPI(l2BridgeSet) {
  const uint32_t id = bd_id_arg(info[0], "id");
  Napi::Object o = arg_object(info, 1, "settings");
  const uint16_t bd = existing_bd(id, "id");
  BdRuntime b = live_runtime().bds.get()->bd[bd];
  read_settings(o, b);
  change_bds([&](BdTable& t) { t.bd[bd] = b; });
  return info.Env().Undefined();
}

QUIVER_NAPI(l2BridgeDelete) {
  const uint32_t id = bd_id_arg(info[0], "id");
  const uint16_t bd = existing_bd(id, "id");
  const size_t members = live_runtime().bds.get()->bd[bd].members.size();
  if (members)
    throw std::runtime_error("id: bridge domain " + std::to_string(id) + " still has " + std::to_string(members) +
                             " member(s); remove them first");
  change_bds([&](BdTable& t) { t.bd[bd] = BdRuntime(); });
  live_runtime().bridge_domains.fetch_sub(1);
  on_writer([&](L2Runtime& w) { fib_flush(w, [&](uint64_t key, uint32_t) { return (key >> 48) == bd; }); });
  return info.Env().Undefined();
}

// l2BridgeMemberAdd(id, interface, {splitHorizonGroup?, bvi?, learn?}): joins or, when
// already a member, updates; a member of another bridge domain moves.
QUIVER_NAPI(l2BridgeMemberAdd) {
  const uint32_t id = bd_id_arg(info[0], "id");
  Interface& intf = interface_arg(info[1], "interface");
  Napi::Object o = info.Length() > 2 && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
  const uint16_t bd = existing_bd(id, "id");
  L2Runtime& rt = live_runtime();
  const uint32_t shg = opt_u32(o, "splitHorizonGroup", 0);
  if (shg > 255) throw std::runtime_error("splitHorizonGroup: " + std::to_string(shg) + " is outside 0..255");
  const bool bvi = opt_bool(o, "bvi", false);
  const bool learn = opt_bool(o, "learn", !bvi);
  if (bvi && !is_bvi(intf)) throw std::runtime_error("bvi: '" + intf.name + "' is not a BVI interface");
  if (!bvi && is_bvi(intf)) throw std::runtime_error("bvi: '" + intf.name + "' is a BVI; add it with bvi: true");
  const BdRuntime& b = rt.bds.get()->bd[bd];
  if (bvi && b.bvi_if != kInvalidIf && b.bvi_if != intf.index)
    throw std::runtime_error("bvi: bridge domain " + std::to_string(id) + " already has BVI '" + if_name(b.bvi_if) + "'");
  const L2If cur = rt.ifs.get()->entry[intf.index];
  if ((cur.flags & kL2Member) && cur.bd != bd) bridge_detach(intf.index);
  if (bvi) {
    bool ok = true;
    const uint64_t key = MacTable::key_of(bd, intf.mac);
    on_writer([&](L2Runtime& w) { ok = fib_set_static(w, key, intf.index | kFibBvi, fib_now(w, rdtsc())); });
    if (!ok) throw std::runtime_error("interface: the MAC table has no room for the BVI's MAC");
  }
  change_ifs([&](L2IfTable& t) {
    L2If& e = t.entry[intf.index];
    e.bd = bd;
    e.shg = uint8_t(shg);
    e.flags = uint8_t(kL2Member | (learn ? kL2Learn : 0) | (bvi ? kL2Bvi : 0));
  });
  change_bds([&](BdTable& t) {
    BdRuntime& x = t.bd[bd];
    auto it = std::find_if(x.members.begin(), x.members.end(), [&](const BdMember& m) { return m.if_index == intf.index; });
    if (it == x.members.end()) x.members.push_back(BdMember{intf.index, uint8_t(shg), uint8_t(bvi)});
    else *it = BdMember{intf.index, uint8_t(shg), uint8_t(bvi)};
    if (bvi) x.bvi_if = intf.index;
  });
  // The BVI stays in L3 mode: ethernet-input must hand what it receives to the L3 nodes.
  Engine::get().update_runtime(intf.index, [&](IfRuntime& r) {
    if (!bvi) r.mode = IfMode::Bridge;
    r.bridge_domain = bd;
    r.xconnect_peer = 0xffffffffu;
  });
  sync_l2_direct(intf.index);
  return info.Env().Undefined();
}

QUIVER_NAPI(l2BridgeMemberRemove) {
  Interface& intf = interface_arg(info[0], "interface");
  if (!(live_runtime().ifs.get()->entry[intf.index].flags & kL2Member))
    throw std::runtime_error("interface: '" + intf.name + "' is not in a bridge domain");
  bridge_detach(intf.index);
  return info.Env().Undefined();
}

// l2StaticMacAdd(id, mac, interface): the interface must be a member; replaces a learned entry.
QUIVER_NAPI(l2StaticMacAdd) {
  const uint32_t id = bd_id_arg(info[0], "id");
  uint8_t mac[6];
  parse_mac(arg_string(info, 1, "mac"), mac, "mac");
  if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
  Interface& intf = interface_arg(info[2], "interface");
  const uint16_t bd = existing_bd(id, "id");
  const L2If& e = live_runtime().ifs.get()->entry[intf.index];
  if (!(e.flags & kL2Member) || e.bd != bd)
    throw std::runtime_error("interface: '" + intf.name + "' is not a member of bridge domain " + std::to_string(id));
  const uint32_t value = intf.index | ((e.flags & kL2Bvi) ? kFibBvi : 0);
  bool ok = true;
  on_writer([&](L2Runtime& w) { ok = fib_set_static(w, MacTable::key_of(bd, mac), value, fib_now(w, rdtsc())); });
  if (!ok) throw std::runtime_error("mac: the MAC table has no room for " + mac_str(mac));
  return info.Env().Undefined();
}

QUIVER_NAPI(l2StaticMacDelete) {
  const uint32_t id = bd_id_arg(info[0], "id");
  uint8_t mac[6];
  parse_mac(arg_string(info, 1, "mac"), mac, "mac");
  const uint16_t bd = existing_bd(id, "id");
  const uint64_t key = MacTable::key_of(bd, mac);
  uint32_t removed = 0;
  on_writer([&](L2Runtime& w) {
    removed = fib_flush(w, [&](uint64_t k, uint32_t v) { return k == key && (v & kFibStatic) && !(v & kFibBvi); });
  });
  if (!removed) throw std::runtime_error("mac: no static entry for " + mac_str(mac) + " in bridge domain " + std::to_string(id));
  return info.Env().Undefined();
}

// l2Bridges(id?): [{id, index, settings..., learned, static, bvi, members: [...]}]
QUIVER_NAPI(l2Bridges) {
  L2Runtime& rt = live_runtime();
  const BdTable& t = *rt.bds.get();
  const L2IfTable& ifs = *rt.ifs.get();
  const bool one = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
  const uint16_t only = one ? existing_bd(bd_id_arg(info[0], "id"), "id") : 0;
  std::vector<uint16_t> order;
  for (uint32_t i = 1; i < kMaxBridgeDomains; ++i)
    if (t.bd[i].valid && (!only || i == only)) order.push_back(uint16_t(i));
  std::sort(order.begin(), order.end(), [&](uint16_t a, uint16_t b) { return t.bd[a].id < t.bd[b].id; });
  std::string j = "[";
  for (size_t k = 0; k < order.size(); ++k) {
    const uint16_t i = order[k];
    const BdRuntime& b = t.bd[i];
    auto flag = [](bool v) { return v ? "true" : "false"; };
    j += std::string(k ? "," : "") + "{\"id\":" + std::to_string(b.id) + ",\"index\":" + std::to_string(i) + ",\"learn\":" +
         flag(b.learn) + ",\"forward\":" + flag(b.forward) + ",\"uuFlood\":" + flag(b.uu_flood) + ",\"flood\":" +
         flag(b.flood) + ",\"macAge\":" + std::to_string(b.mac_age) + ",\"macLimit\":" + std::to_string(b.mac_limit) +
         ",\"learned\":" + std::to_string(rt.learned[i].load()) + ",\"static\":" + std::to_string(rt.statics[i].load()) +
         ",\"bvi\":" + (b.bvi_if == kInvalidIf ? "null" : json_str(if_name(b.bvi_if))) + ",\"members\":[";
    for (size_t m = 0; m < b.members.size(); ++m) {
      const BdMember& x = b.members[m];
      const L2If& e = ifs.entry[x.if_index];
      j += std::string(m ? "," : "") + "{\"interface\":" + json_str(if_name(x.if_index)) + ",\"index\":" +
           std::to_string(x.if_index) + ",\"splitHorizonGroup\":" + std::to_string(x.shg) + ",\"bvi\":" + flag(x.bvi) +
           ",\"learn\":" + flag(e.flags & kL2Learn) + "}";
    }
    j += "]}";
  }
  return json_value(info.Env(), j + "]");
}

// l2Fib(id?): [{bridgeDomain, mac, interface, index, static, bvi, age}] sorted by bridge
// domain and MAC; age in seconds since the entry was last seen (null for static entries).
QUIVER_NAPI(l2Fib) {
  L2Runtime& rt = live_runtime();
  const bool one = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
  const uint16_t only = one ? existing_bd(bd_id_arg(info[0], "id"), "id") : 0;
  struct Row {
    uint64_t key;
    uint32_t value, stamp;
    bool hit;
  };
  std::vector<Row> rows;
  uint32_t now = 0;
  on_writer([&](L2Runtime& w) {
    now = fib_now(w, rdtsc());
    for (uint32_t i = 0; i < w.fib.buckets(); ++i) {
      FibBucket* b = w.fib.bucket(i);
      for (uint32_t s = 0; s < MacTable::kWays; ++s) {
        const uint64_t key = b->key[s].load(std::memory_order_relaxed);
        if (!key || (only && (key >> 48) != only)) continue;
        const MacTable::Pos p{b, s};
        rows.push_back(Row{key, w.fib.value(p), w.fib.stamp(p), b->hit[s].load(std::memory_order_relaxed) != 0});
      }
    }
  });
  const BdTable& t = *rt.bds.get();
  auto mac_order = [](uint64_t k) { return __builtin_bswap64(k << 16); };  // MAC bytes in reading order
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    const uint32_t ia = t.bd[a.key >> 48].id, ib = t.bd[b.key >> 48].id;
    return ia != ib ? ia < ib : mac_order(a.key) < mac_order(b.key);
  });
  std::string j = "[";
  uint8_t m[6];
  for (size_t k = 0; k < rows.size(); ++k) {
    const Row& r = rows[k];
    const bool is_static = r.value & kFibStatic;
    const double age = r.hit ? 0.0 : double(now - r.stamp) / kTicksPerSecond;
    char age_s[32];
    snprintf(age_s, sizeof age_s, "%.2f", age);
    j += std::string(k ? "," : "") + "{\"bridgeDomain\":" + std::to_string(t.bd[r.key >> 48].id) + ",\"mac\":" +
         json_str(mac_str(mac_bytes(r.key, m))) + ",\"interface\":" + json_str(if_name(r.value & kFibIfMask)) +
         ",\"index\":" + std::to_string(r.value & kFibIfMask) + ",\"static\":" + (is_static ? "true" : "false") +
         ",\"bvi\":" + ((r.value & kFibBvi) ? "true" : "false") + ",\"age\":" + (is_static ? "null" : age_s) + "}";
  }
  return json_value(info.Env(), j + "]");
}

// l2FibTable(): {entries, buckets, slots, capacity, grows}: the MAC table's current size.
QUIVER_NAPI(l2FibTable) {
  live_runtime();
  uint32_t entries = 0, buckets = 0, capacity = 0, grows = 0;
  on_writer([&](L2Runtime& w) {
    entries = w.fib.size();
    buckets = w.fib.buckets();
    capacity = w.fib.capacity();
    grows = w.fib.grows();
  });
  return json_value(info.Env(), "{\"entries\":" + std::to_string(entries) + ",\"buckets\":" + std::to_string(buckets) +
                                    ",\"slots\":" + std::to_string(uint64_t(buckets) * MacTable::kWays) +
                                    ",\"capacity\":" + std::to_string(capacity) + ",\"grows\":" + std::to_string(grows) + "}");
}

// l2FibClear(id?): removes learned entries (static ones stay); returns how many.
QUIVER_NAPI(l2FibClear) {
  const bool one = info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull();
  const uint16_t only = one ? existing_bd(bd_id_arg(info[0], "id"), "id") : 0;
  uint32_t removed = 0;
  on_writer([&](L2Runtime& w) {
    removed = fib_flush(w, [&](uint64_t key, uint32_t v) { return !(v & kFibStatic) && (!only || (key >> 48) == only); });
  });
  return Napi::Number::New(info.Env(), removed);
}

}  // namespace l2
}  // namespace quiver
