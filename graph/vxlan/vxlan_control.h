// Control-side view of VXLAN tunnels, shared by the tunnel registry and the test underlay.
// Everything here runs under the engine's control lock.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "vxlan.h"

namespace quiver {
namespace vxlan {

struct TunnelConfig {
  uint32_t if_index = kInvalidIf;
  bool is_ip6 = false;
  uint8_t src[16] = {};  // local underlay address (IPv4 in the first 4 bytes)
  uint8_t dst[16] = {};  // remote VTEP
  uint32_t vni = 0;
  uint16_t dst_port = kPortIana;
  uint32_t encap_vrf = 0;  // table id as configured
  uint32_t encap_fib = 0;  // its FIB index
  uint8_t ttl = 64;
  bool df = false;
};

const std::map<uint32_t, TunnelConfig>& tunnels();
// Test chains (vxlan_test_chains.cc): the pg interface whose frames are split, and where.
uint32_t test_chains_interface();
void set_test_chains(uint32_t if_index, uint32_t chain_at);
// Builds the workers' table from the registry and publishes it (old one freed after a grace period).
void publish_tunnels();
std::string tunnel_json(const TunnelConfig& c);
// FIB index of an underlay table id, kUnresolvedFib when it does not exist.
uint32_t resolve_encap_vrf(uint32_t table_id);
// Re-resolves a tunnel's encap table (tables come and go); publishes when it changed.
void refresh_encap_table(uint32_t if_index);

}  // namespace vxlan
}  // namespace quiver
