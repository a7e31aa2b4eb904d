// VLAN tag rewrite on the packet path (VPP's `l2 tag-rewrite`): pop up to two tags, push up
// to two. The frame moves within its buffer: the 12 bytes of MAC addresses slide by 4 bytes per
// tag, the payload never moves (pushes use headroom).
#pragma once
#include <cstring>

#include "../../native/buffer.h"
#include "../../native/headers/ethernet.h"
#include "l2.h"

namespace quiver {
namespace l2 {

inline uint16_t be16_at(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }

// Refreshes the buffer's tag metadata after the frame's tags changed.
inline void update_tag_metadata(Buffer* b) {
  const uint8_t* d = b->data();
  b->l2_offset = b->data_offset;
  b->n_vlan_tags = 0;
  if (b->length >= 18 && is_vlan_ethertype(be16_at(d + 12))) {
    b->n_vlan_tags = 1;
    b->vlan_outer = be16_at(d + 14);
    if (b->length >= 22 && is_vlan_ethertype(be16_at(d + 16))) {
      b->n_vlan_tags = 2;
      b->vlan_inner = be16_at(d + 18);
    }
  }
}

// Applies op to the frame at b->data(). False when the frame carries fewer tags than op pops
// or the headroom cannot hold what it pushes; the frame is then unchanged.
inline bool apply_tag_op(Buffer* b, const TagOp& op) {
  uint8_t* d = b->data();
  if (b->length < kEthernetHeaderSize + kVlanTagSize * op.pop) return false;
  for (uint32_t k = 0; k < op.pop; ++k)
    if (!is_vlan_ethertype(be16_at(d + 12 + kVlanTagSize * k))) return false;
  const int delta = int(kVlanTagSize) * (int(op.pop) - int(op.push));  // > 0: the frame shrinks
  if (delta < 0 && b->headroom() < uint32_t(-delta)) return false;
  uint8_t* nd = d + delta;
  if (delta) std::memmove(nd, d, 12);
  std::memcpy(nd + 12, op.tags, kVlanTagSize * op.push);
  b->advance(delta);
  update_tag_metadata(b);
  return true;
}

}  // namespace l2
}  // namespace quiver
