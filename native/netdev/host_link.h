// Link state of the Linux interface a driver is attached to (af_xdp, af_packet, tap), polled
// from InterfaceOps::poll_control on the housekeeping thread.
#pragma once
#include <string>

#include "../engine.h"
#include "netdev.h"

namespace quiver::netdev {

enum class HostState { Up, Down, Gone };

// Gone when the ifindex no longer names the interface we attached to (deleted, or its veth
// peer's namespace went away and took the pair with it).
inline HostState host_state(int ctl, int ifindex, const std::string& name) {
  if (if_name(ctl, ifindex) != name) return HostState::Gone;
  const LinkFlags f = link_flags(ctl, name);
  if (!f.exists) return HostState::Gone;
  return f.up && f.running ? HostState::Up : HostState::Down;
}

// The interface disappeared under us: link down (counted in linkChanges) and one rx error on
// the worker of each queue (counters belong to workers, so the increment travels as a message).
inline void report_gone(Engine& e, Interface& intf) {
  e.set_link(intf, false);
  const uint32_t index = intf.index;
  for (auto& rq : intf.rx_queues) e.workers()[rq.worker]->post([index](Worker& w) { w.count_if(index, kIfRxErrors, 1); });
}

}  // namespace quiver::netdev
