// UDP port dispatch for local delivery. A feature that terminates UDP on the dataplane's own
// addresses (VXLAN: 4789 -> "vxlan4-input") registers the port statically; ip4-local /
// ip6-local get an arc to its node and hand it matching packets with data at the UDP payload
// (b->l3_offset / b->l4_offset point at the IP and UDP headers; rx_if unchanged). Unknown ports
// get an ICMP port unreachable (rate-limited) and are counted.
//
//   QUIVER_IP4_UDP_PORT(vxlan4, 4789, "vxlan4-input");
//   QUIVER_IP6_UDP_PORT(vxlan6, 4789, "vxlan6-input");
#pragma once
#include <cstdint>
#include <vector>

#include "../../native/node.h"
#include "ip_common.h"

namespace quiver {

struct UdpPortDecl {
  IpFamily family;
  uint16_t port;
  const char* node;
};
std::vector<UdpPortDecl>& udp_port_registry();
struct UdpPortRegistrar {
  UdpPortRegistrar(IpFamily f, uint16_t port, const char* node) {
    udp_port_registry().push_back({f, port, node});
    extra_arc_registry().push_back({f == IpFamily::V4 ? "ip4-local" : "ip6-local", node});
  }
};
#define QUIVER_IP4_UDP_PORT(id, port, node) \
  static ::quiver::UdpPortRegistrar QUIVER_CONCAT(udp4_port_, id)(::quiver::IpFamily::V4, port, node)
#define QUIVER_IP6_UDP_PORT(id, port, node) \
  static ::quiver::UdpPortRegistrar QUIVER_CONCAT(udp6_port_, id)(::quiver::IpFamily::V6, port, node)

// Packet path: next index of ip4-local / ip6-local for a destination port, 0 when none.
extern uint16_t g_udp_next4[65536];
extern uint16_t g_udp_next6[65536];

}  // namespace quiver
