#include "ip6_fib.h"

#include <sys/mman.h>

#include <stdexcept>

#include "../../native/epoch.h"

namespace quiver {

namespace {
// Slots and band tables in one mapping (zero pages: every slot kEmpty, every band clear).
Ip6Fib::Array* new_array(uint64_t capacity) {
  auto* a = new Ip6Fib::Array();
  const uint64_t bands = capacity / 2 < 1024 ? 1024 : capacity / 2;
  const uint64_t slot_bytes = capacity * sizeof(Ip6Slot);
  const uint64_t b16_bytes = 65536 * 4, b32_bytes = bands * sizeof(Ip6Fib::Band32);
  a->bytes = slot_bytes + b16_bytes + b32_bytes;
  void* p = mmap(nullptr, a->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    delete a;
    throw std::runtime_error("table: cannot allocate memory for an IPv6 FIB");
  }
  if (a->bytes >= (8u << 20)) madvise(p, a->bytes, MADV_HUGEPAGE);
  auto* base = static_cast<uint8_t*>(p);
  a->base = p;
  a->slot = reinterpret_cast<Ip6Slot*>(base);
  a->mask = capacity - 1;
  a->band32 = reinterpret_cast<Ip6Fib::Band32*>(base + slot_bytes);
  a->band16 = reinterpret_cast<uint32_t*>(base + slot_bytes + b32_bytes);
  a->band_mask = bands - 1;
  return a;
}
}  // namespace

Ip6Fib::Array::~Array() {
  if (base) munmap(base, bytes);
}

Ip6Fib::Ip6Fib(uint32_t default_lb, EpochManager* epochs) : default_lb_(default_lb), epochs_(epochs) {
  arr_.store(new_array(64));
}

Ip6Fib::~Ip6Fib() { delete arr_.load(); }

void Ip6Fib::mark_band(Array* a, uint64_t hi, uint32_t len) {
  if (len == 0) return;  // the default needs no bit: it is what remains
  if (len <= 32) {
    // Every top-16 value the prefix covers (a /8 covers 256 of them; a /17../32 one).
    const uint32_t first = uint32_t(hi >> 48), span = len >= 16 ? 1u : 1u << (16 - len);
    for (uint32_t i = first; i < first + span; ++i) __atomic_fetch_or(&a->band16[i], 1u << (len - 1), __ATOMIC_RELEASE);
    return;
  }
  Band32& e = a->band32[index32(a, hi)];
  if (len <= 48) __atomic_fetch_or(&e.b, uint16_t(1u << (len - 33)), __ATOMIC_RELEASE);
  else if (len <= 64) __atomic_fetch_or(&e.c, uint16_t(1u << (len - 49)), __ATOMIC_RELEASE);
  else __atomic_fetch_or(&e.d, uint64_t(1) << (len - 65), __ATOMIC_RELEASE);
}

Ip6Slot* Ip6Fib::find(uint64_t hi, uint64_t lo, uint8_t len) {
  Array* a = arr_.load();
  for (uint64_t i = hash(hi, lo, len) & a->mask;; i = (i + 1) & a->mask) {
    Ip6Slot& s = a->slot[i];
    if (s.state == kEmpty) return nullptr;
    if (s.state == kValid && s.hi == hi && s.lo == lo && s.len == len) return &s;
  }
}

void Ip6Fib::reserve(uint64_t more) {
  const Array* a = arr_.load();
  const uint64_t cap = a->mask + 1;
  if ((n_valid_ + n_dead_ + more) * 4 <= cap * 3) return;
  uint64_t want = 64;
  while ((n_valid_ + more) * 2 > want) want *= 2;  // rebuild to at most half full
  rebuild(want);
}

void Ip6Fib::rebuild(uint64_t capacity) {
  Array* old = arr_.load();
  Array* a = new_array(capacity);
  for (uint64_t i = 0; i <= old->mask; ++i) {
    const Ip6Slot& s = old->slot[i];
    if (s.state != kValid) continue;
    mark_band(a, s.hi, s.len);
    for (uint64_t j = hash(s.hi, s.lo, s.len) & a->mask;; j = (j + 1) & a->mask) {
      if (a->slot[j].state != kEmpty) continue;
      a->slot[j] = s;
      break;
    }
  }
  n_dead_ = 0;
  arr_.store(a, std::memory_order_seq_cst);
  if (epochs_) epochs_->retire([old] { delete old; });
  else delete old;
}

Ip6Slot* Ip6Fib::insert(uint64_t hi, uint64_t lo, uint8_t len) {
  reserve(1);
  Array* a = arr_.load();
  // Never reuse a tombstone in place: a worker that read the old slot's state could compare
  // against a half-written key. Only a rebuild reclaims them.
  for (uint64_t i = hash(hi, lo, len) & a->mask;; i = (i + 1) & a->mask) {
    Ip6Slot& s = a->slot[i];
    if (s.state != kEmpty) continue;
    s.hi = hi;
    s.lo = lo;
    s.len = len;
    s.special = 0;
    s.lb = default_lb_.load();
    s.pl_api = s.pl_if = ~0u;
    return &s;
  }
}

void Ip6Fib::publish_slot(Ip6Slot* s) {
  mark_band(arr_.load(), s->hi, s->len);  // before the slot is visible: no false "absent"
  __atomic_store_n(&s->state, kValid, __ATOMIC_RELEASE);
  if (s->len == 0) default_lb_.store(s->lb, std::memory_order_release);
  ++n_valid_;
}

void Ip6Fib::remove(Ip6Slot* s) {
  __atomic_store_n(&s->state, kDead, __ATOMIC_RELEASE);
  --n_valid_;
  ++n_dead_;
}

void Ip6Fib::for_each(const std::function<void(const Ip6Slot&)>& fn) const {
  const Array* a = arr_.load();
  for (uint64_t i = 0; i <= a->mask; ++i)
    if (a->slot[i].state == kValid) fn(a->slot[i]);
}

}  // namespace quiver
