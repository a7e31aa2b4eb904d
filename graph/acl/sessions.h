// Reflexive ACL sessions: per worker, a fixed-size pool of sessions and an open-addressing
// hash table on the normalized 5-tuple (plus interface), so a packet and its reply find the
// same entry. Only the owning worker inserts and removes (packets insert; the aging process
// node removes); other workers may look entries up read-only, guarded by a generation counter
// that the owner bumps around removals (a seqlock), and refresh a session's time with relaxed
// atomics. No locks, no allocation on the packet path.
#pragma once
#include <nmmintrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace quiver::acl {

constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

// Normalized: endpoint a is the smaller (address, port) pair, so both directions share a key.
struct SessionKey {
  uint32_t a[4], b[4];  // address words, host order; IPv4 in word 0
  uint16_t port_a, port_b;
  uint32_t if_index;
  uint8_t family, proto;
  uint16_t zero;
  bool operator==(const SessionKey& o) const { return std::memcmp(this, &o, sizeof *this) == 0; }
  uint32_t hash() const {
    uint64_t w[6];
    std::memcpy(w, this, 40);
    w[5] = uint64_t(if_index) << 32 | uint32_t(family) | uint32_t(proto) << 8;
    uint64_t h = 0x9e3779b9;
    for (uint64_t x : w) h = _mm_crc32_u64(h, x);
    return uint32_t(h);
  }
};
static_assert(sizeof(SessionKey) == 44);

// Builds the normalized key; src_is_a tells which side the packet came from.
inline SessionKey make_session_key(uint32_t if_index, uint8_t family, uint8_t proto, const uint32_t* src, const uint32_t* dst,
                                   uint16_t sport, uint16_t dport, bool& src_is_a) {
  const int words = family == 4 ? 1 : 4;
  int cmp = 0;
  for (int i = 0; i < words && cmp == 0; ++i) cmp = src[i] < dst[i] ? -1 : src[i] > dst[i] ? 1 : 0;
  if (cmp == 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
  src_is_a = cmp <= 0;
  SessionKey k;
  std::memset(&k, 0, sizeof k);
  const uint32_t* a = src_is_a ? src : dst;
  const uint32_t* b = src_is_a ? dst : src;
  for (int i = 0; i < words; ++i) {
    k.a[i] = a[i];
    k.b[i] = b[i];
  }
  k.port_a = src_is_a ? sport : dport;
  k.port_b = src_is_a ? dport : sport;
  k.if_index = if_index;
  k.family = family;
  k.proto = proto;
  return k;
}

struct alignas(64) Session {
  SessionKey key;
  uint8_t live = 0;
  uint8_t initiator_is_a = 0;
  std::atomic<uint8_t> flags_a{0}, flags_b{0};  // TCP flags seen from each side
  std::atomic<uint64_t> last_tsc{0};
  uint64_t created_tsc = 0;
  uint32_t next_free = 0;

  bool tcp_established() const {
    const uint8_t fa = flags_a.load(std::memory_order_relaxed), fb = flags_b.load(std::memory_order_relaxed);
    const uint8_t both = kTcpSyn | kTcpAck;
    return (fa & both) == both && (fb & both) == both && !((fa | fb) & (kTcpFin | kTcpRst));
  }
};

// Idle timeouts in TSC ticks.
struct SessionTimeouts {
  uint64_t tcp_established, tcp_transient, udp, icmp, other;
  uint64_t of(const Session& s) const {
    switch (s.key.proto) {
      case 6: return s.tcp_established() ? tcp_established : tcp_transient;
      case 17: return udp;
      case 1:
      case 58: return icmp;
      default: return other;
    }
  }
};

class SessionTable {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;

  explicit SessionTable(uint32_t max_sessions);
  uint32_t capacity() const { return max_; }
  uint32_t count() const { return count_; }

  // Owner: the session index or kNone.
  uint32_t find(const SessionKey& k, uint32_t h) const {
    for (uint32_t i = h & mask_;; i = (i + 1) & mask_) {
      const uint64_t s = slots_[i].load(std::memory_order_relaxed);
      if (uint32_t(s) == kNone) return kNone;
      if (uint32_t(s >> 32) == h && pool_[uint32_t(s)].key == k) return uint32_t(s);
    }
  }
  // Owner, batched lookups: the slot line first, then the first session whose slot carries the
  // hash (its key still to be compared), kNone when the probe reaches an empty slot.
  void prefetch_slot(uint32_t h) const { __builtin_prefetch(&slots_[h & mask_]); }
  uint32_t first_tag(uint32_t h) const {
    for (uint32_t i = h & mask_;; i = (i + 1) & mask_) {
      const uint64_t s = slots_[i].load(std::memory_order_relaxed);
      if (uint32_t(s) == kNone) return kNone;
      if (uint32_t(s >> 32) == h) return uint32_t(s);
    }
  }
  // Another worker: a consistent answer or kNone (a removal in progress reads as a miss).
  uint32_t find_shared(const SessionKey& k, uint32_t h) const {
    const uint64_t g = gen_.load(std::memory_order_acquire);
    if (g & 1) return kNone;
    uint32_t found = kNone;
    for (uint32_t i = h & mask_, n = 0; n <= mask_; i = (i + 1) & mask_, ++n) {
      const uint64_t s = slots_[i].load(std::memory_order_acquire);
      if (uint32_t(s) == kNone) break;
      if (uint32_t(s >> 32) == h && uint32_t(s) < max_ && pool_[uint32_t(s)].key == k) {
        found = uint32_t(s);
        break;
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    return gen_.load(std::memory_order_relaxed) == g ? found : kNone;
  }
  // Owner: a new session, or kNone when the table is full.
  uint32_t insert(const SessionKey& k, uint32_t h, bool initiator_is_a, uint64_t now);
  // Owner: removes sessions idle longer than their timeout, looking at up to `budget` pool
  // entries from where the last sweep stopped. Returns how many it removed.
  uint32_t sweep(uint64_t now, const SessionTimeouts& t, uint32_t budget);
  // Owner: removes every session of an interface (or all with kNone).
  uint32_t flush(uint32_t if_index);
  // Owner: moves every live session of `old` here (a resize); returns how many did not fit.
  uint32_t absorb(const SessionTable& old);

  Session& session(uint32_t i) { return pool_[i]; }
  const Session& session(uint32_t i) const { return pool_[i]; }

 private:
  void remove(uint32_t idx);

  uint32_t max_;
  uint32_t mask_;
  uint32_t count_ = 0;
  uint32_t free_head_;
  uint32_t sweep_cursor_ = 0;
  std::atomic<uint64_t> gen_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;  // hash << 32 | session, kNone when empty
  std::unique_ptr<Session[]> pool_;
};

}  // namespace quiver::acl
