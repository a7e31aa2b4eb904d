#include "netdev.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <exception>
#include <stdexcept>
#include <thread>

namespace quiver::netdev {

std::string errno_str(int err) { return std::string(strerror(err)); }

namespace {

[[noreturn]] void fail(const std::string& field, const std::string& what, int err) {
  throw std::runtime_error(field + ": " + what + ": " + errno_str(err));
}

ifreq make_ifreq(const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

uint32_t count_queues(const std::string& name, const char* prefix) {
  DIR* d = opendir(("/sys/class/net/" + name + "/queues").c_str());
  if (!d) return 1;
  uint32_t n = 0;
  while (dirent* e = readdir(d))
    if (std::strncmp(e->d_name, prefix, std::strlen(prefix)) == 0) ++n;
  closedir(d);
  return n ? n : 1;
}

// One rtnetlink request on a fresh socket of the calling thread's namespace. `reply` (when
// given) receives every message of the answer; the return value is 0 or -errno from the ack.
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = uint16_t(NLM_F_REQUEST | flags);
    hdr()->nlmsg_seq = 1;
  }
  template <class T> void put(const T& v) { append(&v, sizeof v); }
  void attr(uint16_t type, const void* data, size_t len) {
    nlattr a{uint16_t(NLA_HDRLEN + len), type};
    append(&a, sizeof a);
    append(data, len);
  }
  size_t nest_begin(uint16_t type) {
    const size_t at = buf_.size();
    nlattr a{NLA_HDRLEN, uint16_t(type | NLA_F_NESTED)};
    append(&a, sizeof a);
    return at;
  }
  void nest_end(size_t at) { reinterpret_cast<nlattr*>(buf_.data() + at)->nla_len = uint16_t(buf_.size() - at); }

  int run(std::vector<std::vector<uint8_t>>* reply = nullptr) {
    hdr()->nlmsg_len = uint32_t(buf_.size());
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    int rc = 0;
    if (sendto(fd, buf_.data(), buf_.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
      rc = -errno;
      close(fd);
      return rc;
    }
    std::vector<uint8_t> in(65536);
    for (bool done = false; !done;) {
      const ssize_t got = recv(fd, in.data(), in.size(), 0);
      if (got < 0) {
        rc = -errno;
        break;
      }
      int n = int(got);
      for (auto* h = reinterpret_cast<nlmsghdr*>(in.data()); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          rc = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
          done = true;
          break;
        }
        if (h->nlmsg_type == NLMSG_DONE) {
          done = true;
          break;
        }
        if (reply) reply->emplace_back(reinterpret_cast<uint8_t*>(h), reinterpret_cast<uint8_t*>(h) + h->nlmsg_len);
        if (!(h->nlmsg_flags & NLM_F_MULTI) && !(hdr()->nlmsg_flags & NLM_F_ACK)) done = true;
      }
    }
    close(fd);
    return rc;
  }

 private:
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  void append(const void* p, size_t len) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + len);
    buf_.resize(NLMSG_ALIGN(buf_.size()), 0);
  }
  std::vector<uint8_t> buf_;
};

}  // namespace

int control_socket() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("interface", "socket", errno);
  return fd;
}

int if_index(int ctl, const std::string& name) {
  ifreq ifr = make_ifreq(name);
  if (ioctl(ctl, SIOCGIFINDEX, &ifr) != 0) return 0;
  return ifr.ifr_ifindex;
}

std::string if_name(int ctl, int ifindex) {
  ifreq ifr{};
  ifr.ifr_ifindex = ifindex;
  if (ioctl(ctl, SIOCGIFNAME, &ifr) != 0) return "";
  return ifr.ifr_name;
}

LinkFlags link_flags(int ctl, const std::string& name) {
  LinkFlags f;
  ifreq ifr = make_ifreq(name);
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) return f;
  f.exists = true;
  f.up = ifr.ifr_flags & IFF_UP;
  f.running = ifr.ifr_flags & IFF_RUNNING;
  return f;
}

void set_up(int ctl, const std::string& name, bool up) {
  ifreq ifr = make_ifreq(name);
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) fail("host", "cannot read flags of '" + name + "'", errno);
  const short want = short(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
  if (want == ifr.ifr_flags) return;
  ifr.ifr_flags = want;
  if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) fail("host", std::string("cannot set '") + name + "' " + (up ? "up" : "down"), errno);
}

uint32_t get_mtu(int ctl, const std::string& name) {
  ifreq ifr = make_ifreq(name);
  if (ioctl(ctl, SIOCGIFMTU, &ifr) != 0) fail("host", "cannot read the MTU of '" + name + "'", errno);
  return uint32_t(ifr.ifr_mtu);
}

void set_mtu(int ctl, const std::string& name, uint32_t mtu) {
  ifreq ifr = make_ifreq(name);
  ifr.ifr_mtu = int(mtu);
  if (ioctl(ctl, SIOCSIFMTU, &ifr) != 0) fail("mtu", "cannot set MTU " + std::to_string(mtu) + " on '" + name + "'", errno);
}

void get_mac(int ctl, const std::string& name, uint8_t* mac) {
  ifreq ifr = make_ifreq(name);
  if (ioctl(ctl, SIOCGIFHWADDR, &ifr) != 0) fail("host", "cannot read the MAC of '" + name + "'", errno);
  std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

void set_mac(int ctl, const std::string& name, const uint8_t* mac) {
  ifreq ifr = make_ifreq(name);
  ifr.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  if (ioctl(ctl, SIOCSIFHWADDR, &ifr) != 0) fail("mac", "cannot set the MAC of '" + name + "'", errno);
}

uint32_t rx_queue_count(const std::string& name) { return count_queues(name, "rx-"); }
uint32_t tx_queue_count(const std::string& name) { return count_queues(name, "tx-"); }

void check_ifname(const std::string& name, const char* field) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    throw std::runtime_error(std::string(field) + ": '" + name + "' is not a Linux interface name (1..15 characters)");
  if (name == "." || name == ".." || name.find_first_of("/ \t\n:") != std::string::npos)
    throw std::runtime_error(std::string(field) + ": '" + name + "' is not a Linux interface name (no '/', ':' or spaces)");
}

IpPrefix parse_prefix(const std::string& s, const std::string& field) {
  IpPrefix p;
  const size_t slash = s.find('/');
  const std::string addr = s.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), p.addr) == 1) p.family = AF_INET;
  else if (inet_pton(AF_INET6, addr.c_str(), p.addr) == 1) p.family = AF_INET6;
  else throw std::runtime_error(field + ": '" + s + "' is not an IPv4 or IPv6 address with a prefix length");
  const int max = p.family == AF_INET ? 32 : 128;
  int len = max;
  if (slash != std::string::npos) {
    const std::string l = s.substr(slash + 1);
    if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos || std::stoi(l) > max)
      throw std::runtime_error(field + ": '" + s + "' has a bad prefix length (0.." + std::to_string(max) + ")");
    len = std::stoi(l);
  }
  p.length = uint8_t(len);
  return p;
}

std::string format_prefix(const IpPrefix& p) {
  char b[INET6_ADDRSTRLEN];
  inet_ntop(p.family, p.addr, b, sizeof b);
  return std::string(b) + "/" + std::to_string(p.length);
}

void add_address(int ifindex, const IpPrefix& p) {
  NlRequest r(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg m{};
  m.ifa_family = uint8_t(p.family);
  m.ifa_prefixlen = p.length;
  m.ifa_index = uint32_t(ifindex);
  if (p.family == AF_INET6) m.ifa_flags = IFA_F_NODAD;
  r.put(m);
  const size_t alen = p.family == AF_INET ? 4 : 16;
  r.attr(IFA_LOCAL, p.addr, alen);
  r.attr(IFA_ADDRESS, p.addr, alen);
  if (p.family == AF_INET6) {
    const uint32_t flags = IFA_F_NODAD;
    r.attr(IFA_FLAGS, &flags, sizeof flags);
  }
  const int rc = r.run();
  if (rc < 0) throw std::runtime_error("addresses: cannot add " + format_prefix(p) + ": " + errno_str(-rc));
}

void move_link(int ifindex, int ns_fd, const std::string& new_name) {
  NlRequest r(RTM_NEWLINK, NLM_F_ACK);
  ifinfomsg m{};
  m.ifi_family = AF_UNSPEC;
  m.ifi_index = ifindex;
  r.put(m);
  const uint32_t fd = uint32_t(ns_fd);
  r.attr(IFLA_NET_NS_FD, &fd, sizeof fd);
  r.attr(IFLA_IFNAME, new_name.c_str(), new_name.size() + 1);
  const int rc = r.run();
  if (rc < 0) throw std::runtime_error("netns: cannot move the interface into the namespace as '" + new_name + "': " + errno_str(-rc));
}

XdpState xdp_state(int ifindex) {
  NlRequest r(RTM_GETLINK, 0);
  ifinfomsg m{};
  m.ifi_family = AF_UNSPEC;
  m.ifi_index = ifindex;
  r.put(m);
  std::vector<std::vector<uint8_t>> reply;
  XdpState st;
  const int rc = r.run(&reply);
  if (rc < 0) throw std::runtime_error("host: cannot read the XDP state: " + errno_str(-rc));
  for (auto& msg : reply) {
    auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
    if (h->nlmsg_type != RTM_NEWLINK) continue;
    int len = int(h->nlmsg_len) - int(NLMSG_LENGTH(sizeof(ifinfomsg)));
    for (auto* a = IFLA_RTA(static_cast<ifinfomsg*>(NLMSG_DATA(h))); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if ((a->rta_type & NLA_TYPE_MASK) != IFLA_XDP) continue;
      int nlen = int(RTA_PAYLOAD(a));
      for (auto* x = static_cast<rtattr*>(RTA_DATA(a)); RTA_OK(x, nlen); x = RTA_NEXT(x, nlen)) {
        const void* d = RTA_DATA(x);
        switch (x->rta_type) {
          case IFLA_XDP_ATTACHED: st.attached = *static_cast<const uint8_t*>(d); break;
          case IFLA_XDP_PROG_ID: std::memcpy(&st.prog_id, d, 4); break;
          case IFLA_XDP_DRV_PROG_ID: std::memcpy(&st.drv_prog_id, d, 4); break;
          case IFLA_XDP_SKB_PROG_ID: std::memcpy(&st.skb_prog_id, d, 4); break;
        }
      }
    }
  }
  return st;
}

int set_xdp(int ifindex, int fd, uint32_t flags, int expected_fd) {
  NlRequest r(RTM_SETLINK, NLM_F_ACK);
  ifinfomsg m{};
  m.ifi_family = AF_UNSPEC;
  m.ifi_index = ifindex;
  r.put(m);
  const size_t nest = r.nest_begin(IFLA_XDP);
  const int32_t f = fd;
  r.attr(IFLA_XDP_FD, &f, sizeof f);
  if (expected_fd >= 0) {
    flags |= XDP_FLAGS_REPLACE;
    const int32_t e = expected_fd;
    r.attr(IFLA_XDP_EXPECTED_FD, &e, sizeof e);
  }
  r.attr(IFLA_XDP_FLAGS, &flags, sizeof flags);
  r.nest_end(nest);
  return r.run();
}

int open_netns(const std::string& spec) {
  if (spec.empty()) throw std::runtime_error("netns: must not be empty");
  const bool path = spec[0] == '/';
  if (!path && (spec.find('/') != std::string::npos || spec == "." || spec == ".."))
    throw std::runtime_error("netns: '" + spec + "' is not a namespace name");
  const std::string file = path ? spec : "/run/netns/" + spec;
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("netns: no network namespace '" + spec + "' (" + file + ": " + errno_str(errno) + ")");
  return fd;
}

void in_netns(int ns_fd, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      if (setns(ns_fd, CLONE_NEWNET) != 0) throw std::runtime_error("netns: cannot enter the namespace: " + errno_str(errno));
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace quiver::netdev
