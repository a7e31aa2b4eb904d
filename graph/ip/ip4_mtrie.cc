#include "ip4_mtrie.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace quiver {

namespace {
void* reserve(uint64_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
inline void store_leaf(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
}  // namespace

Ip4Mtrie::Ip4Mtrie(uint32_t default_lb, uint32_t max_plies) {
  // Ask for less address space when the kernel refuses (strict overcommit).
  for (uint32_t want = std::min<uint32_t>(max_plies, 1u << 23); want >= 1024; want /= 2) {
    plies_ = static_cast<uint32_t*>(reserve(uint64_t(want) * 1024));
    if (!plies_) continue;
    ply_bits_ = static_cast<uint8_t*>(reserve(uint64_t(want) * 256));
    ply_non_empty_ = static_cast<uint16_t*>(reserve(uint64_t(want) * 2));
    if (!ply_bits_ || !ply_non_empty_) {
      munmap(plies_, uint64_t(want) * 1024);
      if (ply_bits_) munmap(ply_bits_, uint64_t(want) * 256);
      if (ply_non_empty_) munmap(ply_non_empty_, uint64_t(want) * 2);
      plies_ = nullptr;
      ply_bits_ = nullptr;
      ply_non_empty_ = nullptr;
      continue;
    }
    max_plies_ = want;
    break;
  }
  root_ = static_cast<uint32_t*>(reserve(65536 * 4));
  root_bits_ = static_cast<uint8_t*>(reserve(65536));
  if (!plies_ || !root_ || !root_bits_) throw std::runtime_error("table: cannot reserve memory for an IPv4 FIB");
  // Random lookups over a large table miss the TLB more than the cache: 2 MiB pages where the
  // kernel gives them (transparent huge pages in madvise mode).
  madvise(plies_, uint64_t(max_plies_) * 1024, MADV_HUGEPAGE);
  const uint32_t leaf = terminal(default_lb);
  for (uint32_t i = 0; i < 65536; ++i) root_[i] = leaf;
  std::memset(root_bits_, 0, 65536);
}

Ip4Mtrie::~Ip4Mtrie() {
  if (plies_) munmap(plies_, uint64_t(max_plies_) * 1024);
  if (ply_bits_) munmap(ply_bits_, uint64_t(max_plies_) * 256);
  if (ply_non_empty_) munmap(ply_non_empty_, uint64_t(max_plies_) * 2);
  if (root_) munmap(root_, 65536 * 4);
  if (root_bits_) munmap(root_bits_, 65536);
}

uint64_t Ip4Mtrie::memory_bytes() const { return 65536 * 5 + uint64_t(n_plies_) * (1024 + 256 + 2); }

uint32_t Ip4Mtrie::alloc_ply(uint32_t init_leaf, uint8_t init_bits) {
  uint32_t p;
  if (!free_.empty()) {
    p = free_.back();
    free_.pop_back();
  } else {
    if (n_plies_ >= max_plies_) throw std::runtime_error("table: IPv4 FIB is out of plies");
    p = n_plies_++;
  }
  uint32_t* l = plies_ + uint64_t(p) * 256;
  for (uint32_t i = 0; i < 256; ++i) l[i] = init_leaf;
  std::memset(ply_bits_ + uint64_t(p) * 256, init_bits, 256);
  ply_non_empty_[p] = 0;
  return p;
}

// A leaf is "non-empty" in a ply when the prefix that set it is longer than the ply's base
// (the bits consumed above it): those are what keep a ply alive.
void Ip4Mtrie::set_in(int level, uint32_t ply, uint32_t prefix, uint8_t len, uint32_t leaf) {
  const Level lv = kLevels[level];
  const uint32_t end = lv.start + lv.stride;
  const uint32_t base = lv.start;
  uint32_t* leaves = leaves_of(level, ply);
  uint8_t* bits = bits_of(level, ply);
  uint16_t* non_empty = level == 0 ? nullptr : &ply_non_empty_[ply];
  const uint32_t index_mask = (1u << lv.stride) - 1;
  if (len <= end) {
    uint32_t lo = 0, count = 1u << lv.stride;
    if (len > lv.start) {
      const uint32_t wild = end - len;
      lo = ((prefix >> (32 - end)) & index_mask) & ~((1u << wild) - 1);
      count = 1u << wild;
    }
    for (uint32_t i = lo; i < lo + count; ++i) {
      const uint32_t old = leaves[i];
      if (is_terminal(old)) {
        if (bits[i] > len) continue;  // a longer prefix owns this leaf
        if (non_empty) *non_empty = uint16_t(*non_empty + (len > base) - (bits[i] > base));
        bits[i] = len;
        store_leaf(&leaves[i], leaf);
      } else {
        set_in(level + 1, old >> 1, prefix, len, leaf);
      }
    }
    return;
  }
  const uint32_t i = (prefix >> (32 - end)) & index_mask;
  const uint32_t old = leaves[i];
  if (!is_terminal(old)) {
    set_in(level + 1, old >> 1, prefix, len, leaf);
    return;
  }
  const uint32_t child = alloc_ply(old, bits[i]);
  set_in(level + 1, child, prefix, len, leaf);
  // The pointer leaf is marked with the child's base length: more specific than this ply's.
  if (non_empty) *non_empty = uint16_t(*non_empty + 1 - (bits[i] > base));
  bits[i] = uint8_t(end);
  store_leaf(&leaves[i], child << 1);  // after the child is complete
}

void Ip4Mtrie::set(uint32_t prefix, uint8_t len, uint32_t lb) { set_in(0, 0, prefix, len, terminal(lb)); }

// Returns true when the ply (level > 0) has no more specific leaf left: its leaves are then
// all equal and the caller folds it back into one terminal leaf.
bool Ip4Mtrie::unset_in(int level, uint32_t ply, uint32_t prefix, uint8_t len, uint32_t del_leaf, uint32_t cover_leaf,
                        uint8_t cover_len) {
  const Level lv = kLevels[level];
  const uint32_t end = lv.start + lv.stride;
  const uint32_t base = lv.start;
  uint32_t* leaves = leaves_of(level, ply);
  uint8_t* bits = bits_of(level, ply);
  uint16_t* non_empty = level == 0 ? nullptr : &ply_non_empty_[ply];
  const uint32_t index_mask = (1u << lv.stride) - 1;
  uint32_t lo, count;
  if (len <= end) {
    lo = 0;
    count = 1u << lv.stride;
    if (len > lv.start) {
      const uint32_t wild = end - len;
      lo = ((prefix >> (32 - end)) & index_mask) & ~((1u << wild) - 1);
      count = 1u << wild;
    }
  } else {
    lo = (prefix >> (32 - end)) & index_mask;
    count = 1;
  }
  for (uint32_t i = lo; i < lo + count; ++i) {
    const uint32_t old = leaves[i];
    if (is_terminal(old)) {
      // Several prefixes may share one load-balance set: the length tells whose leaf it is.
      if (old != del_leaf || bits[i] != len) continue;
      if (non_empty) *non_empty = uint16_t(*non_empty + (cover_len > base) - (bits[i] > base));
      bits[i] = cover_len;
      store_leaf(&leaves[i], cover_leaf);
    } else {
      const uint32_t child = old >> 1;
      if (!unset_in(level + 1, child, prefix, len, del_leaf, cover_leaf, cover_len)) continue;
      const uint32_t* cl = plies_ + uint64_t(child) * 256;
      const uint8_t cb = ply_bits_[uint64_t(child) * 256];
      if (non_empty) *non_empty = uint16_t(*non_empty + (cb > base) - 1);
      bits[i] = cb;
      store_leaf(&leaves[i], cl[0]);
      pending_free_.push_back(child);  // a worker may still be reading it: reuse after a grace period
    }
  }
  return non_empty && *non_empty == 0;
}

void Ip4Mtrie::unset(uint32_t prefix, uint8_t len, uint32_t lb, uint32_t cover_lb, uint8_t cover_len) {
  unset_in(0, 0, prefix, len, terminal(lb), terminal(cover_lb), cover_len);
}

}  // namespace quiver
