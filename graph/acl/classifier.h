// The ACL classifier: first-match over an ordered rule list without a linear scan.
//
// Structure (README.md has the reasoning): rules are split into a few groups by which fields
// they leave wide open (EffiCuts-style), and each group gets a multi-way decision tree
// (HiCuts-style cuts of 2^k equal, aligned slices of one field per node). A leaf holds at most
// a handful of rules, copied next to each other in priority order, checked exactly with SIMD
// range compares. Trees are visited in order of their best rule and a lane stops as soon as no
// later tree can hold an earlier rule. Lookups walk four packets at a time through a tree.
//
// A packet key is a row of uint32 lanes; a rule is a box [lo, hi] in the same lanes:
//   IPv4 (8 lanes):  src, dst, proto, sport/icmp-type, dport/icmp-code, l4, | tcp-flags, 0
//   IPv6 (16 lanes): src[4], dst[4], proto, sport/type, dport/code, l4, | tcp-flags, 0, 0, 0
// `l4` is 1 when the L4 header is present (not a non-first fragment, not cut short); rules that
// look at L4 fields require it. Lanes after the dimensions carry the rule's index and TCP flag
// mask/value in the box, and the packet's TCP flags in the key.
//
// Built on the control thread, immutable afterwards: workers read it without locks.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "rule.h"

namespace quiver::acl {

struct Family4 {
  static constexpr int kFamily = 4;
  static constexpr int kLanes = 8;
  static constexpr int kDims = 6;      // compared lanes
  static constexpr int kCutDims = 5;   // lanes a tree may cut (not l4)
  static constexpr int kProto = 2, kSport = 3, kDport = 4, kL4 = 5;
  static constexpr uint8_t kBits[kDims] = {32, 32, 8, 16, 16, 1};
};
struct Family6 {
  static constexpr int kFamily = 6;
  static constexpr int kLanes = 16;
  static constexpr int kDims = 12;
  static constexpr int kCutDims = 11;
  static constexpr int kProto = 8, kSport = 9, kDport = 10, kL4 = 11;
  static constexpr uint8_t kBits[kDims] = {32, 32, 32, 32, 32, 32, 32, 32, 8, 16, 16, 1};
};

template <int Lanes>
struct alignas(Lanes * 4) Key {  // exactly its lanes: arrays of keys stay dense
  uint32_t v[Lanes];
};

template <int Lanes>
struct alignas(64) Box {
  uint32_t lo[Lanes];
  uint32_t hi[Lanes];
};

struct ClassifierStats {
  uint32_t rules = 0;        // rules of this family
  uint32_t trees = 0;
  uint32_t nodes = 0;
  uint32_t leaves = 0;
  uint32_t rule_copies = 0;  // rules stored in leaves (replication)
  uint32_t max_depth = 0;
  uint32_t max_leaf = 0;     // most rules in one leaf
  uint64_t bytes = 0;
};

template <class F>
class Classifier {
 public:
  static constexpr int kLanes = F::kLanes;
  static constexpr int kDims = F::kDims;
  using KeyT = Key<kLanes>;
  using BoxT = Box<kLanes>;
  static constexpr uint32_t kNoMatch = 0x7fffffffu;

  // Rules of other families are left out; indices stay those of `rules`.
  void build(const std::vector<Rule>& rules);
  const ClassifierStats& stats() const { return stats_; }
  bool empty() const { return trees_.empty(); }

  // The first matching rule's index, or kNoMatch. Only rules before `bound` are of interest.
  uint32_t lookup(const KeyT& k, uint32_t bound = kNoMatch) const {
    uint32_t best = bound;
    for (const Tree& t : trees_) {
      if (t.min_rule >= best) break;  // trees are sorted by their first rule
      uint32_t ref = t.root;
      for (uint32_t i = 0; i < t.depth; ++i) ref = step(ref, k);
      best = scan_leaf(ref, k, best);
    }
    return best;
  }

  // Four lookups walking each tree in step: no branch depends on the packets (leaves loop
  // on themselves, every walk takes the tree's depth in steps), so the four chains of
  // dependent loads overlap.
  void lookup4(const KeyT* const k[4], uint32_t best[4]) const {
    for (const Tree& t : trees_) {
      uint32_t active = 0;
      for (int j = 0; j < 4; ++j) active |= uint32_t(t.min_rule < best[j]) << j;
      if (!active) break;
      uint32_t r0 = t.root, r1 = t.root, r2 = t.root, r3 = t.root;
      for (uint32_t i = 0; i < t.depth; ++i) {
        r0 = step(r0, *k[0]);
        r1 = step(r1, *k[1]);
        r2 = step(r2, *k[2]);
        r3 = step(r3, *k[3]);
      }
      const uint32_t ref[4] = {r0, r1, r2, r3};
      for (int j = 0; j < 4; ++j) prefetch_leaf(ref[j]);
      for (int j = 0; j < 4; ++j)
        if (active & (1u << j)) best[j] = scan_leaf(ref[j], *k[j], best[j]);
    }
  }

  // Whether k lies in box b in every dimension (not the TCP flags): one pair of vector
  // compares per box.
  static bool in_box(const BoxT& b, const KeyT& k) {
#if defined(__AVX512F__) || defined(__AVX2__)
    constexpr uint32_t need = (1u << kDims) - 1;
#endif
#if defined(__AVX512F__) && defined(__AVX512VL__)
    if constexpr (kLanes == 16) {
      const __m512i kv = _mm512_load_si512(k.v);
      return (_mm512_mask_cmpge_epu32_mask(need, kv, _mm512_load_si512(b.lo)) & _mm512_mask_cmple_epu32_mask(need, kv, _mm512_load_si512(b.hi))) == need;
    } else {
      const __m256i kv = load8(k.v);
      return (_mm256_mask_cmpge_epu32_mask(need, kv, load8(b.lo)) & _mm256_mask_cmple_epu32_mask(need, kv, load8(b.hi))) == need;
    }
#elif defined(__AVX2__)
    // Unsigned x >= lo as max(x, lo) == x, x <= hi as min(x, hi) == x.
    uint32_t m = 0;
    for (int h = 0; h < kLanes / 8; ++h) {
      const __m256i kv = load8(k.v + 8 * h), lo = load8(b.lo + 8 * h), hi = load8(b.hi + 8 * h);
      const __m256i ok = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(kv, lo), kv), _mm256_cmpeq_epi32(_mm256_min_epu32(kv, hi), kv));
      m |= uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(ok))) << (8 * h);
    }
    return (m & need) == need;
#else
    for (int d = 0; d < kDims; ++d)
      if (k.v[d] < b.lo[d] || k.v[d] > b.hi[d]) return false;
    return true;
#endif
  }
  static bool tcp_ok(const BoxT& b, const KeyT& k) {
    const uint32_t tcp = b.lo[kDims + 1];  // mask | value << 8
    return (k.v[kDims] & tcp & 0xff) == (tcp >> 8);
  }
  // The exact test of one rule.
  static bool box_match(const BoxT& b, const KeyT& k) { return in_box(b, k) && tcp_ok(b, k); }
  static uint32_t box_rule(const BoxT& b) { return b.lo[kDims]; }
  // The box of a rule in this family; false when the rule belongs to the other family.
  static bool rule_box(const Rule& r, uint32_t index, BoxT& out);

 private:
  struct Tree {
    uint32_t root;
    uint32_t min_rule;
    uint32_t depth;  // steps from the root to the deepest leaf
  };
#if defined(__AVX2__)
  static __m256i load8(const uint32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
#endif
  // A node at words_[o]: header dim | shift << 8 | mask << 16, then mask + 1 child offsets.
  // A leaf at words_[o]: header 0 (so its only child is words_[o + 1] == o, itself), then
  // its first box and its number of boxes. Offset 0 is the empty leaf.
  uint32_t step(uint32_t o, const KeyT& k) const {
    const uint32_t h = words_[o];
    return words_[o + 1 + ((k.v[h & 0xff] >> ((h >> 8) & 0xff)) & (h >> 16))];
  }
  void prefetch_leaf(uint32_t o) const {
    const BoxT* b = boxes_.data() + words_[o + 2];
    __builtin_prefetch(b);
    if constexpr (sizeof(BoxT) > 64) __builtin_prefetch(reinterpret_cast<const char*>(b) + 64);
  }
  // Every box of the leaf is tested (no branch per rule): a bit per box in the leaf's order,
  // which is rule order; then the first set bit below `best` whose TCP flags agree wins.
  uint32_t scan_leaf(uint32_t o, const KeyT& k, uint32_t best) const {
    const BoxT* b = boxes_.data() + words_[o + 2];
    const uint32_t n = words_[o + 3];
    for (uint32_t base = 0; base < n; base += 64) {
      const uint32_t end = n - base < 64 ? n - base : 64;
      uint64_t hits = 0;
      for (uint32_t i = 0; i < end; ++i) hits |= uint64_t(in_box(b[base + i], k)) << i;
      for (; hits; hits &= hits - 1) {
        const BoxT& x = b[base + __builtin_ctzll(hits)];
        if (box_rule(x) >= best) return best;
        if (tcp_ok(x, k)) return box_rule(x);
      }
    }
    return best;
  }

  bool build_trees(const std::vector<BoxT>& all, const std::vector<uint32_t>& wide, uint32_t max_trees);

  template <class>
  friend class TreeBuilder;
  std::vector<uint32_t> words_;
  std::vector<BoxT> boxes_;  // leaves' rules, each leaf contiguous and in rule order
  std::vector<Tree> trees_;
  ClassifierStats stats_;
};

using Classifier4 = Classifier<Family4>;
using Classifier6 = Classifier<Family6>;

}  // namespace quiver::acl
