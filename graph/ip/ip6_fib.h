// IPv6 longest-prefix match: one open-addressing hash of (masked prefix, length), plus bitmaps
// that say which lengths are worth probing for a given address.
//
// Probing every present length (VPP's scheme) costs one cache miss per length: with 1M
// prefixes over ~20 lengths that is ~20 misses a packet. So two bitmaps say which lengths are
// worth probing for a given address:
//   lengths  1..32   indexed by the address's top 16 bits (direct, 64 Ki x 32 bits): the
//                    lengths of the prefixes that cover or lie under those 16 bits
//   lengths 33..128  hashed by the address's top 32 bits (16 bytes an entry): the lengths of
//                    the prefixes that start with those 32 bits
// A lookup reads the two (independent) entries, probes only the lengths they name, longest
// first, and stops at the first hit; no candidate left means the default route, whose result
// is kept aside. A typical lookup is the two bitmap loads plus one probe. Bits are never
// cleared by a delete (a stale bit costs one wasted probe); a rebuild starts them clean.
//
// Slots carry both what workers read (key, length, state, load-balance index) and what the
// control side keeps per prefix (the pathlist of each route source): 32 bytes, two per line.
// Concurrency: an insert sets its band bit, fills a never-used slot and release-stores its
// state last; a delete stores a tombstone; a result change is one 32-bit store. Tombstones are
// reclaimed only by a rebuild, which publishes a new array (epoch reclamation frees the old).
#pragma once
#include <nmmintrin.h>

#include <atomic>
#include <cstdint>
#include <functional>

#include "ip_common.h"

namespace quiver {

class EpochManager;

struct alignas(32) Ip6Slot {
  uint64_t hi, lo;  // masked prefix, host order halves
  uint8_t len;
  uint8_t state;    // kEmpty / kValid / kDead
  uint8_t special;  // control: special route kind (0 none)
  uint8_t reserved;
  uint32_t lb;      // what workers read
  uint32_t pl_api;  // control: pathlist per route source, ~0u when absent
  uint32_t pl_if;
};
static_assert(sizeof(Ip6Slot) == 32);

class Ip6Fib {
 public:
  static constexpr uint8_t kEmpty = 0, kValid = 1, kDead = 2;
  // Lengths 33..128 of prefixes sharing one value of the top 32 bits (hashed).
  struct Band32 {
    uint64_t d;  // bit i: length 65 + i
    uint16_t c;  // bit i: length 49 + i
    uint16_t b;  // bit i: length 33 + i
    uint32_t reserved;
  };
  struct Array {
    uint64_t mask = 0;  // slots - 1
    Ip6Slot* slot = nullptr;
    uint32_t* band16 = nullptr;  // 65536: bit i = length i + 1 (1..32), by the top 16 bits
    Band32* band32 = nullptr;
    uint64_t band_mask = 0;      // band32 entries - 1
    uint64_t bytes = 0;
    void* base = nullptr;
    ~Array();
  };

  Ip6Fib(uint32_t default_lb, EpochManager* epochs);
  ~Ip6Fib();
  Ip6Fib(const Ip6Fib&) = delete;
  Ip6Fib& operator=(const Ip6Fib&) = delete;

  static uint64_t hash(uint64_t hi, uint64_t lo, uint32_t len) {
    uint64_t h = _mm_crc32_u64(len, hi);
    h = _mm_crc32_u64(h, lo);
    return h * 0x9e3779b97f4a7c15ull >> 20;
  }
  static uint32_t index32(const Array* a, uint64_t hi) {
    return uint32_t((_mm_crc32_u64(0x5bd1e995u, hi >> 32) * 0x9e3779b97f4a7c15ull >> 24) & a->band_mask);
  }

  // The lengths worth probing for an address, longest first.
  struct Candidates {
    uint64_t d;    // bit i: length 65 + i
    uint32_t cb;   // bits 0..15: length 33 + i; bits 16..31: length 49 + i
    uint32_t a;    // bit i: length 1 + i
    // Pops the longest remaining length; false when none is left (the default applies).
    bool next(uint32_t* len) {
      if (d) {
        const uint32_t i = 63 - uint32_t(__builtin_clzll(d));
        d &= ~(uint64_t(1) << i);
        *len = 65 + i;
        return true;
      }
      if (cb) {
        const uint32_t i = 31 - uint32_t(__builtin_clz(cb));
        cb &= ~(1u << i);
        *len = 33 + i;
        return true;
      }
      if (a) {
        const uint32_t i = 31 - uint32_t(__builtin_clz(a));
        a &= ~(1u << i);
        *len = 1 + i;
        return true;
      }
      return false;
    }
  };

  // --- packet path: in steps so ip6-lookup can prefetch between them ---
  const Array* array() const { return arr_.load(std::memory_order_acquire); }
  static void prefetch_bands(const Array* a, uint64_t hi) {
    __builtin_prefetch(&a->band16[hi >> 48]);
    __builtin_prefetch(&a->band32[index32(a, hi)]);
  }
  static Candidates candidates(const Array* a, uint64_t hi) {
    const Band32& e = a->band32[index32(a, hi)];
    return Candidates{__atomic_load_n(&e.d, __ATOMIC_RELAXED),
                      uint32_t(__atomic_load_n(&e.b, __ATOMIC_RELAXED)) | uint32_t(__atomic_load_n(&e.c, __ATOMIC_RELAXED)) << 16,
                      __atomic_load_n(&a->band16[hi >> 48], __ATOMIC_RELAXED)};
  }
  static const Ip6Slot* first_slot(const Array* a, uint64_t hi, uint64_t lo, uint32_t len) {
    return &a->slot[hash(hi & mask64(len), lo & mask64(len > 64 ? len - 64 : 0), len) & a->mask];
  }
  // The load-balance index of prefix (hi, lo)/len, or ~0u.
  static uint32_t probe(const Array* a, uint64_t hi, uint64_t lo, uint32_t len) {
    const uint64_t mh = hi & mask64(len), ml = lo & mask64(len > 64 ? len - 64 : 0);
    for (uint64_t i = hash(mh, ml, len) & a->mask;; i = (i + 1) & a->mask) {
      const Ip6Slot& s = a->slot[i];
      const uint8_t st = __atomic_load_n(&s.state, __ATOMIC_ACQUIRE);
      if (st == kEmpty) return ~0u;
      if (st == kValid && s.hi == mh && s.lo == ml && s.len == len) return __atomic_load_n(&s.lb, __ATOMIC_RELAXED);
    }
  }
  // Probes the candidates in order; the default route's result when none matches.
  uint32_t resolve(const Array* a, uint64_t hi, uint64_t lo, Candidates c) const {
    uint32_t len;
    while (c.next(&len)) {
      const uint32_t lb = probe(a, hi, lo, len);
      if (lb != ~0u) return lb;
    }
    return default_lb_.load(std::memory_order_relaxed);
  }
  uint32_t lookup(uint64_t hi, uint64_t lo) const {
    const Array* a = array();
    return resolve(a, hi, lo, candidates(a, hi));
  }

  // --- control side ---
  // The slot of exactly prefix/len, or null.
  Ip6Slot* find(uint64_t hi, uint64_t lo, uint8_t len);
  // Creates the slot (not yet visible: call publish_slot after filling lb/pathlists).
  Ip6Slot* insert(uint64_t hi, uint64_t lo, uint8_t len);
  void publish_slot(Ip6Slot* s);
  void set_lb(Ip6Slot* s, uint32_t lb) {
    __atomic_store_n(&s->lb, lb, __ATOMIC_RELEASE);
    if (s->len == 0) default_lb_.store(lb, std::memory_order_release);
  }
  void remove(Ip6Slot* s);
  // Grows (and drops tombstones and stale band bits) so `more` inserts fit without a rebuild.
  void reserve(uint64_t more);
  uint64_t size() const { return n_valid_; }
  uint64_t memory_bytes() const { return arr_.load()->bytes; }
  void for_each(const std::function<void(const Ip6Slot&)>& fn) const;

 private:
  void rebuild(uint64_t capacity);
  void mark_band(Array* a, uint64_t hi, uint32_t len);

  std::atomic<Array*> arr_{nullptr};
  uint64_t n_valid_ = 0, n_dead_ = 0;
  std::atomic<uint32_t> default_lb_;  // the result of ::/0 (no probe needed)
  EpochManager* epochs_;
};

}  // namespace quiver
