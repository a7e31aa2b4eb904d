// IPv4 longest-prefix match: a 16-8-8 multibit trie (VPP's ip4 mtrie). A root ply of 65536
// leaves indexed by the top 16 bits, then 256-leaf plies for bits 16-23 and 24-31, created only
// where a prefix longer than /16 (/24) exists. A leaf is either terminal (load-balance index,
// low bit 1) or the index of the next ply (low bit 0). A lookup is at most three dependent
// loads; ip4-lookup stages them over a whole vector so the misses of many packets overlap.
//
// Updates are made in place by the control thread while workers read: every change is a
// single 32-bit release store of a leaf, and a new ply is filled completely before the leaf
// that points to it is stored. A ply freed by a delete is reused only after a grace period.
// Per-leaf prefix lengths (which prefix set this leaf) live in a control-only side array, so
// plies stay 1 KiB of leaves for the packet path.
//
// Memory: plies come from one reserved (MAP_NORESERVE) region per table, touched as used:
// 1 KiB of leaves + 258 bytes of control metadata per ply.
#pragma once
#include <cstdint>
#include <vector>

namespace quiver {

class EpochManager;

class Ip4Mtrie {
 public:
  static uint32_t terminal(uint32_t lb) { return (lb << 1) | 1u; }
  static bool is_terminal(uint32_t leaf) { return leaf & 1u; }

  // Reserves address space for up to max_plies plies; every address maps to default_lb.
  Ip4Mtrie(uint32_t default_lb, uint32_t max_plies);
  ~Ip4Mtrie();
  Ip4Mtrie(const Ip4Mtrie&) = delete;
  Ip4Mtrie& operator=(const Ip4Mtrie&) = delete;
  bool ok() const { return plies_ != nullptr; }

  // --- packet path (dst in host order) ---
  uint32_t lookup(uint32_t dst) const {
    uint32_t leaf = root_[dst >> 16];
    if (__builtin_expect(!(leaf & 1u), 0)) leaf = plies_[(leaf >> 1) * 256 + ((dst >> 8) & 0xff)];
    if (__builtin_expect(!(leaf & 1u), 0)) leaf = plies_[(leaf >> 1) * 256 + (dst & 0xff)];
    return leaf >> 1;
  }
  // Where the root leaf of dst lives (prefetch ahead of lookup4).
  const uint32_t* root_slot(uint32_t dst) const { return root_ + (dst >> 16); }
  // Step by step, for lookups staged over a whole vector (prefetch between the steps):
  // root_leaf(), then next_slot() of a non-terminal leaf at level 1 and 2.
  uint32_t root_leaf(uint32_t dst) const { return root_[dst >> 16]; }
  const uint32_t* next_slot(uint32_t leaf, uint32_t dst, int level) const {
    return plies_ + (leaf >> 1) * 256 + (level == 1 ? (dst >> 8) & 0xff : dst & 0xff);
  }

  // --- control side (prefix in host order, host bits zero) ---
  // Sets prefix/len to lb wherever no longer prefix owns the leaf.
  void set(uint32_t prefix, uint8_t len, uint32_t lb);
  // Removes prefix/len (which maps to lb); its leaves fall back to the cover (the longest
  // remaining prefix containing it), whose lb and length the caller knows.
  void unset(uint32_t prefix, uint8_t len, uint32_t lb, uint32_t cover_lb, uint8_t cover_len);
  // Plies that can still be created (each new prefix needs at most two).
  uint64_t plies_available() const { return uint64_t(max_plies_) - n_plies_ + free_.size() + pending_free_.size(); }
  // Makes plies freed since the last call reusable; the caller ensures a grace period passed.
  void recycle_after_grace() {
    free_.insert(free_.end(), pending_free_.begin(), pending_free_.end());
    pending_free_.clear();
  }
  bool has_pending_free() const { return !pending_free_.empty(); }
  uint32_t plies_in_use() const { return n_plies_ - uint32_t(free_.size() + pending_free_.size()); }
  // Bytes touched: root, plies ever created, control metadata.
  uint64_t memory_bytes() const;

 private:
  struct Level {
    uint32_t start, stride;  // first bit and width of the index this ply consumes
  };
  static constexpr Level kLevels[3] = {{0, 16}, {16, 8}, {24, 8}};
  uint32_t* leaves_of(int level, uint32_t ply) { return level == 0 ? root_ : plies_ + uint64_t(ply) * 256; }
  uint8_t* bits_of(int level, uint32_t ply) { return level == 0 ? root_bits_ : ply_bits_ + uint64_t(ply) * 256; }
  uint32_t alloc_ply(uint32_t init_leaf, uint8_t init_bits);
  void set_in(int level, uint32_t ply, uint32_t prefix, uint8_t len, uint32_t leaf);
  bool unset_in(int level, uint32_t ply, uint32_t prefix, uint8_t len, uint32_t del_leaf, uint32_t cover_leaf,
                uint8_t cover_len);

  uint32_t* root_ = nullptr;       // 65536 leaves
  uint8_t* root_bits_ = nullptr;   // prefix length that set each root leaf
  uint32_t* plies_ = nullptr;      // reserved region, 256 leaves per ply
  uint8_t* ply_bits_ = nullptr;    // reserved region, 256 lengths per ply
  uint16_t* ply_non_empty_ = nullptr;  // leaves more specific than the ply's own base
  uint32_t n_plies_ = 0, max_plies_ = 0;
  std::vector<uint32_t> free_, pending_free_;
};

}  // namespace quiver
