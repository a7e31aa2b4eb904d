// Sessions on the packet path: keys from parsed packets (and from an ICMP error's embedded
// packet), lookups batched over a vector with prefetch (hash, then slot, then session), state
// updates. Included by acl_node.cc only.
#pragma once
#include <atomic>
#include <cstdint>

#include "../../native/headers/ip.h"
#include "../../native/node.h"
#include "classifier.h"
#include "packet_key.h"
#include "sessions.h"

namespace quiver::acl {

inline void key_of(SessionKey& out, uint32_t if_index, uint8_t family, const Key<8>* k4, const Key<16>* k6, const FlowMeta& m, bool& src_is_a) {
  if (family == 4)
    make_session_key(out, if_index, 4, uint8_t(k4->v[Family4::kProto]), &k4->v[0], &k4->v[1], m.sport, m.dport, src_is_a);
  else
    make_session_key(out, if_index, 6, uint8_t(k6->v[Family6::kProto]), &k6->v[0], &k6->v[4], m.sport, m.dport, src_is_a);
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
  if (s.last_tsc.load(std::memory_order_relaxed) != now) s.last_tsc.store(now, std::memory_order_relaxed);
  if (s.key.proto != kIpProtoTcp || !tcp_flags) return;
  auto& f = (src_is_a ? s.flags_a : s.flags_b);
  if ((f.load(std::memory_order_relaxed) & tcp_flags) != tcp_flags) f.fetch_or(tcp_flags, std::memory_order_relaxed);
}

inline bool expired(const Session& s, const SessionTimeouts& t, uint64_t now) {
  const uint64_t last = s.last_tsc.load(std::memory_order_relaxed);
  return now > last && now - last > t.of(s);
}

// A live session in another worker's table (read-only there), or null.
inline Session* find_elsewhere(const SessionRuntime& sr, uint32_t self, const SessionKey& k, uint32_t h, const SessionTimeouts& t,
                               uint64_t now) {
  for (uint32_t w = 0; w < sr.workers; ++w) {
    if (w == self) continue;
    SessionTable* other = sr.table[w].load(std::memory_order_acquire);
    if (!other) continue;
    const uint32_t i = other->find_shared(k, h);
    if (i != SessionTable::kNone && !expired(other->session(i), t, now)) return &other->session(i);
  }
  return nullptr;
}

inline Session* find_session(const SessionRuntime& sr, uint32_t self, const SessionKey& k, uint32_t h, const SessionTimeouts& t,
                             uint64_t now) {
  if (SessionTable* own = sr.table[self].load(std::memory_order_acquire)) {
    const uint32_t i = own->find(k, h);
    if (i != SessionTable::kNone) return expired(own->session(i), t, now) ? nullptr : &own->session(i);
  }
  return find_elsewhere(sr, self, k, h, t, now);
}

// One packet's session lookup through the batch.
struct SessionProbe {
  SessionKey key;
  uint32_t hash;
  uint32_t candidate;  // session whose slot tag matched (key not yet compared)
  uint16_t packet;
  uint8_t src_is_a;
};

// Looks up `m` probes: hashes and slot prefetches first, then tag probes and session
// prefetches, then the key comparisons, so the misses of a vector overlap instead of queueing.
// Returns a session per probe (null: none live).
inline void lookup_sessions(const SessionRuntime& sr, uint32_t self, SessionProbe* p, uint32_t m, const SessionTimeouts& t, uint64_t now,
                            Session** out) {
  SessionTable* own = sr.table[self].load(std::memory_order_acquire);
  for (uint32_t j = 0; j < m; ++j) {
    p[j].hash = p[j].key.hash();
    if (own) own->prefetch_slot(p[j].hash);
  }
  for (uint32_t j = 0; j < m; ++j) {
    p[j].candidate = own ? own->first_tag(p[j].hash) : SessionTable::kNone;
    if (p[j].candidate != SessionTable::kNone) __builtin_prefetch(&own->session(p[j].candidate));
  }
  for (uint32_t j = 0; j < m; ++j) {
    uint32_t i = p[j].candidate;
    if (i != SessionTable::kNone && !(own->session(i).key == p[j].key)) i = own->find(p[j].key, p[j].hash);  // a tag collision
    if (i != SessionTable::kNone) out[j] = expired(own->session(i), t, now) ? nullptr : &own->session(i);
    else out[j] = sr.workers > 1 ? find_elsewhere(sr, self, p[j].key, p[j].hash, t, now) : nullptr;
  }
}

}  // namespace quiver::acl
