// IPv6 longest-prefix match: one open-addressing hash of (masked prefix, length) plus a bitmap
// of the lengths present. A lookup probes the present lengths from longest to shortest and
// stops at the first hit; the default (::/0) is always present, so every lookup ends.
// Why a hash and not a trie: 1M IPv6 prefixes in 16-8-8-style plies cost several KiB each
// (sparse 128-bit space), while a 32-byte slot per prefix at load <= 0.75 holds 1M in 64 MiB.
// The cost is one probe per present length; real tables have 10-20 distinct lengths and the
// four packets of a quad are probed level by level, so their cache misses overlap.
//
// Slots carry both what workers read (key, length, state, load-balance index) and what the
// control side keeps per prefix (the pathlist of each route source), in one 32-byte line half.
// Concurrency: inserts fill a never-used slot and release-store its state last; deletes store
// a tombstone; result changes are one 32-bit store. Tombstones are reclaimed only by a rebuild,
// which publishes a new slot array (epoch reclamation frees the old one).
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
  struct Array {
    uint64_t mask = 0;
    Ip6Slot* slot = nullptr;
    uint64_t bytes = 0;
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

  // --- packet path ---
  uint32_t lookup(uint64_t hi, uint64_t lo) const {
    const Array* a = arr_.load(std::memory_order_acquire);
    uint64_t w[3] = {present_[0].load(std::memory_order_relaxed), present_[1].load(std::memory_order_relaxed),
                     present_[2].load(std::memory_order_relaxed)};
    for (int word = 2; word >= 0; --word) {
      uint64_t m = w[word];
      while (m) {
        const uint32_t bit = 63 - uint32_t(__builtin_clzll(m));
        m &= ~(uint64_t(1) << bit);
        const uint32_t len = uint32_t(word) * 64 + bit;
        const uint64_t mh = hi & mask64(len), ml = lo & mask64(len > 64 ? len - 64 : 0);
        for (uint64_t i = hash(mh, ml, len) & a->mask;; i = (i + 1) & a->mask) {
          const Ip6Slot& s = a->slot[i];
          const uint8_t st = __atomic_load_n(&s.state, __ATOMIC_ACQUIRE);
          if (st == kEmpty) break;
          if (st == kValid && s.hi == mh && s.lo == ml && s.len == len) return __atomic_load_n(&s.lb, __ATOMIC_RELAXED);
        }
      }
    }
    return default_lb_;  // only while ::/0 is being replaced
  }
  // Prefetches the longest present length's slot for a packet about to be looked up.
  void prefetch(uint64_t hi, uint64_t lo) const {
    const Array* a = arr_.load(std::memory_order_relaxed);
    const uint32_t len = longest_.load(std::memory_order_relaxed);
    const uint64_t mh = hi & mask64(len), ml = lo & mask64(len > 64 ? len - 64 : 0);
    __builtin_prefetch(&a->slot[hash(mh, ml, len) & a->mask]);
  }

  // --- control side ---
  // The slot of exactly prefix/len, or null.
  Ip6Slot* find(uint64_t hi, uint64_t lo, uint8_t len);
  // Creates the slot (not yet visible: call publish_slot after filling lb/pathlists).
  Ip6Slot* insert(uint64_t hi, uint64_t lo, uint8_t len);
  void publish_slot(Ip6Slot* s);
  void set_lb(Ip6Slot* s, uint32_t lb) { __atomic_store_n(&s->lb, lb, __ATOMIC_RELEASE); }
  void remove(Ip6Slot* s);
  // Grows (and drops tombstones) so that `more` inserts fit without another rebuild.
  void reserve(uint64_t more);
  uint64_t size() const { return n_valid_; }
  uint64_t memory_bytes() const { return arr_.load()->bytes; }
  void for_each(const std::function<void(const Ip6Slot&)>& fn) const;

 private:
  void rebuild(uint64_t capacity);
  void update_longest();

  std::atomic<Array*> arr_{nullptr};
  std::atomic<uint64_t> present_[3] = {};  // bit len%64 of word len/64: some prefix of that length exists
  std::atomic<uint32_t> longest_{0};
  uint32_t count_[129] = {};
  uint64_t n_valid_ = 0, n_dead_ = 0;
  uint32_t default_lb_;
  EpochManager* epochs_;
};

}  // namespace quiver
