// Control-side record of the IPv4 routes of one table: (prefix, length) -> the pathlist of
// each route source. 16 bytes per route in one open-addressing array (1M routes: 32 MiB), so
// exact matches, covers for deletes and `show ip fib` never walk the mtrie. Workers never
// read it.
#pragma once
#include <nmmintrin.h>
#include <sys/mman.h>

#include <cstdint>
#include <stdexcept>

namespace quiver {

struct Ip4Route {
  uint32_t prefix;  // host order, host bits zero
  uint8_t len;
  uint8_t state;    // 0 empty, 1 valid, 2 dead
  uint8_t special;  // special route kind (0 none)
  uint8_t reserved;
  uint32_t pl_api;  // pathlist per source, ~0u when absent
  uint32_t pl_if;
};
static_assert(sizeof(Ip4Route) == 16);

class Ip4Routes {
 public:
  Ip4Routes() { rebuild(64); }
  ~Ip4Routes() { unmap(); }
  Ip4Routes(const Ip4Routes&) = delete;
  Ip4Routes& operator=(const Ip4Routes&) = delete;

  static uint64_t hash(uint32_t prefix, uint8_t len) {
    return (_mm_crc32_u64(len, prefix) * 0x9e3779b97f4a7c15ull) >> 20;
  }
  Ip4Route* find(uint32_t prefix, uint8_t len) {
    for (uint64_t i = hash(prefix, len) & mask_;; i = (i + 1) & mask_) {
      Ip4Route& r = slot_[i];
      if (r.state == 0) return nullptr;
      if (r.state == 1 && r.prefix == prefix && r.len == len) return &r;
    }
  }
  // Inserts an empty record (no source) or returns the existing one.
  Ip4Route* get_or_insert(uint32_t prefix, uint8_t len) {
    if (Ip4Route* r = find(prefix, len)) return r;
    reserve(1);
    for (uint64_t i = hash(prefix, len) & mask_;; i = (i + 1) & mask_) {
      Ip4Route& r = slot_[i];
      if (r.state == 1) continue;
      if (r.state == 2) --dead_;
      r = Ip4Route{prefix, len, 1, 0, 0, ~0u, ~0u};
      ++valid_;
      ++count_[len];
      return &r;
    }
  }
  void remove(Ip4Route* r) {
    --count_[r->len];
    r->state = 2;
    --valid_;
    ++dead_;
  }
  // The longest route shorter than len containing prefix, or null.
  Ip4Route* cover(uint32_t prefix, uint8_t len) {
    for (int l = int(len) - 1; l >= 0; --l) {
      if (!count_[l]) continue;
      const uint32_t p = l == 0 ? 0 : prefix & (~0u << (32 - l));
      if (Ip4Route* r = find(p, uint8_t(l))) return r;
    }
    return nullptr;
  }
  void reserve(uint64_t more) {
    if ((valid_ + dead_ + more) * 4 <= (mask_ + 1) * 3) return;
    uint64_t want = 64;
    while ((valid_ + more) * 2 > want) want *= 2;
    rebuild(want);
  }
  uint64_t size() const { return valid_; }
  uint64_t memory_bytes() const { return (mask_ + 1) * sizeof(Ip4Route); }
  template <class F> void for_each(F&& fn) const {
    for (uint64_t i = 0; i <= mask_; ++i)
      if (slot_[i].state == 1) fn(slot_[i]);
  }

 private:
  void rebuild(uint64_t cap) {
    void* p = mmap(nullptr, cap * sizeof(Ip4Route), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("table: cannot allocate memory for IPv4 routes");
    auto* n = static_cast<Ip4Route*>(p);
    const uint64_t nmask = cap - 1;
    if (slot_)
      for (uint64_t i = 0; i <= mask_; ++i) {
        if (slot_[i].state != 1) continue;
        for (uint64_t j = hash(slot_[i].prefix, slot_[i].len) & nmask;; j = (j + 1) & nmask)
          if (n[j].state == 0) {
            n[j] = slot_[i];
            break;
          }
      }
    unmap();
    slot_ = n;
    mask_ = nmask;
    dead_ = 0;
  }
  void unmap() {
    if (slot_) munmap(slot_, (mask_ + 1) * sizeof(Ip4Route));
    slot_ = nullptr;
  }
  Ip4Route* slot_ = nullptr;
  uint64_t mask_ = 0, valid_ = 0, dead_ = 0;
  uint64_t count_[33] = {};
};

}  // namespace quiver
