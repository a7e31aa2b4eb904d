// `show ip fib` / `show ip6 fib` and `show ip neighbors` as JSON text (formatted for people
// on the TypeScript side).
#include <algorithm>

#include "../../native/clock.h"

#include "../../native/engine.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "l3.h"

namespace quiver {

namespace {

struct Row {
  IpAddr addr;
  uint8_t len;
  uint8_t special;
  uint32_t pl_api, pl_if;
};

std::string if_name(uint32_t i) {
  Interface* intf = Engine::get().interface(i);
  return intf ? intf->name : std::to_string(i);
}

const char* special_name(uint32_t lb) {
  static const char* names[kLbSpecialCount] = {"unreachable", "drop", "multicast", "broadcast", "local", "unresolved", "reserved"};
  return lb < kLbSpecialCount ? names[lb] : "forward";
}

const char* adj_kind(AdjKind k) {
  switch (k) {
    case AdjKind::Unreachable: return "unreachable";
    case AdjKind::Drop: return "drop";
    case AdjKind::Local: return "local";
    case AdjKind::Glean: return "glean";
    case AdjKind::Incomplete: return "incomplete";
    case AdjKind::Rewrite: return "rewrite";
  }
  return "?";
}

std::string adj_json(const L3& l3, uint32_t a, IpFamily f) {
  const Adjacency& ad = l3.adjs()[a];
  std::string j = "{\"adjacency\":" + std::to_string(a) + ",\"kind\":\"" + adj_kind(ad.kind) + "\"";
  if (ad.if_index != kInvalidIf) j += ",\"interface\":" + json_str(if_name(ad.if_index));
  if (ad.kind == AdjKind::Incomplete || ad.kind == AdjKind::Rewrite) j += ",\"nextHop\":" + json_str(ip_str(f, ad.next_hop));
  if (ad.kind == AdjKind::Rewrite) j += ",\"mac\":" + json_str(mac_str(ad.dst_mac));
  return j + "}";
}

std::string row_json(const L3& l3, IpFamily f, const Row& r) {
  const char* source = r.pl_if != ~0u ? "interface" : r.pl_api != ~0u ? "api" : "special";
  const uint32_t pl_id = r.pl_if != ~0u ? r.pl_if : r.pl_api;
  const uint32_t lb = pl_id != ~0u ? l3.pathlist_at(pl_id).lb : uint32_t(r.special - 1u);
  std::string j = "{\"prefix\":" + json_str(prefix_str(f, r.addr, r.len)) + ",\"source\":\"" + source + "\",\"kind\":\"" +
                  special_name(lb) + "\",\"loadBalance\":" + std::to_string(lb);
  if (lb >= kLbSpecialCount) {
    const PathList& pl = l3.pathlist_at(pl_id);
    j += ",\"paths\":[";
    for (size_t i = 0; i < pl.paths.size(); ++i) {
      const Path& p = pl.paths[i];
      if (i) j += ",";
      j += "{";
      if (p.type == Path::Attached) j += "\"attached\":true";
      else j += "\"via\":" + json_str(ip_str(f, p.nh));
      if (p.if_index != kInvalidIf) j += ",\"interface\":" + json_str(if_name(p.if_index));
      if (p.dead) j += ",\"dead\":true";
      j += "}";
    }
    j += "],\"resolved\":[";
    const LoadBalance& b = l3.lbs()[lb];
    for (uint32_t i = 0; i < b.n_paths; ++i) {
      if (i) j += ",";
      j += adj_json(l3, b.bucket[i], f);
    }
    j += "]";
  }
  return j + "}";
}

}  // namespace

std::string fib_json(L3& l3, FibTable& t, IpFamily f, const Napi::Object& o) {
  std::vector<Row> rows;
  if (f == IpFamily::V4) {
    t.r4.for_each([&](const Ip4Route& r) { rows.push_back({IpAddr::v4(htonl(r.prefix)), r.len, r.special, r.pl_api, r.pl_if}); });
  } else {
    t.f6->for_each([&](const Ip6Slot& s) {
      IpAddr a;
      const uint64_t h = __builtin_bswap64(s.hi), l = __builtin_bswap64(s.lo);
      std::memcpy(a.b, &h, 8);
      std::memcpy(a.b + 8, &l, 8);
      rows.push_back({a, s.len, s.special, s.pl_api, s.pl_if});
    });
  }
  const size_t total = rows.size();
  const std::string want = opt_string(o, "prefix", "");
  if (!want.empty()) {
    // "addr/len": that exact route; "addr": the route a packet to addr matches (LPM).
    const size_t slash = want.find('/');
    IpAddr a;
    if (inet_pton(f == IpFamily::V4 ? AF_INET : AF_INET6, want.substr(0, slash).c_str(), a.b) != 1)
      throw std::runtime_error("prefix: '" + want + "' is not an " + (f == IpFamily::V4 ? "IPv4" : "IPv6") + " address or prefix");
    const uint32_t max = f == IpFamily::V4 ? 32 : 128;
    int len = -1;
    if (slash != std::string::npos) {
      const std::string l = want.substr(slash + 1);
      if (l.empty() || !std::all_of(l.begin(), l.end(), ::isdigit) || std::stoul(l) > max)
        throw std::runtime_error("prefix: '" + want + "' has a bad prefix length");
      len = int(std::stoul(l));
    }
    std::vector<Row> hit;
    if (len >= 0) {
      const IpAddr m = ip_mask(f, a, uint8_t(len));
      for (const Row& r : rows)
        if (r.len == len && r.addr == m) hit.push_back(r);
    } else {
      const Row* best = nullptr;
      for (const Row& r : rows)
        if ((!best || r.len > best->len) && ip_mask(f, a, r.len) == r.addr) best = &r;
      if (best) hit.push_back(*best);
    }
    rows.swap(hit);
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    const int c = std::memcmp(x.addr.b, y.addr.b, 16);
    return c != 0 ? c < 0 : x.len < y.len;
  });
  const uint32_t limit = opt_u32(o, "limit", 10000);
  std::string j = "{\"table\":" + std::to_string(t.id) + ",\"family\":\"" + (f == IpFamily::V4 ? "ip4" : "ip6") +
                  "\",\"routes\":" + std::to_string(total) + ",\"entries\":[";
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    if (i) j += ",";
    j += row_json(l3, f, rows[i]);
  }
  return j + "]}";
}

std::string neighbors_json(L3& l3, IpFamily f) {
  const uint64_t now = monotonic_ns();
  std::string j = "[";
  bool first = true;
  for (const Neighbor* n : l3.neighbors(f)) {
    if (!first) j += ",";
    first = false;
    static const char* states[] = {"incomplete", "reachable", "static"};
    j += "{\"interface\":" + json_str(if_name(n->if_index)) + ",\"address\":" + json_str(ip_str(f, n->addr)) +
         ",\"mac\":" + (n->state == Neighbor::Incomplete ? std::string("null") : json_str(mac_str(n->mac))) +
         ",\"state\":\"" + states[n->state] + "\",\"ageSeconds\":" + std::to_string(double(now - n->updated_ns) / 1e9) +
         ",\"routes\":" + std::to_string(n->refs) + "}";
  }
  return j + "]";
}

}  // namespace quiver
