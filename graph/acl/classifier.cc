// Building the classifier's decision trees (control thread, off the packet path).
#include "classifier.h"

#include <algorithm>
#include <unordered_map>

namespace quiver::acl {

namespace {

constexpr uint32_t kLeafRules = 4;  // a node with this many rules or fewer is a leaf
constexpr uint32_t kMaxDepth = 24;
constexpr int kMaxCutBits = 10;              // at most 1024 children per node
constexpr uint32_t kSpaceFactor = 4;         // a node's children may hold 4x its rules in total
constexpr uint32_t kCopyBudget = 8;          // rule copies in leaves, per rule, for the whole build

// Field widths from which a rule counts as "wide" when grouping rules into trees: a wide rule
// would be copied into most children of a cut on that field.
constexpr int kWideSrc = 0, kWideDst = 1, kWideProto = 2, kWideSport = 3, kWideDport = 4, kWideFields = 5;

uint32_t wide_fields(const Rule& r, int family) {
  const int narrow_prefix = family == 4 ? 8 : 16;
  uint32_t w = 0;
  if (r.src_len < narrow_prefix) w |= 1u << kWideSrc;
  if (r.dst_len < narrow_prefix) w |= 1u << kWideDst;
  if (r.proto_lo != r.proto_hi) w |= 1u << kWideProto;
  if (uint32_t(r.sport_hi - r.sport_lo) >= 4096) w |= 1u << kWideSport;
  if (uint32_t(r.dport_hi - r.dport_lo) >= 4096) w |= 1u << kWideDport;
  return w;
}

uint32_t load_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// [lo, hi] of a prefix of `len` bits in a 32-bit word that starts at bit `word_bit` of the address.
void prefix_word(const uint8_t* addr, uint32_t len, uint32_t word_bit, uint32_t& lo, uint32_t& hi) {
  const uint32_t v = load_be32(addr + word_bit / 8);
  if (len <= word_bit) {
    lo = 0;
    hi = 0xffffffffu;
  } else if (len >= word_bit + 32) {
    lo = hi = v;
  } else {
    const uint32_t host = 0xffffffffu >> (len - word_bit);
    lo = v & ~host;
    hi = v | host;
  }
}

}  // namespace

template <class F>
bool Classifier<F>::rule_box(const Rule& r, uint32_t index, BoxT& b) {
  if (!r.in_family(F::kFamily)) return false;
  std::memset(&b, 0, sizeof b);
  const int words = F::kFamily == 4 ? 1 : 4;
  for (int i = 0; i < words; ++i) {
    prefix_word(r.src, r.src_len, 32 * i, b.lo[i], b.hi[i]);
    prefix_word(r.dst, r.dst_len, 32 * i, b.lo[words + i], b.hi[words + i]);
  }
  b.lo[F::kProto] = r.proto_lo;
  b.hi[F::kProto] = r.proto_hi;
  b.lo[F::kSport] = r.sport_lo;
  b.hi[F::kSport] = r.sport_hi;
  b.lo[F::kDport] = r.dport_lo;
  b.hi[F::kDport] = r.dport_hi;
  b.lo[F::kL4] = r.needs_l4() ? 1 : 0;
  b.hi[F::kL4] = 1;
  b.lo[kDims] = index;
  b.lo[kDims + 1] = uint32_t(r.tcp_mask) | uint32_t(r.tcp_value) << 8;
  return true;
}

template <class F>
class TreeBuilder {
 public:
  using C = Classifier<F>;
  using BoxT = typename C::BoxT;
  static constexpr int kCut = F::kCutDims;

  TreeBuilder(C& c, const std::vector<BoxT>& boxes, uint64_t budget) : c_(c), boxes_(boxes), budget_(budget) {}

  bool exhausted() const { return copies_ >= budget_; }
  // Returns the root offset; depth receives the deepest leaf's depth.
  uint32_t build_tree(std::vector<uint32_t>& ids, uint32_t& depth) {
    Region r;
    for (int d = 0; d < kCut; ++d) {
      r.base[d] = 0;
      r.bits[d] = F::kBits[d];
    }
    depth_ = 0;
    const uint32_t root = build(r, ids, 0);
    depth = depth_;
    return root;
  }

 private:
  struct Region {
    uint32_t base[kCut];
    uint8_t bits[kCut];  // the node covers [base, base + 2^bits - 1] of dimension d
  };
  struct Cut {
    int dim = -1;
    int bits = 0;
    uint32_t max_child = 0;
    uint64_t space = 0;
  };

  static uint32_t top(const Region& r, int d) {
    return r.bits[d] >= 32 ? 0xffffffffu : r.base[d] + ((1u << r.bits[d]) - 1);
  }
  // A rule with no condition beyond the cut dimensions that covers the whole region: every
  // later rule is hidden behind it there.
  bool covers(const Region& r, uint32_t id) const {
    const BoxT& b = boxes_[id];
    if (b.lo[F::kL4] != 0 || (b.lo[C::kDims + 1] & 0xff)) return false;
    for (int d = 0; d < kCut; ++d)
      if (b.lo[d] > r.base[d] || b.hi[d] < top(r, d)) return false;
    return true;
  }
  // The rule's extent in dimension d, relative to the region's base.
  void clip(const Region& r, int d, uint32_t id, uint32_t& a, uint32_t& b) const {
    const BoxT& x = boxes_[id];
    a = std::max(x.lo[d], r.base[d]) - r.base[d];
    b = std::min(x.hi[d], top(r, d)) - r.base[d];
  }

  // HiCuts-style choice: the dimension and number of slices that leave the fewest rules in the
  // fullest slice, within a space bound. Slices that every one of their rules covers whole
  // and that hold the same rules as their left neighbour share its subtree, so a wide rule
  // copied into many slices costs only where it meets narrower ones.
  Cut choose(const Region& r, const std::vector<uint32_t>& ids) {
    Cut best;
    const uint64_t n = ids.size();
    a_.resize(n);
    b_.resize(n);
    for (int d = 0; d < kCut; ++d) {
      const int w = r.bits[d];
      if (w == 0) continue;
      bool all_whole = true;
      for (size_t i = 0; i < n; ++i) {
        clip(r, d, ids[i], a_[i], b_[i]);
        all_whole &= a_[i] == 0 && b_[i] == top(r, d) - r.base[d];
      }
      if (all_whole) continue;  // nothing to separate in this dimension
      for (int k = 1; k <= std::min(w, kMaxCutBits); ++k) {
        const int s = w - k;
        const uint32_t nc = 1u << k;
        const uint32_t low = s == 0 ? 0 : (1u << s) - 1;
        cnt_.assign(nc + 1, 0);
        edge_.assign(nc + 1, 0);
        dirty_.assign(nc + 1, 0);
        uint64_t copies = 0;
        for (size_t i = 0; i < n; ++i) {
          const uint32_t first = a_[i] >> s, last = b_[i] >> s;
          copies += last - first + 1;
          cnt_[first]++;
          cnt_[last + 1]--;
          edge_[first] = edge_[last + 1] = 1;
          if (a_[i] & low) dirty_[first] = 1;
          if ((b_[i] & low) != low) dirty_[last] = 1;
        }
        int64_t run = 0;
        uint64_t space = nc;
        uint32_t maxc = 0;
        for (uint32_t c = 0; c < nc; ++c) {
          run += cnt_[c];
          maxc = std::max(maxc, uint32_t(run));
          if (run && !shares_left(c)) space += uint64_t(run);
        }
        if (copies > 64 * n) break;  // finer slices only copy more
        if (space > kSpaceFactor * n + 64) continue;
        if (maxc >= n) continue;  // no rule separated yet
        if (best.dim < 0 || maxc < best.max_child || (maxc == best.max_child && space < best.space))
          best = Cut{d, k, maxc, space};
      }
    }
    return best;
  }
  // Slice c holds the same rules as slice c - 1, each covering both whole (edge_/dirty_ of
  // the cut being looked at).
  bool shares_left(uint32_t c) const { return c > 0 && !edge_[c] && !dirty_[c] && !dirty_[c - 1]; }

  // Shrinks the region, per dimension, to the smallest aligned slice that still holds every
  // rule's part of it. No node is needed for that: a packet outside the slice matches none of
  // these rules, and the leaf check is exact, so wherever the cuts send it, it finds no match.
  // Without this, rules packed into a small part of a field (198.18.0.0/16 of the whole IPv4
  // space) would defeat equal-size cuts of at most kMaxCutBits bits.
  void zoom(Region& r, const std::vector<uint32_t>& ids) const {
    for (int d = 0; d < kCut; ++d) {
      if (r.bits[d] == 0) continue;
      uint32_t lo = 0xffffffffu, hi = 0;
      for (uint32_t id : ids) {
        uint32_t a, b;
        clip(r, d, id, a, b);
        lo = std::min(lo, a);
        hi = std::max(hi, b);
      }
      const uint32_t diff = lo ^ hi;
      const uint8_t bits = diff == 0 ? 0 : uint8_t(32 - __builtin_clz(diff));
      if (bits >= r.bits[d]) continue;
      r.base[d] += bits == 32 ? 0 : lo & ~((1u << bits) - 1);
      r.bits[d] = bits;
    }
  }

  uint32_t build(const Region& region, std::vector<uint32_t>& ids, uint32_t depth) {
    Region r = region;
    zoom(r, ids);
    for (size_t i = 0; i < ids.size(); ++i)
      if (covers(r, ids[i])) {
        ids.resize(i + 1);
        break;
      }
    if (ids.size() <= kLeafRules || depth >= kMaxDepth || copies_ >= budget_) return leaf(ids, depth);
    const Cut cut = choose(r, ids);
    if (cut.dim < 0) return leaf(ids, depth);

    const int d = cut.dim, s = r.bits[d] - cut.bits;
    const uint32_t nc = 1u << cut.bits;
    const uint32_t low = s == 0 ? 0 : (1u << s) - 1;
    std::vector<uint32_t> count(nc + 1, 0), start(nc + 1, 0);
    edge_.assign(nc + 1, 0);
    dirty_.assign(nc + 1, 0);
    for (uint32_t id : ids) {
      uint32_t a, b;
      clip(r, d, id, a, b);
      for (uint32_t c = a >> s; c <= (b >> s); ++c) count[c]++;
      edge_[a >> s] = edge_[(b >> s) + 1] = 1;
      if (a & low) dirty_[a >> s] = 1;
      if ((b & low) != low) dirty_[b >> s] = 1;
    }
    std::vector<uint8_t> share(nc);
    for (uint32_t c = 0; c < nc; ++c) share[c] = shares_left(c);
    for (uint32_t c = 0; c < nc; ++c) start[c + 1] = start[c] + count[c];
    std::vector<uint32_t> flat(start[nc]);
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (uint32_t id : ids) {  // in rule order, so every slice's list stays in rule order
      uint32_t a, b;
      clip(r, d, id, a, b);
      for (uint32_t c = a >> s; c <= (b >> s); ++c) flat[fill[c]++] = id;
    }

    const uint32_t o = uint32_t(c_.words_.size());
    c_.words_.resize(o + 1 + nc);
    c_.words_[o] = uint32_t(d) | uint32_t(s) << 8 | (nc - 1) << 16;
    c_.stats_.nodes++;
    for (uint32_t c = 0; c < nc; ++c) {
      uint32_t ref;
      if (count[c] == 0) {
        ref = 0;  // the empty leaf
      } else if (share[c]) {
        ref = c_.words_[o + c];  // the left neighbour's subtree
      } else {
        Region child = r;
        child.base[d] = r.base[d] + (c << s);
        child.bits[d] = uint8_t(s);
        std::vector<uint32_t> sub(flat.begin() + start[c], flat.begin() + start[c + 1]);
        ref = build(child, sub, depth + 1);
      }
      c_.words_[o + 1 + c] = ref;
    }
    return o;
  }

  uint32_t leaf(const std::vector<uint32_t>& ids, uint32_t depth) {
    depth_ = std::max(depth_, depth);
    c_.stats_.max_depth = std::max(c_.stats_.max_depth, depth);
    if (ids.empty()) return 0;
    uint64_t h = 1469598103934665603ull;
    for (uint32_t id : ids) h = (h ^ id) * 1099511628211ull;
    auto range = dedupe_.equal_range(h);
    for (auto it = range.first; it != range.second; ++it)
      if (leaf_rules_[it->second] == ids) return it->second;
    const uint32_t o = uint32_t(c_.words_.size());
    c_.words_.insert(c_.words_.end(), {0u, o, uint32_t(c_.boxes_.size()), uint32_t(ids.size())});
    for (uint32_t x : ids) c_.boxes_.push_back(boxes_[x]);
    copies_ += ids.size();
    c_.stats_.leaves++;
    c_.stats_.rule_copies += uint32_t(ids.size());
    c_.stats_.max_leaf = std::max<uint32_t>(c_.stats_.max_leaf, uint32_t(ids.size()));
    leaf_rules_.emplace(o, ids);
    dedupe_.emplace(h, o);
    return o;
  }

  C& c_;
  const std::vector<BoxT>& boxes_;  // by position in the family's rule list
  uint64_t budget_;
  uint64_t copies_ = 0;
  uint32_t depth_ = 0;
  std::vector<uint32_t> a_, b_;
  std::vector<int64_t> cnt_;
  std::vector<uint8_t> edge_, dirty_;
  std::unordered_multimap<uint64_t, uint32_t> dedupe_;        // hash of a leaf's rules -> leaf
  std::unordered_map<uint32_t, std::vector<uint32_t>> leaf_rules_;
};

template <class F>
void Classifier<F>::build(const std::vector<Rule>& rules) {
  // Boxes of this family's rules, and their groups by wide fields.
  std::vector<BoxT> all;
  std::vector<uint32_t> wide;
  all.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    BoxT b;
    if (!rule_box(rules[i], uint32_t(i), b)) continue;
    all.push_back(b);
    wide.push_back(wide_fields(rules[i], F::kFamily));
  }
  // One tree is the fastest lookup; when rules that are wide in different fields make it copy
  // too much, separate them into more trees (each walk costs, so as few as will do). If every
  // attempt runs out of copies, keep the one whose fullest leaf is smallest.
  Classifier best;
  for (uint32_t max_trees : {1u, 2u, 4u, 8u}) {
    if (build_trees(all, wide, max_trees)) return;
    if (max_trees == 1 || stats_.max_leaf < best.stats_.max_leaf) best = std::move(*this);
  }
  *this = std::move(best);
}

template <class F>
bool Classifier<F>::build_trees(const std::vector<BoxT>& all, const std::vector<uint32_t>& wide, uint32_t max_trees) {
  words_.assign({0u, 0u, 0u, 0u});  // offset 0: the empty leaf
  boxes_.clear();
  trees_.clear();
  stats_ = ClassifierStats();
  stats_.rules = uint32_t(all.size());
  if (all.empty()) return true;

  std::vector<uint32_t> size(1u << kWideFields, 0);
  for (uint32_t g : wide) size[g]++;
  // Fold the smallest group into the one sharing the most narrow fields (the merged group is
  // wide where either was) until few enough remain.
  auto groups = [&] {
    std::vector<uint32_t> g;
    for (uint32_t m = 0; m < size.size(); ++m)
      if (size[m]) g.push_back(m);
    return g;
  };
  std::vector<uint32_t> redirect(size.size());
  for (uint32_t m = 0; m < redirect.size(); ++m) redirect[m] = m;
  for (auto g = groups(); g.size() > max_trees; g = groups()) {
    const uint32_t small = *std::min_element(g.begin(), g.end(), [&](uint32_t x, uint32_t y) { return size[x] < size[y]; });
    uint32_t into = 0;
    int best_shared = -1;
    for (uint32_t h : g) {
      if (h == small) continue;
      const int shared = __builtin_popcount(~small & ~h & ((1u << kWideFields) - 1));
      if (shared > best_shared || (shared == best_shared && size[h] > size[into])) {
        best_shared = shared;
        into = h;
      }
    }
    const uint32_t merged = small | into;
    const uint32_t moved = size[small] + size[into];
    size[small] = size[into] = 0;
    size[merged] += moved;
    for (auto& x : redirect)
      if (x == small || x == into) x = merged;
  }

  std::vector<std::vector<uint32_t>> members(size.size());
  for (uint32_t i = 0; i < all.size(); ++i) members[redirect[wide[i]]].push_back(i);
  // Past this many copies the remaining subtrees become leaves: slower, never wrong.
  const uint64_t budget = std::max<uint64_t>(16384, kCopyBudget * uint64_t(all.size()));
  TreeBuilder<F> builder(*this, all, budget);
  for (auto& ids : members) {
    if (ids.empty()) continue;
    Tree t;
    t.min_rule = box_rule(all[ids.front()]);
    t.root = builder.build_tree(ids, t.depth);
    trees_.push_back(t);
  }
  std::sort(trees_.begin(), trees_.end(), [](const Tree& a, const Tree& b) { return a.min_rule < b.min_rule; });
  stats_.trees = uint32_t(trees_.size());
  stats_.bytes = words_.size() * 4 + boxes_.size() * sizeof(BoxT);
  words_.shrink_to_fit();
  boxes_.shrink_to_fit();
  return !builder.exhausted();
}

template class Classifier<Family4>;
template class Classifier<Family6>;

}  // namespace quiver::acl
