// The seam between VXLAN and L3: which FIB an encap table id names, and the UDP ports whose
// packets for our addresses ip4-local / ip6-local hand to decap.
#include "../ip/l3.h"
#include "../ip/udp_ports.h"
#include "vxlan_control.h"

namespace quiver {
namespace vxlan {

QUIVER_IP4_UDP_PORT(vxlan4_iana, kPortIana, "vxlan4-input");
QUIVER_IP4_UDP_PORT(vxlan4_linux, kPortLinux, "vxlan4-input");
QUIVER_IP6_UDP_PORT(vxlan6_iana, kPortIana, "vxlan6-input");
QUIVER_IP6_UDP_PORT(vxlan6_linux, kPortLinux, "vxlan6-input");

uint32_t resolve_encap_vrf(uint32_t table_id) {
  const FibTable* t = L3::get().table_by_id(table_id);
  return t ? t->index : kUnresolvedFib;
}

}  // namespace vxlan
}  // namespace quiver
