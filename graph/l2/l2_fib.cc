// MAC table memory and writer-side operations (see l2_fib.h for the concurrency contract).
#include "l2_fib.h"

#include <sys/mman.h>

#include <stdexcept>
#include <string>

namespace quiver {
namespace l2 {

void MacTable::create(uint32_t log2_buckets) {
  destroy();
  const size_t n = size_t(1) << log2_buckets;
  const size_t bucket_bytes = n * sizeof(FibBucket);
  const size_t stamp_bytes = n * kWays * sizeof(uint32_t);
  constexpr size_t kHuge = size_t(2) << 20;
  // Anonymous memory is zeroed (every slot free) and only backed when touched; transparent
  // hugepages, when the kernel grants them, keep random lookups from missing the TLB.
  map_bytes_ = bucket_bytes + stamp_bytes + kHuge;
  map_ = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::runtime_error("l2fib: cannot map " + std::to_string(map_bytes_ >> 20) + " MiB for the MAC table");
  }
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(map_) + kHuge - 1) & ~(kHuge - 1);
  madvise(reinterpret_cast<void*>(aligned), bucket_bytes, MADV_HUGEPAGE);
  buckets_ = reinterpret_cast<FibBucket*>(aligned);
  stamps_ = reinterpret_cast<uint32_t*>(aligned + bucket_bytes);
  mask_ = uint32_t(n - 1);
  shift_ = 64 - log2_buckets;
  size_ = 0;
}

void MacTable::destroy() {
  if (map_) munmap(map_, map_bytes_);
  map_ = nullptr;
  buckets_ = nullptr;
  stamps_ = nullptr;
  size_ = 0;
}

bool MacTable::find(uint64_t key, Pos* p) const {
  FibBucket* b = buckets_ + home(key);
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < kWays; ++i)
      if (b->key[i].load(std::memory_order_relaxed) == key) {
        *p = Pos{b, i};
        return true;
      }
    if (!b->spilled.load(std::memory_order_relaxed)) return false;
    b = buckets_ + alt(key);
  }
  return false;
}

bool MacTable::place(FibBucket& b, uint64_t key, uint32_t value, Pos* p) {
  for (uint32_t i = 0; i < kWays; ++i) {
    if (b.key[i].load(std::memory_order_relaxed)) continue;
    write_begin(b);
    b.value[i].store(value, std::memory_order_relaxed);
    b.key[i].store(key, std::memory_order_relaxed);
    b.hit[i].store(0, std::memory_order_relaxed);
    write_end(b);
    *p = Pos{&b, i};
    return true;
  }
  return false;
}

bool MacTable::insert(uint64_t key, uint32_t value, uint32_t now, Pos* p) {
  FibBucket& h = buckets_[home(key)];
  bool ok = place(h, key, value, p);
  if (!ok) {
    FibBucket& a = buckets_[alt(key)];
    if (&a == &h || h.spilled.load(std::memory_order_relaxed) == 255) return false;
    ok = place(a, key, value, p);
    if (!ok) return false;
    // After the entry is visible: a reader that sees the count finds the key.
    write_begin(h);
    h.spilled.store(uint8_t(h.spilled.load(std::memory_order_relaxed) + 1), std::memory_order_relaxed);
    write_end(h);
  }
  stamp(*p) = now;
  ++size_;
  return true;
}

void MacTable::set_value(Pos p, uint32_t value) {
  write_begin(*p.b);
  p.b->value[p.slot].store(value, std::memory_order_relaxed);
  write_end(*p.b);
}

void MacTable::erase(Pos p) {
  const uint64_t key = p.b->key[p.slot].load(std::memory_order_relaxed);
  write_begin(*p.b);
  p.b->key[p.slot].store(0, std::memory_order_relaxed);
  p.b->value[p.slot].store(0, std::memory_order_relaxed);
  p.b->hit[p.slot].store(0, std::memory_order_relaxed);
  write_end(*p.b);
  FibBucket& h = buckets_[home(key)];
  if (&h != p.b) {
    write_begin(h);
    h.spilled.store(uint8_t(h.spilled.load(std::memory_order_relaxed) - 1), std::memory_order_relaxed);
    write_end(h);
  }
  --size_;
}

}  // namespace l2
}  // namespace quiver
