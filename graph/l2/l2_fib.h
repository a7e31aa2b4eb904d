// The MAC table (l2fib): one hash table for every bridge domain, keyed by (bridge domain
// index, MAC).
//
// Layout: 64-byte buckets of four entries (keys, values, one "hit" byte each) and a sequence
// number; a key has a home bucket and an alternative bucket. It lives in its home bucket
// unless that was full when it was learned; the home bucket then counts it in `spilled`, so a
// lookup reads one cache line unless the home bucket overflowed. When both buckets of a new
// key are full, an entry of one of them moves to its own other bucket to make room (one level
// of cuckoo displacement), which keeps inserts from failing up to ~75% load; the table is
// grown before it passes 50%.
//
// Concurrency: exactly one writer, worker 0's thread (learning there inline, learn events of
// other workers through LearnQueue, aging, and control-side changes sent with run_sync).
// Readers on any worker use the bucket's sequence number as a seqlock: an odd value or a
// changed value means retry. Readers never write, except the hit byte (a relaxed store, only
// when it is still 0), which aging turns into a fresh timestamp; a hit landing on a slot that
// changed meanwhile only refreshes an entry early, which is harmless.
#pragma once
#include <immintrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "../../native/epoch.h"

namespace quiver {
namespace l2 {

// Value bits.
constexpr uint32_t kFibIfMask = 0xffff;
constexpr uint32_t kFibStatic = 1u << 16;
constexpr uint32_t kFibBvi = 1u << 17;     // the BVI's own MAC: frames go up to L3
constexpr uint32_t kFibValid = 1u << 31;   // every stored value has it, so 0 means "absent"

struct alignas(64) FibBucket {
  std::atomic<uint32_t> seq;
  std::atomic<uint8_t> hit[4];
  std::atomic<uint8_t> spilled;  // entries whose home is this bucket living in their alternative
  uint8_t pad[7];
  std::atomic<uint64_t> key[4];  // 0: free slot (bridge domain index 0 never exists)
  std::atomic<uint32_t> value[4];
};
static_assert(sizeof(FibBucket) == 64);

// One size of the table: the bucket array (and the writer's stamps) in one mapping. Readers
// take the current layout once per vector (MacTable::layout()) and use it throughout.
struct MacLayout {
  FibBucket* buckets = nullptr;
  uint32_t* stamps = nullptr;  // writer-only: last time each slot was seen (10 ms ticks)
  uint32_t mask = 0;
  uint32_t shift = 64;
  void* map = nullptr;
  size_t map_bytes = 0;

  static MacLayout* create(uint32_t log2_buckets);  // null when the memory cannot be mapped
  static void destroy(MacLayout* l);
  uint32_t buckets_count() const { return mask + 1; }
  uint32_t home(uint64_t key) const { return uint32_t((key * 0x9e3779b97f4a7c15ull) >> shift); }
  uint32_t alt(uint64_t key) const { return uint32_t(_mm_crc32_u64(0x5bd1e995u, key)) & mask; }
  FibBucket* home_bucket(uint64_t key) const { return buckets + home(key); }

  // --- readers (any worker) ---
  // The value stored for key (0: absent); *where/*slot locate it for touch().
  __attribute__((always_inline)) uint32_t lookup(uint64_t key, FibBucket** where, uint32_t* slot) const {
    return lookup_from(buckets + home(key), key, where, slot);
  }
  // The same, from the key's home bucket (computed earlier, e.g. when prefetching).
  __attribute__((always_inline)) uint32_t lookup_from(FibBucket* b, uint64_t key, FibBucket** where, uint32_t* slot) const {
    uint32_t spilled;
    uint32_t v = read_bucket(*b, key, slot, &spilled);
    if (__builtin_expect(v != 0 || spilled == 0, 1)) {
      *where = b;
      return v;
    }
    b = buckets + alt(key);
    *where = b;
    return read_bucket(*b, key, slot, &spilled);
  }

  // One seqlock-consistent probe of a bucket: the four keys compared at once.
  static uint32_t read_bucket(const FibBucket& b, uint64_t key, uint32_t* slot, uint32_t* spilled) {
    const __m256i want = _mm256_set1_epi64x(int64_t(key));
    for (;;) {
      const uint32_t s = b.seq.load(std::memory_order_acquire);
      const __m256i keys = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&b.key[0]));
      const uint32_t m = uint32_t(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(keys, want))));
      const uint32_t at = uint32_t(__builtin_ctz(m | 0x10)) & 3;
      const uint32_t v = m ? b.value[at].load(std::memory_order_relaxed) : 0;
      const uint32_t sp = b.spilled.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (__builtin_expect(!(s & 1) && b.seq.load(std::memory_order_relaxed) == s, 1)) {
        *slot = at;
        *spilled = sp;
        return v;
      }
      _mm_pause();
    }
  }
};

// The table grows: it starts at kInitialLog2Buckets (256 KiB) and doubles, on the writer's
// thread, whenever an insert would take it past half full, up to the maximum size. A small
// bridge keeps a small, cache-resident table; the old layout is freed after an epoch grace
// period (readers on other workers may still be in a vector with it).
class MacTable {
 public:
  static constexpr uint32_t kWays = 4;
  static constexpr uint32_t kInitialLog2Buckets = 12;  // 4096 buckets, 16384 entries, 256 KiB
  static constexpr uint32_t kMaxLog2Buckets = 17;      // 131072 buckets, 524288 entries, 8 MiB

  MacTable() = default;
  ~MacTable() { destroy(); }
  MacTable(const MacTable&) = delete;
  MacTable& operator=(const MacTable&) = delete;
  // epochs: where retired layouts wait for their grace period (null: freed at once, tests).
  void create(EpochManager* epochs, uint32_t max_log2 = kMaxLog2Buckets, uint32_t initial_log2 = kInitialLog2Buckets);
  void destroy();
  // Entries the table can ever hold (a bridge domain's macLimit cannot exceed it).
  uint32_t capacity() const { return (1u << max_log2_) * kWays; }
  const MacLayout* layout() const { return layout_.load(std::memory_order_acquire); }

  // Key of a MAC in a frame: reads 8 bytes at p (the frame has them: a MAC is followed by
  // another MAC or the ethertype), keeps 6.
  static uint64_t key_in_frame(uint32_t bd, const uint8_t* p) {
    uint64_t m;
    std::memcpy(&m, p, 8);
    return (m & 0xffffffffffffull) | (uint64_t(bd) << 48);
  }
  static uint64_t key_of(uint32_t bd, const uint8_t* mac) {
    uint64_t m = 0;
    std::memcpy(&m, mac, 6);
    return m | (uint64_t(bd) << 48);
  }
  // Marks an entry as seen for aging. Writes only when the byte is still clear.
  static void touch(FibBucket* b, uint32_t slot) {
    if (!b->hit[slot].load(std::memory_order_relaxed)) b->hit[slot].store(1, std::memory_order_relaxed);
  }

  // --- writer (worker 0's thread only); positions are in the current layout ---
  struct Pos {
    FibBucket* b = nullptr;
    uint32_t slot = 0;
  };
  uint32_t buckets() const { return cur_->buckets_count(); }
  FibBucket* bucket(uint32_t i) const { return cur_->buckets + i; }
  bool find(uint64_t key, Pos* p) const;
  // Inserts an absent key (growing the table first when it is half full); false when no
  // room can be made.
  bool insert(uint64_t key, uint32_t value, uint32_t now, Pos* p);
  void set_value(Pos p, uint32_t value);
  void erase(Pos p);
  uint32_t value(Pos p) const { return p.b->value[p.slot].load(std::memory_order_relaxed); }
  uint64_t key(Pos p) const { return p.b->key[p.slot].load(std::memory_order_relaxed); }
  uint32_t& stamp(Pos p) { return cur_->stamps[uint32_t(p.b - cur_->buckets) * kWays + p.slot]; }
  uint32_t size() const { return size_; }
  uint32_t grows() const { return grows_; }

 private:
  static void write_begin(FibBucket& b) {
    b.seq.store(b.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  static void write_end(FibBucket& b) { b.seq.store(b.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  static void add_spilled(FibBucket& h, int delta);
  static bool place(MacLayout& l, FibBucket& b, uint64_t key, uint32_t value, uint8_t hit, uint32_t stamp, Pos* p);
  static bool insert_into(MacLayout& l, uint64_t key, uint32_t value, uint8_t hit, uint32_t stamp, Pos* p);
  static bool make_room(MacLayout& l, FibBucket& b);
  void grow();

  std::atomic<MacLayout*> layout_{nullptr};
  MacLayout* cur_ = nullptr;  // the writer's view of layout_
  EpochManager* epochs_ = nullptr;
  uint32_t max_log2_ = kMaxLog2Buckets;
  uint32_t grow_limit_ = kMaxLog2Buckets;  // lowered to the current size when growing failed
  uint32_t log2_ = 0;
  uint32_t size_ = 0;
  uint32_t grows_ = 0;
};

}  // namespace l2
}  // namespace quiver
