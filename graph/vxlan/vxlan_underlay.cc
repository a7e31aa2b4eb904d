// The seam between VXLAN and the underlay's L3: which FIB an encap table id names.
#include <stdexcept>
#include <string>

#include "vxlan_control.h"

namespace quiver {
namespace vxlan {

// Without an L3 feature there is only the default table.
uint32_t resolve_encap_vrf(uint32_t table_id) {
  if (table_id != 0) throw std::runtime_error("encapVrf: table " + std::to_string(table_id) + " does not exist");
  return 0;
}

}  // namespace vxlan
}  // namespace quiver
