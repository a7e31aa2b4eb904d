#include "ip6_fib.h"

#include <sys/mman.h>

#include <stdexcept>

#include "../../native/epoch.h"

namespace quiver {

namespace {
Ip6Fib::Array* new_array(uint64_t capacity) {
  auto* a = new Ip6Fib::Array();
  a->bytes = capacity * sizeof(Ip6Slot);
  void* p = mmap(nullptr, a->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    delete a;
    throw std::runtime_error("table: cannot allocate memory for an IPv6 FIB");
  }
  a->slot = static_cast<Ip6Slot*>(p);  // zero pages: every slot kEmpty
  a->mask = capacity - 1;
  return a;
}
}  // namespace

Ip6Fib::Array::~Array() {
  if (slot) munmap(slot, bytes);
}

Ip6Fib::Ip6Fib(uint32_t default_lb, EpochManager* epochs) : default_lb_(default_lb), epochs_(epochs) {
  arr_.store(new_array(64));
}

Ip6Fib::~Ip6Fib() { delete arr_.load(); }

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
    s.lb = default_lb_;
    s.pl_api = s.pl_if = ~0u;
    return &s;
  }
}

void Ip6Fib::publish_slot(Ip6Slot* s) {
  __atomic_store_n(&s->state, kValid, __ATOMIC_RELEASE);
  ++n_valid_;
  if (count_[s->len]++ == 0) {
    present_[s->len / 64].fetch_or(uint64_t(1) << (s->len % 64));
    update_longest();
  }
}

void Ip6Fib::remove(Ip6Slot* s) {
  const uint8_t len = s->len;
  __atomic_store_n(&s->state, kDead, __ATOMIC_RELEASE);
  --n_valid_;
  ++n_dead_;
  if (--count_[len] == 0) {
    present_[len / 64].fetch_and(~(uint64_t(1) << (len % 64)));
    update_longest();
  }
}

void Ip6Fib::update_longest() {
  for (int l = 128; l >= 0; --l)
    if (count_[l]) {
      longest_.store(uint32_t(l));
      return;
    }
  longest_.store(0);
}

void Ip6Fib::for_each(const std::function<void(const Ip6Slot&)>& fn) const {
  const Array* a = arr_.load();
  for (uint64_t i = 0; i <= a->mask; ++i)
    if (a->slot[i].state == kValid) fn(a->slot[i]);
}

}  // namespace quiver
