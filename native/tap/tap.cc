// tap control side: device creation (in Quiver's namespace, then moved into the target one),
// addresses, MTU/MAC, carrier as admin state, disappearance; N-API tapCreate.
#include "tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

#include "../buffer.h"
#include "../engine.h"
#include "../json.h"
#include "../napi/napi.h"
#include "../netdev/host_link.h"

namespace quiver {

TapInterface* g_tap[kMaxInterfaces];

namespace {

uint32_t bufs_for_mtu(uint32_t mtu) { return (mtu + 22 + kDataSize - 1) / kDataSize; }

std::string random_hex(int n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += digits[rng() & 15];
  return s;
}

// Runs fn in the interface's namespace (or right here when it has none).
void in_its_netns(const TapInterface& ti, const std::function<void()>& fn) {
  if (ti.netns.empty()) return fn();
  const int ns = netdev::open_netns(ti.netns);
  try {
    netdev::in_netns(ns, fn);
  } catch (...) {
    close(ns);
    throw;
  }
  close(ns);
}

void teardown(TapInterface* ti) {
  Engine& e = Engine::get();
  int64_t returned = 0;
  for (TapQueue* q : ti->queues) {
    if (q->fd >= 0) close(q->fd);  // the last fd takes the (non-persistent) device with it
    e.pool().free_unchained(e.control_cache(), q->spare, q->n_spare);
    returned += q->n_spare;
    delete q;
  }
  e.pool().account_held(-returned);
  delete ti;
}

class TapOps : public InterfaceOps {
 public:
  explicit TapOps(TapInterface* ti) : ti_(ti) {}
  const char* driver() const override { return "tap"; }
  void destroy(Interface& intf) override {
    g_tap[intf.index] = nullptr;
    teardown(ti_);
    ti_ = nullptr;
  }
  // Quiver's admin state is the carrier the kernel side sees: a cable plugged in or not.
  void set_admin(Interface&, bool up) override {
    if (ti_->gone) return;
    int on = up ? 1 : 0;
    if (ioctl(ti_->queues[0]->fd, TUNSETCARRIER, &on) != 0)
      throw std::runtime_error("adminUp: cannot set the tap carrier: " + netdev::errno_str(errno));
  }
  void set_mtu(Interface&, uint32_t mtu) override {
    if (ti_->gone) return;
    in_its_netns(*ti_, [&] {
      const int ctl = netdev::control_socket();
      try {
        netdev::set_mtu(ctl, ti_->host_name, mtu);
      } catch (...) {
        close(ctl);
        throw;
      }
      close(ctl);
    });
    ti_->bufs_per_frame.store(bufs_for_mtu(mtu));
  }
  void poll_control(Interface& intf) override {
    if (ti_->gone) return;
    ifreq ifr{};
    // A tap whose namespace went away was deleted with it: its fds are detached (EBADFD).
    if (ioctl(ti_->queues[0]->fd, TUNGETIFF, &ifr) != 0 && errno == EBADFD) {
      ti_->gone = true;
      netdev::report_gone(Engine::get(), intf);
    }
  }
  std::string details_json(const Interface&) override {
    return "{\"hostName\":" + json_str(ti_->host_name) + ",\"netns\":" + json_str(ti_->netns) + ",\"hostIfindex\":" +
           std::to_string(ti_->host_ifindex) + ",\"queues\":" + std::to_string(ti_->queues.size()) + ",\"offloads\":\"" +
           (ti_->csum_offload ? "csum" : "none") + "\",\"txShared\":" + (ti_->tx_shared ? "true" : "false") + ",\"gone\":" +
           (ti_->gone ? "true" : "false") + "}";
  }

 private:
  TapInterface* ti_;
};

bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

}  // namespace

// tapCreate({ hostName, name?, netns?, queues?, hostMac?, mac?, mtu?, addresses?, offloads?, up?,
//             worker?, rxMode? }) -> interface index
QUIVER_NAPI(tapCreate) {
  Napi::Object o = arg_object(info, 0, "tap");
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const std::string host_name = opt_string(o, "hostName", "");
  netdev::check_ifname(host_name, "hostName");
  const std::string name = opt_string(o, "name", host_name);
  const std::string netns = opt_string(o, "netns", "");
  const uint32_t nq = opt_u32(o, "queues", 1);
  if (nq < 1 || nq > 64) throw std::runtime_error("queues: must be 1..64");
  const uint32_t mtu = opt_u32(o, "mtu", 1500);
  if (mtu < 68 || mtu > 9216) throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68..9216");
  const std::string offloads = opt_string(o, "offloads", "csum");
  if (offloads != "csum" && offloads != "none") throw std::runtime_error("offloads: must be csum or none");
  const bool up = opt_bool(o, "up", true);
  std::vector<netdev::IpPrefix> addresses;
  if (has(o, "addresses")) {
    if (!o.Get("addresses").IsArray()) throw std::runtime_error("addresses: must be an array of 'address/length' strings");
    Napi::Array a = o.Get("addresses").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string field = "addresses[" + std::to_string(i) + "]";
      if (!a.Get(i).IsString()) throw std::runtime_error(field + ": must be a string");
      addresses.push_back(netdev::parse_prefix(a.Get(i).As<Napi::String>().Utf8Value(), field));
    }
  }
  uint8_t host_mac[6], mac[6];
  const bool want_host_mac = has(o, "hostMac");
  if (want_host_mac) parse_mac(opt_string(o, "hostMac", ""), host_mac, "hostMac");
  if (want_host_mac && (host_mac[0] & 1)) throw std::runtime_error("hostMac: " + mac_str(host_mac) + " is a multicast address");
  if (has(o, "mac")) {
    parse_mac(opt_string(o, "mac", ""), mac, "mac");
    if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
  } else {
    mac[0] = 0x02;
    mac[1] = 0xfe;
    const std::string r = random_hex(8);
    for (int i = 0; i < 4; ++i) mac[2 + i] = uint8_t(std::stoul(r.substr(size_t(i) * 2, 2), nullptr, 16));
  }
  RxMode rx_mode = e.config().default_rx_mode;
  if (has(o, "rxMode") && !parse_rx_mode(opt_string(o, "rxMode", ""), &rx_mode))
    throw std::runtime_error("rxMode: must be polling, interrupt or adaptive");
  const int worker = has(o, "worker") ? int(opt_u32(o, "worker", 0)) : -1;
  if (worker >= int(e.workers().size())) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  if (e.find_interface(name)) throw std::runtime_error("name: interface '" + name + "' already exists");

  auto* ti = new TapInterface();
  ti->host_name = host_name;
  ti->netns = netns;
  ti->csum_offload = offloads == "csum";
  ti->tx_shared = e.workers().size() > nq;
  ti->bufs_per_frame = bufs_for_mtu(mtu);
  bool registered = false;
  uint32_t index = 0;
  int ns_fd = -1, ctl = -1;
  try {
    ns_fd = netns.empty() ? -1 : netdev::open_netns(netns);
    ctl = netdev::control_socket();
    // In another namespace the device is born here under a temporary name and renamed by the
    // move; in ours it gets its name at once.
    const std::string birth = netns.empty() ? host_name : "qtap" + random_hex(8);
    if (netns.empty() && netdev::if_index(ctl, host_name))
      throw std::runtime_error("hostName: an interface '" + host_name + "' already exists");
    if (!netns.empty())
      netdev::in_netns(ns_fd, [&] {
        const int c = netdev::control_socket();
        const bool exists = netdev::if_index(c, host_name) != 0;
        close(c);
        if (exists) throw std::runtime_error("hostName: an interface '" + host_name + "' already exists in namespace '" + netns + "'");
      });
    for (uint32_t q = 0; q < nq; ++q) {
      auto* tq = new TapQueue();
      tq->intf = ti;
      tq->queue_id = q;
      ti->queues.push_back(tq);
      tq->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (tq->fd < 0) throw std::runtime_error("queues: cannot open /dev/net/tun: " + netdev::errno_str(errno));
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, birth.c_str(), IFNAMSIZ - 1);
      ifr.ifr_flags = short(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (nq > 1 ? IFF_MULTI_QUEUE : 0));
      if (ioctl(tq->fd, TUNSETIFF, &ifr) != 0)
        throw std::runtime_error("queues: queue " + std::to_string(q) + ": TUNSETIFF: " + netdev::errno_str(errno));
      int hdr = sizeof(VirtioNetHdr);
      if (ioctl(tq->fd, TUNSETVNETHDRSZ, &hdr) != 0) throw std::runtime_error("queues: TUNSETVNETHDRSZ: " + netdev::errno_str(errno));
      // Checksum offload only: TSO/UFO would hand us 64 KB frames the graph cannot segment.
      const unsigned off = ti->csum_offload ? TUN_F_CSUM : 0;
      if (ioctl(tq->fd, TUNSETOFFLOAD, off) != 0) throw std::runtime_error("offloads: TUNSETOFFLOAD: " + netdev::errno_str(errno));
    }
    int carrier = 0;  // plugged in at admin up
    ioctl(ti->queues[0]->fd, TUNSETCARRIER, &carrier);
    if (want_host_mac) netdev::set_mac(ctl, birth, host_mac);
    netdev::set_mtu(ctl, birth, mtu);
    auto configure = [&] {
      const int c = netdev::control_socket();
      try {
        ti->host_ifindex = netdev::if_index(c, host_name);
        for (const auto& p : addresses) netdev::add_address(ti->host_ifindex, p);
        if (up) netdev::set_up(c, host_name, true);
      } catch (...) {
        close(c);
        throw;
      }
      close(c);
    };
    if (netns.empty()) {
      configure();
    } else {
      netdev::move_link(netdev::if_index(ctl, birth), ns_fd, host_name);
      netdev::in_netns(ns_fd, configure);
    }
    Interface& intf = e.create_interface(name, "tap-output", std::make_unique<TapOps>(ti), mac, mtu);
    registered = true;
    index = ti->if_index = intf.index;
    g_tap[intf.index] = ti;
    for (TapQueue* q : ti->queues) e.add_rx_queue(intf, q->queue_id, "tap-input", q, q->fd, worker, int(rx_mode));
    e.set_link(intf, true);
  } catch (...) {
    if (ns_fd >= 0) close(ns_fd);
    if (ctl >= 0) close(ctl);
    if (registered) e.delete_interface(index);
    else teardown(ti);
    throw;
  }
  if (ns_fd >= 0) close(ns_fd);
  close(ctl);
  return Napi::Number::New(info.Env(), index);
}

}  // namespace quiver
