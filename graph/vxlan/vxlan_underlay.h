// How an encapsulated packet is handed to the underlay: as a packet the dataplane originates
// (rx_if invalid), looked up in the tunnel's encap table (L3's convention, ip_common.h).
#pragma once
#include "../ip/ip_common.h"
#include "vxlan.h"

namespace quiver {
namespace vxlan {

inline void underlay_handoff(Buffer* b, const EncapTunnel& et) {
  IpOpaque& o = ip_opaque(b);
  o.fib_index = et.fib_index;
  o.origin_if = et.if_index;
  b->rx_if = kInvalidIf;
  b->l3_offset = b->data_offset;
}

}  // namespace vxlan
}  // namespace quiver
