// How an encapsulated packet is handed to the underlay: what the outer lookup needs to know
// besides the outer header itself.
#pragma once
#include "vxlan.h"

namespace quiver {
namespace vxlan {

inline void underlay_handoff(Buffer* b, const EncapTunnel& et) {
  b->l3_offset = b->data_offset;
  (void)et;
}

}  // namespace vxlan
}  // namespace quiver
