// MAC table memory and writer-side operations (see l2_fib.h for the concurrency contract).
#include "l2_fib.h"

#include <sys/mman.h>

#include <stdexcept>
#include <string>

namespace quiver {
namespace l2 {

MacLayout* MacLayout::create(uint32_t log2_buckets) {
  const size_t n = size_t(1) << log2_buckets;
  const size_t bucket_bytes = n * sizeof(FibBucket);
  const size_t stamp_bytes = n * MacTable::kWays * sizeof(uint32_t);
  constexpr size_t kHuge = size_t(2) << 20;
  // Anonymous memory is zeroed (every slot free) and only backed when touched; transparent
  // hugepages, when the kernel grants them, keep random lookups from missing the TLB.
  auto* l = new MacLayout();
  l->map_bytes = bucket_bytes + stamp_bytes + kHuge;
  l->map = mmap(nullptr, l->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (l->map == MAP_FAILED) {
    delete l;
    return nullptr;
  }
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(l->map) + kHuge - 1) & ~(kHuge - 1);
  madvise(reinterpret_cast<void*>(aligned), bucket_bytes, MADV_HUGEPAGE);
  l->buckets = reinterpret_cast<FibBucket*>(aligned);
  l->stamps = reinterpret_cast<uint32_t*>(aligned + bucket_bytes);
  l->mask = uint32_t(n - 1);
  l->shift = 64 - log2_buckets;
  return l;
}

void MacLayout::destroy(MacLayout* l) {
  if (!l) return;
  if (l->map) munmap(l->map, l->map_bytes);
  delete l;
}

void MacTable::create(EpochManager* epochs, uint32_t max_log2, uint32_t initial_log2) {
  destroy();
  epochs_ = epochs;
  max_log2_ = max_log2;
  grow_limit_ = max_log2;
  log2_ = initial_log2 < max_log2 ? initial_log2 : max_log2;
  cur_ = MacLayout::create(log2_);
  if (!cur_) throw std::runtime_error("l2fib: cannot map memory for the MAC table (" + std::to_string(log2_) + " bits of buckets)");
  layout_.store(cur_, std::memory_order_release);
  size_ = 0;
  grows_ = 0;
}

void MacTable::destroy() {
  MacLayout::destroy(cur_);
  cur_ = nullptr;
  layout_.store(nullptr, std::memory_order_release);
  size_ = 0;
}

bool MacTable::find(uint64_t key, Pos* p) const {
  FibBucket* b = cur_->home_bucket(key);
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < kWays; ++i)
      if (b->key[i].load(std::memory_order_relaxed) == key) {
        *p = Pos{b, i};
        return true;
      }
    if (!b->spilled.load(std::memory_order_relaxed)) return false;
    b = cur_->buckets + cur_->alt(key);
  }
  return false;
}

void MacTable::add_spilled(FibBucket& h, int delta) {
  write_begin(h);
  h.spilled.store(uint8_t(h.spilled.load(std::memory_order_relaxed) + delta), std::memory_order_relaxed);
  write_end(h);
}

bool MacTable::place(MacLayout& l, FibBucket& b, uint64_t key, uint32_t value, uint8_t hit, uint32_t stamp, Pos* p) {
  for (uint32_t i = 0; i < kWays; ++i) {
    if (b.key[i].load(std::memory_order_relaxed)) continue;
    write_begin(b);
    b.value[i].store(value, std::memory_order_relaxed);
    b.key[i].store(key, std::memory_order_relaxed);
    b.hit[i].store(hit, std::memory_order_relaxed);
    write_end(b);
    l.stamps[uint32_t(&b - l.buckets) * kWays + i] = stamp;
    *p = Pos{&b, i};
    return true;
  }
  return false;
}

// Frees a slot of the full bucket b by moving one of its entries to that entry's other bucket.
// The entry is written there first and removed here after (with its home's `spilled` count
// updated in the same section), so a reader always finds it in one of the two.
bool MacTable::make_room(MacLayout& l, FibBucket& b) {
  for (uint32_t i = 0; i < kWays; ++i) {
    const uint64_t key = b.key[i].load(std::memory_order_relaxed);
    FibBucket& home = l.buckets[l.home(key)];
    FibBucket& alt = l.buckets[l.alt(key)];
    const bool at_home = &b == &home;
    FibBucket& to = at_home ? alt : home;
    if (&to == &b || (at_home && home.spilled.load(std::memory_order_relaxed) == 255)) continue;
    Pos moved;
    const uint32_t stamp = l.stamps[uint32_t(&b - l.buckets) * kWays + i];
    if (!place(l, to, key, b.value[i].load(std::memory_order_relaxed), b.hit[i].load(std::memory_order_relaxed), stamp, &moved))
      continue;
    write_begin(b);
    b.key[i].store(0, std::memory_order_relaxed);
    b.value[i].store(0, std::memory_order_relaxed);
    b.hit[i].store(0, std::memory_order_relaxed);
    // Leaving home for the alternative: home now has one more spilled; coming back: one less.
    if (at_home) b.spilled.store(uint8_t(b.spilled.load(std::memory_order_relaxed) + 1), std::memory_order_relaxed);
    write_end(b);
    if (!at_home) add_spilled(home, -1);
    return true;
  }
  return false;
}

bool MacTable::insert_into(MacLayout& l, uint64_t key, uint32_t value, uint8_t hit, uint32_t stamp, Pos* p) {
  FibBucket& h = l.buckets[l.home(key)];
  if (place(l, h, key, value, hit, stamp, p)) return true;
  FibBucket& a = l.buckets[l.alt(key)];
  const bool can_spill = &a != &h && h.spilled.load(std::memory_order_relaxed) < 255;
  if (can_spill && place(l, a, key, value, hit, stamp, p)) {
    add_spilled(h, 1);  // after the entry is visible: a reader that sees the count finds the key
    return true;
  }
  if (make_room(l, h)) return place(l, h, key, value, hit, stamp, p);
  if (can_spill && make_room(l, a) && place(l, a, key, value, hit, stamp, p)) {
    add_spilled(h, 1);
    return true;
  }
  return false;
}

// Rehashes every entry into a layout twice the size and publishes it. Runs on the writer's
// thread, in the middle of a vector when learning triggers it; readers switch at their next
// vector, and the old layout is freed once no worker can still be in one with it. When no
// larger layout can be had (no memory), the table stays at its size for good: inserts then
// fill it as far as displacement allows and never retry the rehash per packet.
void MacTable::grow() {
  // A rehash that cannot place every entry (possible only for a tiny table) tries the next size.
  for (uint32_t log2 = log2_ + 1; log2 <= max_log2_; ++log2) {
    MacLayout* next = MacLayout::create(log2);
    if (!next) break;
    bool placed = true;
    for (uint32_t i = 0; i <= cur_->mask && placed; ++i) {
      FibBucket& b = cur_->buckets[i];
      for (uint32_t s = 0; s < kWays && placed; ++s) {
        const uint64_t key = b.key[s].load(std::memory_order_relaxed);
        Pos p;
        placed = !key || insert_into(*next, key, b.value[s].load(std::memory_order_relaxed),
                                     b.hit[s].load(std::memory_order_relaxed), cur_->stamps[i * kWays + s], &p);
      }
    }
    if (!placed) {
      MacLayout::destroy(next);
      continue;
    }
    MacLayout* old = cur_;
    cur_ = next;
    log2_ = log2;
    ++grows_;
    layout_.store(next, std::memory_order_seq_cst);
    if (epochs_) epochs_->retire([old] { MacLayout::destroy(old); });
    else MacLayout::destroy(old);
    return;
  }
  grow_limit_ = log2_;
}

bool MacTable::insert(uint64_t key, uint32_t value, uint32_t now, Pos* p) {
  if (log2_ < grow_limit_ && uint64_t(size_ + 1) * 2 > uint64_t(cur_->buckets_count()) * kWays) grow();
  if (!insert_into(*cur_, key, value, 0, now, p)) return false;
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
  FibBucket& h = cur_->buckets[cur_->home(key)];
  if (&h != p.b) add_spilled(h, -1);
  --size_;
}

}  // namespace l2
}  // namespace quiver
