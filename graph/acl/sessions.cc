#include "sessions.h"

namespace quiver::acl {

SessionTable::SessionTable(uint32_t max_sessions) : max_(max_sessions) {
  uint32_t cap = 16;
  while (cap < 2 * uint64_t(max_sessions)) cap <<= 1;  // load factor <= 1/2: short probes
  mask_ = cap - 1;
  slots_.reset(new std::atomic<uint64_t>[cap]);
  for (uint32_t i = 0; i < cap; ++i) slots_[i].store(~uint64_t(0), std::memory_order_relaxed);
  pool_.reset(new Session[max_sessions ? max_sessions : 1]);
  for (uint32_t i = 0; i < max_sessions; ++i) pool_[i].next_free = i + 1;
  free_head_ = max_sessions ? 0 : kNone;
  if (max_sessions) pool_[max_sessions - 1].next_free = kNone;
}

uint32_t SessionTable::insert(const SessionKey& k, uint32_t h, bool initiator_is_a, uint64_t now) {
  if (free_head_ == kNone) return kNone;
  const uint32_t idx = free_head_;
  Session& s = pool_[idx];
  free_head_ = s.next_free;
  s.key = k;
  s.live = 1;
  s.initiator_is_a = initiator_is_a;
  s.flags_a.store(0, std::memory_order_relaxed);
  s.flags_b.store(0, std::memory_order_relaxed);
  s.last_tsc.store(now, std::memory_order_relaxed);
  s.created_tsc = now;
  uint32_t i = h & mask_;
  while (uint32_t(slots_[i].load(std::memory_order_relaxed)) != kNone) i = (i + 1) & mask_;
  // Release: a reader that sees the slot sees the session written above.
  slots_[i].store(uint64_t(h) << 32 | idx, std::memory_order_release);
  ++count_;
  return idx;
}

// Backward-shift deletion: no tombstones, probes stay short. The caller holds gen_ odd.
void SessionTable::remove(uint32_t idx) {
  Session& s = pool_[idx];
  const uint32_t h = s.key.hash();
  uint32_t i = h & mask_;
  while (uint32_t(slots_[i].load(std::memory_order_relaxed)) != idx) i = (i + 1) & mask_;
  for (;;) {
    slots_[i].store(~uint64_t(0), std::memory_order_relaxed);
    uint32_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      const uint64_t e = slots_[j].load(std::memory_order_relaxed);
      if (uint32_t(e) == kNone) goto done;
      const uint32_t home = uint32_t(e >> 32) & mask_;
      // e may move to i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!stays) {
        slots_[i].store(e, std::memory_order_relaxed);
        i = j;
        break;
      }
    }
  }
done:
  s.live = 0;
  s.next_free = free_head_;
  free_head_ = idx;
  --count_;
}

uint32_t SessionTable::sweep(uint64_t now, const SessionTimeouts& t, uint32_t budget) {
  if (count_ == 0 || max_ == 0) return 0;
  uint32_t removed = 0;
  bool writing = false;
  for (uint32_t n = 0; n < budget && n < max_; ++n) {
    const uint32_t idx = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 == max_ ? 0 : sweep_cursor_ + 1;
    Session& s = pool_[idx];
    if (!s.live) continue;
    const uint64_t last = s.last_tsc.load(std::memory_order_relaxed);
    if (now <= last || now - last <= t.of(s)) continue;
    if (!writing) {
      gen_.fetch_add(1, std::memory_order_acq_rel);  // odd: readers elsewhere treat lookups as misses
      writing = true;
    }
    remove(idx);
    ++removed;
  }
  if (writing) gen_.fetch_add(1, std::memory_order_acq_rel);
  return removed;
}

uint32_t SessionTable::flush(uint32_t if_index) {
  uint32_t removed = 0;
  gen_.fetch_add(1, std::memory_order_acq_rel);
  for (uint32_t idx = 0; idx < max_; ++idx)
    if (pool_[idx].live && (if_index == kNone || pool_[idx].key.if_index == if_index)) {
      remove(idx);
      ++removed;
    }
  gen_.fetch_add(1, std::memory_order_acq_rel);
  return removed;
}

uint32_t SessionTable::absorb(const SessionTable& old) {
  uint32_t lost = 0;
  for (uint32_t idx = 0; idx < old.max_; ++idx) {
    const Session& o = old.pool_[idx];
    if (!o.live) continue;
    const uint32_t n = insert(o.key, o.key.hash(), o.initiator_is_a, o.created_tsc);
    if (n == kNone) {
      ++lost;
      continue;
    }
    Session& s = pool_[n];
    s.flags_a.store(o.flags_a.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.flags_b.store(o.flags_b.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.last_tsc.store(o.last_tsc.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  return lost;
}

}  // namespace quiver::acl
