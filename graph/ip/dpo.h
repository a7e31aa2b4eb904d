// The forwarding objects workers read: adjacencies (what to do with a packet once its next hop
// is known), load-balance sets (ECMP buckets over adjacencies, what a FIB leaf names), the
// neighbor map, the per-interface L3 view and the FIB directory. The control side (fib.cc,
// neighbor.cc) builds them and publishes with epochs; workers take each pointer once per
// dispatch call and never keep it across loops.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>

#include "../../native/epoch.h"
#include "../../native/interface.h"
#include "ip_common.h"

namespace quiver {

class Ip4Mtrie;
class Ip6Fib;

enum class AdjKind : uint8_t {
  Unreachable = 0,  // no route: ICMP destination unreachable
  Drop,             // blackhole or special prefix: dropped under `drop_reason`
  Local,            // one of our addresses: ip4-local / ip6-local
  Glean,            // attached subnet: resolve the packet's destination on `if_index`
  Incomplete,       // next hop `next_hop` on `if_index` not resolved yet
  Rewrite,          // next hop resolved: `dst_mac` on `if_index`
};

// Why a Drop adjacency drops; index into the lookup nodes' error lists (kept in this order).
enum DropReason : uint16_t { kDropBlackhole, kDropMulticast, kDropBroadcast, kDropUnresolved, kDropReserved, kDropReasons };

struct alignas(64) Adjacency {
  AdjKind kind = AdjKind::Drop;
  IpFamily family = IpFamily::V4;
  uint16_t drop_reason = kDropBlackhole;
  uint32_t if_index = kInvalidIf;
  uint8_t dst_mac[6] = {};
  uint16_t reserved = 0;
  IpAddr next_hop;  // Incomplete / Rewrite: the neighbor's address
};

constexpr uint32_t kMaxPaths = 16;
constexpr uint32_t kLbBuckets = 16;  // power of two; members fill buckets round robin

// A load-balance set: what a FIB leaf names. One bucket array of adjacency indices; a flow
// hash picks the bucket when there is more than one path.
struct alignas(64) LoadBalance {
  uint16_t n_paths = 1;
  uint8_t symmetric = 0;  // flow hash orders addresses/ports first
  uint8_t reserved = 0;
  uint32_t bucket[kLbBuckets] = {};
  uint32_t pick(uint32_t hash) const { return bucket[hash & (kLbBuckets - 1)]; }
};

// Fixed special objects: these indices exist in every table's LB and adjacency arrays.
enum SpecialLb : uint32_t {
  kLbUnreachable = 0,
  kLbBlackhole,
  kLbMulticast,
  kLbBroadcast,
  kLbLocal,
  kLbUnresolved,
  kLbReserved,
  kLbSpecialCount
};

// Arrays published copy-on-write; `count` entries valid.
struct AdjTable {
  uint32_t count = 0;
  Adjacency* adj = nullptr;
  ~AdjTable() { delete[] adj; }
};
struct LbTable {
  uint32_t count = 0;
  LoadBalance* lb = nullptr;
  ~LbTable() { delete[] lb; }
};

// (interface, address) -> adjacency of every neighbor the control side knows (complete or
// not). Open addressing; rebuilt and republished on each add/remove.
struct NeighborMap {
  struct Slot {
    uint32_t if_index = kInvalidIf;  // kInvalidIf: empty
    uint32_t adj = 0;
    IpAddr addr;
  };
  uint32_t mask = 0;
  Slot* slot = nullptr;
  ~NeighborMap() { delete[] slot; }
  static uint32_t hash(uint32_t if_index, const IpAddr& a) {
    uint64_t x, y;
    std::memcpy(&x, a.b, 8);
    std::memcpy(&y, a.b + 8, 8);
    uint64_t h = _mm_crc32_u64(if_index, x);
    h = _mm_crc32_u64(h, y);
    return uint32_t(h);
  }
  // Adjacency index or ~0u.
  uint32_t find(uint32_t if_index, const IpAddr& a) const {
    if (!slot) return ~0u;
    for (uint32_t i = hash(if_index, a) & mask;; i = (i + 1) & mask) {
      const Slot& s = slot[i];
      if (s.if_index == kInvalidIf) return ~0u;
      if (s.if_index == if_index && s.addr == a) return s.adj;
    }
  }
};

constexpr uint32_t kMaxIfAddrs = 8;  // per family per interface, as the workers see them
struct Ip4IfAddr {
  uint32_t addr;  // network order
  uint8_t len;
};
struct Ip6IfAddr {
  uint8_t addr[16];
  uint8_t len;
};
// What a worker needs per interface: its tables and addresses (ARP/NS sources, ICMP sources,
// ARP/ND targets).
struct IfL3 {
  uint32_t fib4 = 0, fib6 = 0;  // FIB indices (table 0 is index 0)
  uint32_t glean4 = ~0u, glean6 = ~0u;  // glean adjacencies (locally originated link-local egress)
  uint8_t n4 = 0, n6 = 0;
  uint8_t ip6_enabled = 0;      // has a link-local address
  Ip4IfAddr a4[kMaxIfAddrs] = {};
  Ip6IfAddr a6[kMaxIfAddrs] = {};
  uint8_t link_local[16] = {};
  bool has_ip4(uint32_t net) const {
    for (uint32_t i = 0; i < n4; ++i)
      if (a4[i].addr == net) return true;
    return false;
  }
  bool has_ip6(const uint8_t* a) const {
    if (ip6_enabled && std::memcmp(a, link_local, 16) == 0) return true;
    for (uint32_t i = 0; i < n6; ++i)
      if (std::memcmp(a6[i].addr, a, 16) == 0) return true;
    return false;
  }
  // The address to source from towards `dst` on this interface: one whose subnet holds dst,
  // else the first. 0 when the interface has none.
  uint32_t ip4_source_for(uint32_t dst_net) const {
    for (uint32_t i = 0; i < n4; ++i)
      if (((a4[i].addr ^ dst_net) & htonl(mask32(a4[i].len))) == 0) return a4[i].addr;
    return n4 ? a4[0].addr : 0;
  }
  // Link-local destinations get the link-local source; others a global of the same subnet,
  // else the first global, else the link-local. False when IPv6 is off here.
  bool ip6_source_for(const uint8_t* dst, uint8_t* out) const {
    if (!ip6_enabled) return false;
    if (!ip6_is_link_local(dst)) {
      const IpAddr d = IpAddr::v6(dst);
      for (uint32_t i = 0; i < n6; ++i) {
        const IpAddr a = IpAddr::v6(a6[i].addr);
        const uint32_t l = a6[i].len;
        const bool same = ((a.hi() ^ d.hi()) & mask64(l)) == 0 && ((a.lo() ^ d.lo()) & mask64(l > 64 ? l - 64 : 0)) == 0;
        if (same) {
          std::memcpy(out, a6[i].addr, 16);
          return true;
        }
      }
      if (n6) {
        std::memcpy(out, a6[0].addr, 16);
        return true;
      }
    }
    std::memcpy(out, link_local, 16);
    return true;
  }
};
struct IfL3Table {
  IfL3 entry[kMaxInterfaces];
};

constexpr uint32_t kMaxFibs = 1024;

// Everything a worker reads, in one place. FIB objects are long-lived and updated in place
// with atomic leaf stores (small updates are safe there); the pointers below are swapped.
struct L3Dataplane {
  Published<AdjTable> adjs;
  Published<LbTable> lbs;
  Published<NeighborMap> neighbors;
  Published<IfL3Table> ifs;
  std::atomic<Ip4Mtrie*> fib4[kMaxFibs] = {};
  std::atomic<Ip6Fib*> fib6[kMaxFibs] = {};
  // Per worker ICMP error token bucket parameters (shared, changed rarely).
  std::atomic<uint32_t> icmp_rate{1000};   // errors per second per worker
  std::atomic<uint32_t> icmp_burst{100};
  std::atomic<uint64_t> hold_ns{1000000000ull};  // how long a packet may wait for resolution
};
extern L3Dataplane g_l3;

// Snapshot of the published tables a dispatch call uses.
struct L3View {
  const AdjTable* adjs;
  const LbTable* lbs;
  const IfL3Table* ifs;
  static L3View get() { return L3View{g_l3.adjs.get(), g_l3.lbs.get(), g_l3.ifs.get()}; }
};

}  // namespace quiver
