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
  bool operator==(const SessionKey& o) const {
    uint64_t x[5], y[5];
    std::memcpy(x, this, 40);
    std::memcpy(y, &o, 40);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0 && tail() == o.tail();
  }
  uint32_t tail() const {  // family, proto, zero
    uint32_t t;
    std::memcpy(&t, &family, 4);
    return t;
  }
  // IPv4 keys hash only the words that can differ (their upper address words are zero).
  uint32_t hash() const {
    uint64_t w[5];
    std::memcpy(w, this, 40);
    const uint64_t meta = uint64_t(if_index) << 32 | uint32_t(family) | uint32_t(proto) << 8;
    uint64_t h = _mm_crc32_u64(0x9e3779b9, meta);
    if (family == 4) return uint32_t(_mm_crc32_u64(_mm_crc32_u64(h, uint64_t(a[0]) << 32 | b[0]), uint64_t(port_a) << 16 | port_b));
    for (uint64_t x : w) h = _mm_crc32_u64(h, x);
    return uint32_t(h);
  }
};
static_assert(sizeof(SessionKey) == 44);

// Builds the normalized key in place; src_is_a tells which side the packet came from. Written
// as whole 64-bit words: narrow stores read back by wide loads would stall store forwarding.
__attribute__((always_inline)) inline void make_session_key(SessionKey& k, uint32_t if_index, uint8_t family, uint8_t proto, const uint32_t* src,
                             const uint32_t* dst, uint16_t sport, uint16_t dport, bool& src_is_a) {
  const int words = family == 4 ? 1 : 4;
  int cmp = 0;
  for (int i = 0; i < words && cmp == 0; ++i) cmp = src[i] < dst[i] ? -1 : src[i] > dst[i] ? 1 : 0;
  if (cmp == 0) cmp = sport < dport ? -1 : sport > dport ? 1 : 0;
  src_is_a = cmp <= 0;
  const uint32_t* a = src_is_a ? src : dst;
  const uint32_t* b = src_is_a ? dst : src;
  // Words from registers straight into k (a local array would be copied with a wide load that
  // stalls on its own narrow stores).
  uint64_t w0, w1, w2, w3;
  if (family == 4) {
    w0 = a[0];
    w1 = 0;
    w2 = b[0];
    w3 = 0;
  } else {
    w0 = a[0] | uint64_t(a[1]) << 32;
    w1 = a[2] | uint64_t(a[3]) << 32;
    w2 = b[0] | uint64_t(b[1]) << 32;
    w3 = b[2] | uint64_t(b[3]) << 32;
  }
  const uint16_t pa = src_is_a ? sport : dport, pb = src_is_a ? dport : sport;
  const uint64_t w4 = uint64_t(pa) | uint64_t(pb) << 16 | uint64_t(if_index) << 32;
  const uint32_t tail = uint32_t(family) | uint32_t(proto) << 8;
  char* out = reinterpret_cast<char*>(&k);
  std::memcpy(out, &w0, 8);
  std::memcpy(out + 8, &w1, 8);
  std::memcpy(out + 16, &w2, 8);
  std::memcpy(out + 24, &w3, 8);
  std::memcpy(out + 32, &w4, 8);
  std::memcpy(out + 40, &tail, 4);
}
inline SessionKey make_session_key(uint32_t if_index, uint8_t family, uint8_t proto, const uint32_t* src, const uint32_t* dst,
                                   uint16_t sport, uint16_t dport, bool& src_is_a) {
  SessionKey k;
  make_session_key(k, if_index, family, proto, src, dst, sport, dport, src_is_a);
  return k;
}

// One cache line.
struct alignas(64) Session {
  SessionKey key;
  uint8_t live = 0;
  uint8_t initiator_is_a = 0;
  std::atomic<uint8_t> flags_a{0}, flags_b{0};  // TCP flags seen from each side
  std::atomic<uint64_t> last_tsc{0};
  union {
    uint64_t created_tsc = 0;  // live
    uint32_t next_free;        // free: the next free session
  };

  bool tcp_established() const {
    const uint8_t fa = flags_a.load(std::memory_order_relaxed), fb = flags_b.load(std::memory_order_relaxed);
    const uint8_t both = kTcpSyn | kTcpAck;
    return (fa & both) == both && (fb & both) == both && !((fa | fb) & (kTcpFin | kTcpRst));
  }
};

static_assert(sizeof(Session) == 64);

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
