#include "udp_ports.h"

#include <cstring>

#include "../../native/engine.h"

namespace quiver {

uint16_t g_udp_next4[65536];
uint16_t g_udp_next6[65536];

std::vector<UdpPortDecl>& udp_port_registry() {
  static std::vector<UdpPortDecl> r;
  return r;
}

// Resolves registered ports to next indices (the graph is built; workers not started yet).
void udp_ports_start(Engine& e) {
  std::memset(g_udp_next4, 0, sizeof g_udp_next4);
  std::memset(g_udp_next6, 0, sizeof g_udp_next6);
  for (const UdpPortDecl& d : udp_port_registry()) {
    const bool v4 = d.family == IpFamily::V4;
    const int next = e.graph().next_index(v4 ? "ip4-local" : "ip6-local", d.node);
    if (next <= 0 || e.graph().node_index(d.node) < 0) continue;  // the node is not compiled in
    (v4 ? g_udp_next4 : g_udp_next6)[d.port] = uint16_t(next);
  }
}

}  // namespace quiver
