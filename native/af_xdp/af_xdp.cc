// af_xdp control side: sockets, UMEM registration over the buffer pool, rings, the XDP program,
// link state, teardown; the N-API entry point afXdpCreate.
#include "af_xdp.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "../engine.h"
#include "../json.h"
#include "../napi/napi.h"
#include "../netdev/host_link.h"

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9  // 6.17+: descriptors one sendto() may transmit in copy mode
#endif

namespace quiver {

AfXdpInterface* g_af_xdp[kMaxInterfaces];

namespace {

// struct xdp_umem_reg as of Linux 6.8 (tx_metadata_len replaced the padding): passing the full
// size with an explicit zero keeps the kernel from reading stray padding as metadata length.
struct UmemReg {
  uint64_t addr;
  uint64_t len;
  uint32_t chunk_size;
  uint32_t headroom;
  uint32_t flags;
  uint32_t tx_metadata_len;
};

[[noreturn]] void sock_fail(uint32_t q, const std::string& what, int err) {
  throw std::runtime_error("queues: queue " + std::to_string(q) + ": " + what + ": " + netdev::errno_str(err));
}

void map_ring(AfXdpQueue& q, XskRing& r, const xdp_ring_offset& off, uint64_t pgoff, size_t entry, uint32_t size) {
  r.map_len = off.desc + size_t(size) * entry;
  void* m = mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q.fd, off_t(pgoff));
  if (m == MAP_FAILED) sock_fail(q.queue_id, "mmap of a ring", errno);
  r.map = m;
  auto* base = static_cast<uint8_t*>(m);
  r.producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r.consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r.flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r.desc = base + off.desc;
  r.size = size;
  r.mask = size - 1;
  r.cached_prod = *r.producer;
  r.cached_cons = *r.consumer;
}

void open_socket(AfXdpInterface& xi, AfXdpQueue& q, BufferPool& pool) {
  q.fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (q.fd < 0) sock_fail(q.queue_id, "socket(AF_XDP)", errno);
  UmemReg reg{reinterpret_cast<uint64_t>(pool.base()), pool.size_bytes(), kSlotSize, kXdpFrameHeadroom,
              XDP_UMEM_UNALIGNED_CHUNK_FLAG, 0};
  if (setsockopt(q.fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) != 0) sock_fail(q.queue_id, "UMEM registration", errno);
  const int n = int(xi.ring_size);
  if (setsockopt(q.fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) != 0 ||
      setsockopt(q.fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) != 0 ||
      setsockopt(q.fd, SOL_XDP, XDP_RX_RING, &n, sizeof n) != 0 || setsockopt(q.fd, SOL_XDP, XDP_TX_RING, &n, sizeof n) != 0)
    sock_fail(q.queue_id, "ring setup", errno);
  xdp_mmap_offsets off{};
  socklen_t len = sizeof off;
  if (getsockopt(q.fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) != 0) sock_fail(q.queue_id, "ring offsets", errno);
  map_ring(q, q.rx, off.rx, XDP_PGOFF_RX_RING, sizeof(xdp_desc), xi.ring_size);
  map_ring(q, q.tx, off.tx, XDP_PGOFF_TX_RING, sizeof(xdp_desc), xi.ring_size);
  map_ring(q, q.fill, off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t), xi.ring_size);
  map_ring(q, q.comp, off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t), xi.ring_size);
  // One sendto() may then flush a whole vector instead of 32 descriptors (older kernels: ignored).
  const unsigned budget = xi.ring_size;
  setsockopt(q.fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof budget);
  sockaddr_xdp sa{};
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = uint32_t(xi.host_ifindex);
  sa.sxdp_queue_id = q.queue_id;
  // Copy mode: veth has no zero-copy, and zero-copy on a NIC would need every slot inside
  // physically contiguous memory, which 2624-byte slots over 4 KiB pages are not.
  sa.sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
  // A socket closed a moment ago (an interface deleted and created again) releases its queue
  // in deferred kernel work: the queue reads busy until then, for a few milliseconds.
  int rc;
  for (int tries = 0; (rc = bind(q.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa)) != 0 && errno == EBUSY && tries < 100; ++tries)
    usleep(10000);
  if (rc != 0) sock_fail(q.queue_id, "bind to '" + xi.host + "'", errno);
}

// Posts the whole fill ring before the queue is polled (control thread, control cache).
void initial_fill(AfXdpQueue& q, Engine& e) {
  BufferPool& pool = e.pool();
  std::vector<uint32_t> idx(q.fill.size);
  const uint32_t got = pool.alloc(e.control_cache(), idx.data(), q.fill.size);
  if (got < q.fill.size) {
    pool.free_unchained(e.control_cache(), idx.data(), got);
    throw std::runtime_error("ringSize: the buffer pool has too few free buffers to fill a ring of " +
                             std::to_string(q.fill.size));
  }
  for (uint32_t i = 0; i < got; ++i) {
    q.fill.addrs()[(q.fill.cached_prod + i) & q.fill.mask] = uint64_t(idx[i]) * kSlotSize;
    q.posted.set(idx[i]);
  }
  pool.account_held(got);
  q.fill.submit(got);
}

void unmap(XskRing& r) {
  if (r.map) munmap(r.map, r.map_len);
  r.map = nullptr;
}

// Everything back: program off the interface, sockets closed (after that the kernel no longer
// touches the UMEM), every buffer the kernel still held returned to the pool.
void teardown(AfXdpInterface* xi) {
  Engine& e = Engine::get();
  af_xdp_bpf::detach(*xi);
  for (AfXdpQueue* q : xi->queues) {
    unmap(q->rx);
    unmap(q->tx);
    unmap(q->fill);
    unmap(q->comp);
    if (q->fd >= 0) close(q->fd);
    int64_t returned = 0;
    auto give_back = [&](uint32_t bi) {
      e.pool().free_unchained(e.control_cache(), &bi, 1);
      ++returned;
    };
    q->posted.for_each(give_back);
    q->sending.for_each(give_back);
    e.pool().account_held(-returned);
    delete q;
  }
  xi->queues.clear();
  if (xi->map_fd >= 0) close(xi->map_fd);
  if (xi->prog_fd >= 0) close(xi->prog_fd);
  if (xi->ctl >= 0) close(xi->ctl);
  delete xi;
}

class AfXdpOps : public InterfaceOps {
 public:
  explicit AfXdpOps(AfXdpInterface* xi) : xi_(xi) {}
  const char* driver() const override { return "af_xdp"; }
  void destroy(Interface& intf) override {
    g_af_xdp[intf.index] = nullptr;
    teardown(xi_);
    xi_ = nullptr;
  }
  void set_admin(Interface&, bool up) override {
    if (!xi_->gone) netdev::set_up(xi_->ctl, xi_->host, up);
  }
  void set_mtu(Interface&, uint32_t mtu) override {
    // A frame must fit one UMEM frame (kDataSize) with two VLAN tags.
    if (mtu > kDataSize - 22)
      throw std::runtime_error("mtu: " + std::to_string(mtu) + " exceeds what one AF_XDP frame holds (" +
                               std::to_string(kDataSize - 22) + ")");
    if (!xi_->gone) netdev::set_mtu(xi_->ctl, xi_->host, mtu);
  }
  void set_mac(Interface&, const uint8_t* mac) override {
    if (!xi_->gone) netdev::set_mac(xi_->ctl, xi_->host, mac);
  }
  void poll_control(Interface& intf) override {
    if (xi_->gone) return;
    const netdev::HostState st = netdev::host_state(xi_->ctl, xi_->host_ifindex, xi_->host);
    if (st == netdev::HostState::Gone) {
      xi_->gone = true;
      netdev::report_gone(Engine::get(), intf);
      return;
    }
    Engine::get().set_link(intf, st == netdev::HostState::Up);
    // Frames the kernel dropped for want of room (rx ring full, fill ring empty, too long):
    // Quiver's rx-no-buffer, so that host counters and ours still add up.
    uint64_t lost = 0;
    for (AfXdpQueue* q : xi_->queues) {
      xdp_statistics st{};
      socklen_t len = sizeof st;
      if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) continue;
      const uint64_t total = st.rx_dropped + st.rx_ring_full;
      lost += total - q->kernel_drops_seen;
      q->kernel_drops_seen = total;
    }
    if (lost && !intf.rx_queues.empty()) {
      const uint32_t index = intf.index;
      Engine::get().workers()[intf.rx_queues[0].worker]->post([index, lost](Worker& w) { w.count_if(index, kIfRxNoBuffer, lost); });
    }
  }
  std::string details_json(const Interface&) override {
    std::string j = "{\"host\":" + json_str(xi_->host) + ",\"hostIfindex\":" + std::to_string(xi_->host_ifindex) +
                    ",\"xdpMode\":\"" + (xi_->mode == XdpMode::Native ? "native" : "generic") + "\",\"attach\":\"" +
                    (xi_->attach == XdpAttach::Link ? "link" : "netlink") + "\",\"programId\":" + std::to_string(xi_->prog_id) +
                    ",\"ringSize\":" + std::to_string(xi_->ring_size) + ",\"txQueues\":" + std::to_string(xi_->tx_queues) +
                    ",\"txShared\":" + (xi_->tx_shared ? "true" : "false") + ",\"gone\":" + (xi_->gone ? "true" : "false") +
                    ",\"replaced\":" + json_str(xi_->replaced) + ",\"queues\":[";
    for (size_t i = 0; i < xi_->queues.size(); ++i) {
      AfXdpQueue* q = xi_->queues[i];
      xdp_statistics st{};
      socklen_t len = sizeof st;
      getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &st, &len);
      j += std::string(i ? "," : "") + "{\"queue\":" + std::to_string(q->queue_id) + ",\"rxDropped\":" +
           std::to_string(st.rx_dropped) + ",\"rxRingFull\":" + std::to_string(st.rx_ring_full) +
           ",\"fillRingEmpty\":" + std::to_string(st.rx_fill_ring_empty_descs) + ",\"rxInvalid\":" +
           std::to_string(st.rx_invalid_descs) + ",\"txInvalid\":" + std::to_string(st.tx_invalid_descs) + "}";
    }
    return j + "]}";
  }

 private:
  AfXdpInterface* xi_;
};

bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

}  // namespace

// afXdpCreate({ host, name?, queues?, mode?, attach?, replaceProgram?, ringSize?, worker?, rxMode?,
//               mac?, mtu? }) -> interface index
QUIVER_NAPI(afXdpCreate) {
  Napi::Object o = arg_object(info, 0, "af_xdp");
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const std::string host = opt_string(o, "host", "");
  netdev::check_ifname(host, "host");
  const std::string name = opt_string(o, "name", host);
  const std::string mode = opt_string(o, "mode", "auto");
  if (mode != "auto" && mode != "native" && mode != "generic") throw std::runtime_error("mode: must be auto, native or generic");
  const std::string attach = opt_string(o, "attach", "link");
  if (attach != "link" && attach != "netlink") throw std::runtime_error("attach: must be link or netlink");
  const uint32_t ring = opt_u32(o, "ringSize", 2048);
  if (ring < 64 || ring > 16384 || (ring & (ring - 1))) throw std::runtime_error("ringSize: must be a power of two in 64..16384");
  RxMode rx_mode = e.config().default_rx_mode;
  if (has(o, "rxMode") && !parse_rx_mode(opt_string(o, "rxMode", ""), &rx_mode))
    throw std::runtime_error("rxMode: must be polling, interrupt or adaptive");
  const int worker = has(o, "worker") ? int(opt_u32(o, "worker", 0)) : -1;
  if (worker >= int(e.workers().size())) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  uint8_t mac[6];
  const bool want_mac = has(o, "mac");
  if (want_mac) parse_mac(opt_string(o, "mac", ""), mac, "mac");
  if (e.find_interface(name)) throw std::runtime_error("name: interface '" + name + "' already exists");

  auto* xi = new AfXdpInterface();
  bool registered = false;
  uint32_t index = 0;
  xi->host = host;
  xi->ring_size = ring;
  xi->attach = attach == "link" ? XdpAttach::Link : XdpAttach::Netlink;
  try {
    xi->ctl = netdev::control_socket();
    xi->host_ifindex = netdev::if_index(xi->ctl, host);
    if (!xi->host_ifindex) throw std::runtime_error("host: no interface '" + host + "'");
    const uint32_t dev_rx = netdev::rx_queue_count(host), dev_tx = netdev::tx_queue_count(host);
    const uint32_t nq = opt_u32(o, "queues", dev_rx);
    if (nq < 1 || nq > dev_rx)
      throw std::runtime_error("queues: " + std::to_string(nq) + " is outside 1.." + std::to_string(dev_rx) + " (rx queues of '" + host + "')");
    if (uint64_t(nq) * ring * 2 > e.pool().free_count())
      throw std::runtime_error("ringSize: " + std::to_string(nq) + " queues of " + std::to_string(ring) +
                               " would hold more than half of the free buffers (" + std::to_string(e.pool().free_count()) + ")");
    const uint32_t mtu = has(o, "mtu") ? opt_u32(o, "mtu", 1500) : netdev::get_mtu(xi->ctl, host);
    if (mtu < 68 || mtu > kDataSize - 22)
      throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68.." + std::to_string(kDataSize - 22) +
                               " (one AF_XDP frame per packet)");
    if (!want_mac) netdev::get_mac(xi->ctl, host, mac);
    if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
    xi->tx_queues = nq < dev_tx ? nq : dev_tx;
    xi->tx_shared = e.workers().size() > xi->tx_queues;
    xi->map_fd = af_xdp_bpf::create_xsk_map(dev_rx);
    xi->prog_fd = af_xdp_bpf::load_redirect_program(xi->map_fd);
    xi->prog_id = af_xdp_bpf::prog_id(xi->prog_fd);
    xi->replaced = af_xdp_bpf::clear_stale(xi->host_ifindex, host, opt_bool(o, "replaceProgram", false));
    for (uint32_t q = 0; q < nq; ++q) {
      auto* xq = new AfXdpQueue();
      xq->intf = xi;
      xq->queue_id = q;
      xq->posted.resize(e.pool().total());
      xq->sending.resize(e.pool().total());
      xi->queues.push_back(xq);
      open_socket(*xi, *xq, e.pool());
      initial_fill(*xq, e);
      af_xdp_bpf::map_set(xi->map_fd, q, xq->fd);
    }
    xi->link_fd = af_xdp_bpf::attach(xi->host_ifindex, host, xi->prog_fd, mode, xi->attach, &xi->mode);
    if (has(o, "mtu")) netdev::set_mtu(xi->ctl, host, mtu);
    if (want_mac) netdev::set_mac(xi->ctl, host, mac);
    Interface& intf = e.create_interface(name, "af-xdp-output", std::make_unique<AfXdpOps>(xi), mac, mtu);
    registered = true;
    index = xi->if_index = intf.index;
    g_af_xdp[intf.index] = xi;
    for (AfXdpQueue* q : xi->queues) e.add_rx_queue(intf, q->queue_id, "af-xdp-input", q, q->fd, worker, int(rx_mode));
    e.set_link(intf, netdev::host_state(xi->ctl, xi->host_ifindex, host) == netdev::HostState::Up);
    return Napi::Number::New(info.Env(), intf.index);
  } catch (...) {
    if (registered) e.delete_interface(index);  // its destroy() tears down
    else teardown(xi);
    throw;
  }
}

}  // namespace quiver
