// Linux network-device plumbing shared by the af_xdp, af_packet and tap drivers (control side
// only): interface lookup and flags through ioctl, rtnetlink requests (addresses, moving a
// link to another namespace, XDP attachment state), running code inside another network
// namespace. Errors are std::runtime_error with "field: reason", like every other control-side
// failure in Quiver.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace quiver::netdev {

// --- interfaces in the caller's network namespace (or the namespace of `ctl`) ---

// A datagram socket for interface ioctls. Its namespace is the one it was created in, so a
// socket created inside another namespace queries that namespace from any thread.
int control_socket();
int if_index(int ctl, const std::string& name);  // 0 when there is no such interface
std::string if_name(int ctl, int ifindex);       // "" when there is no such interface
struct LinkFlags {
  bool exists = false;
  bool up = false;       // IFF_UP: administratively up
  bool running = false;  // IFF_RUNNING: carrier (operational)
};
LinkFlags link_flags(int ctl, const std::string& name);
void set_up(int ctl, const std::string& name, bool up);
uint32_t get_mtu(int ctl, const std::string& name);
void set_mtu(int ctl, const std::string& name, uint32_t mtu);
void get_mac(int ctl, const std::string& name, uint8_t* mac);
void set_mac(int ctl, const std::string& name, const uint8_t* mac);
// Queue counts from sysfs (/sys/class/net/<name>/queues); 1 when sysfs does not say.
uint32_t rx_queue_count(const std::string& name);
uint32_t tx_queue_count(const std::string& name);
// Linux interface names: 1..15 characters, no '/', no whitespace, not "." or "..".
void check_ifname(const std::string& name, const char* field);

// --- rtnetlink ---

struct IpPrefix {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t addr[16] = {};
  uint8_t length = 0;
};
// "198.18.0.1/24" or "2001:db8::1/64"; throws naming `field`.
IpPrefix parse_prefix(const std::string& s, const std::string& field);
std::string format_prefix(const IpPrefix& p);
// Adds an address in the namespace of the calling thread (IPv6 without DAD: the peer is Quiver).
void add_address(int ifindex, const IpPrefix& p);
// Moves a link into the namespace behind ns_fd, renaming it on the way.
void move_link(int ifindex, int ns_fd, const std::string& new_name);

struct XdpState {
  uint8_t attached = 0;  // XDP_ATTACHED_NONE/DRV/SKB/HW/MULTI
  uint32_t prog_id = 0, drv_prog_id = 0, skb_prog_id = 0;
};
XdpState xdp_state(int ifindex);
// Legacy (netlink) attachment: fd -1 detaches. expected_fd >= 0 makes the change conditional
// on that program still being the attached one. Returns 0 or -errno.
int set_xdp(int ifindex, int fd, uint32_t flags, int expected_fd);

// --- network namespaces ---

// A namespace by name (/run/netns/<name>) or by path (anything starting with '/'); returns an
// fd the caller closes. Throws "netns: ..." when it does not exist.
int open_netns(const std::string& spec);
// Runs fn on a short-lived thread that entered the namespace (only that thread moves).
// Exceptions thrown by fn are rethrown here.
void in_netns(int ns_fd, const std::function<void()>& fn);

std::string errno_str(int err);

}  // namespace quiver::netdev
