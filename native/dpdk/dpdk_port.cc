// Control side of a DPDK port as a Quiver interface: find or hot-plug the device, configure
// queues (RSS when more than one rx queue, checksum offloads, scatter, multi-segment tx),
// start/stop with admin state, link polling, details with rte_eth_stats, and teardown that
// gives every buffer back (rings drained, DPDK's per-lcore mempool caches flushed).
#include "dpdk.h"  // first: it sets the DPDK API level before any rte header

#include <memory>
#include <stdexcept>

#include "../engine.h"
#include "../json.h"
#include "../napi/napi.h"
#include "../worker.h"

namespace quiver::dpdk {

void set_idle_wake_ns(uint64_t ns);  // dpdk_node.cc

namespace {

constexpr uint64_t kAdaptiveWakeNs = 2000000;  // see poll_queue: ~1 ms sleeps when idle

std::string port_name(uint16_t id) {
  char n[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(id, n);
  return n;
}

std::string offload_names(uint64_t bits, const char* (*name)(uint64_t)) {
  std::string j = "[";
  for (int b = 0; b < 64; ++b) {
    if (!(bits & (1ull << b))) continue;
    if (j.size() > 1) j += ",";
    j += json_str(name(1ull << b));
  }
  return j + "]";
}

std::string queue_counts(const uint64_t* q, uint16_t n) {
  std::string j = "[";
  for (uint16_t i = 0; i < n && i < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++i) {
    if (i) j += ',';
    j += std::to_string(q[i]);
  }
  return j + "]";
}

// rte_eth_stats, with per-queue packets for the first RTE_ETHDEV_QUEUE_STAT_CNTRS queues.
std::string stats_json(uint16_t pid, uint16_t n_rxq, uint16_t n_txq) {
  rte_eth_stats s{};
  if (rte_eth_stats_get(pid, &s) != 0) return "null";
  return "{\"ipackets\":" + std::to_string(s.ipackets) + ",\"opackets\":" + std::to_string(s.opackets) + ",\"ibytes\":" +
         std::to_string(s.ibytes) + ",\"obytes\":" + std::to_string(s.obytes) + ",\"imissed\":" + std::to_string(s.imissed) +
         ",\"ierrors\":" + std::to_string(s.ierrors) + ",\"oerrors\":" + std::to_string(s.oerrors) + ",\"rxNoMbuf\":" +
         std::to_string(s.rx_nombuf) + ",\"rxQueuePackets\":" + queue_counts(s.q_ipackets, n_rxq) + ",\"txQueuePackets\":" +
         queue_counts(s.q_opackets, n_txq) + "}";
}

std::string link_json(uint16_t pid) {
  rte_eth_link l{};
  if (rte_eth_link_get_nowait(pid, &l) != 0) return "null";
  return std::string("{\"up\":") + (l.link_status ? "true" : "false") + ",\"speedMbps\":" + std::to_string(l.link_speed) +
         ",\"fullDuplex\":" + (l.link_duplex ? "true" : "false") + ",\"autoneg\":" + (l.link_autoneg ? "true" : "false") + "}";
}

std::string err_text(int r) { return rte_strerror(r < 0 ? -r : r); }

// A port that cannot change its MAC (most vdevs) keeps its own; Quiver's L3 uses the one given.
void apply_mac(uint16_t pid, const uint8_t* mac) {
  rte_ether_addr a;
  std::memcpy(a.addr_bytes, mac, 6);
  const int r = rte_eth_dev_default_mac_addr_set(pid, &a);
  if (r != 0 && r != -ENOTSUP)
    throw std::runtime_error("mac: DPDK port " + std::to_string(pid) + " refuses " + mac_str(mac) + ": " + err_text(r));
}

struct PortSetup {
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 0;  // 0: one per worker, as many as the port allows
  uint16_t rx_desc = 1024, tx_desc = 1024;
  uint32_t mtu = 0;        // 0: the port's current MTU
  bool rx_checksum = true;
  bool promiscuous = true;
  uint64_t discarded_at_start = 0;
};

class DpdkOps : public InterfaceOps {
 public:
  std::unique_ptr<Port> port;
  rte_device* device = nullptr;
  std::string driver_name;
  bool hotplugged = false;
  bool dma_mapped = false;
  bool started = false;
  uint16_t rx_desc = 0, tx_desc = 0;
  uint64_t rx_offloads = 0, tx_offloads = 0, rss_hf = 0;
  RxMode mode = RxMode::Polling;
  bool promiscuous = true;
  uint64_t discarded_at_start = 0;

  const char* driver() const override { return "dpdk"; }

  void set_admin(Interface& intf, bool up) override {
    if (up == started) return;
    const uint16_t pid = port->port_id;
    if (up) {
      const int r = rte_eth_dev_start(pid);
      if (r != 0) throw std::runtime_error("adminUp: DPDK port " + std::to_string(pid) + " does not start: " + err_text(r));
      if (promiscuous) rte_eth_promiscuous_enable(pid);  // L2 modes need every frame; vdevs may not implement it
      started = true;
      discard_pending();
      port->running.store(true, std::memory_order_release);
    } else {
      stop();
    }
    (void)intf;
  }

  void set_mtu(Interface&, uint32_t mtu) override {
    const int r = rte_eth_dev_set_mtu(port->port_id, uint16_t(mtu));
    if (r != 0 && r != -ENOTSUP)
      throw std::runtime_error("mtu: DPDK port " + std::to_string(port->port_id) + " refuses MTU " + std::to_string(mtu) + ": " + err_text(r));
  }

  void set_mac(Interface&, const uint8_t* mac) override { apply_mac(port->port_id, mac); }

  // No rx interrupts: polling, or adaptive (poll under load, ~1 ms sleeps when idle).
  bool set_rx_mode(Interface&, uint32_t, RxMode m) override { return m != RxMode::Interrupt; }

  void poll_control(Interface& intf) override {
    rte_eth_link l{};
    const bool up = started && rte_eth_link_get_nowait(port->port_id, &l) == 0 && l.link_status;
    Engine::get().set_link(intf, up);
  }

  std::string details_json(const Interface&) override {
    const uint16_t pid = port->port_id;
    return "{\"dpdk\":{\"portId\":" + std::to_string(pid) + ",\"device\":" + json_str(port_name(pid)) + ",\"driver\":" +
           json_str(driver_name) + ",\"hotplugged\":" + (hotplugged ? "true" : "false") + ",\"started\":" +
           (started ? "true" : "false") + ",\"rxQueues\":" + std::to_string(port->n_rxq) + ",\"txQueues\":" +
           std::to_string(port->n_txq) + ",\"rxDescriptors\":" + std::to_string(rx_desc) + ",\"txDescriptors\":" +
           std::to_string(tx_desc) + ",\"rxDiscardedWhileDown\":" + std::to_string(discarded_at_start) +
           ",\"txQueueShared\":" + (port->tx_shared ? "true" : "false") + ",\"rss\":" +
           (rss_hf ? "true" : "false") + ",\"rxOffloads\":" + offload_names(rx_offloads, rte_eth_dev_rx_offload_name) +
           ",\"txOffloads\":" + offload_names(tx_offloads, rte_eth_dev_tx_offload_name) + ",\"link\":" + link_json(pid) +
           ",\"stats\":" + stats_json(pid, port->n_rxq, port->n_txq) + "}}";
  }

  // net_af_packet's socket catches frames from every interface of the namespace between its
  // socket() and bind() (at probe), and keeps whatever the interface received while the port
  // was down: those wait in its ring when the port comes up and are dropped then, counted.
  // Other PMDs start with empty rings (net_null would hand out frames forever).
  void discard_pending() {
    if (driver_name != "net_af_packet") return;
    rte_mbuf* m[64];
    for (uint16_t q = 0; q < port->n_rxq; ++q)
      for (uint32_t left = 65536; left > 0;) {  // bounded: the ring is finite, traffic may not be
        const uint16_t n = rte_eth_rx_burst(port->port_id, q, m, uint16_t(left < 64 ? left : 64));
        if (n == 0) break;
        rte_pktmbuf_free_bulk(m, n);
        discarded_at_start += n;
        left -= n < left ? n : left;
      }
    flush_thread_mempool_cache();
  }

  // Stop polling and transmitting first, wait until no worker is inside a burst, then stop.
  void stop() {
    if (!started) return;
    port->running.store(false, std::memory_order_release);
    Engine::get().epochs().synchronize();
    rte_eth_dev_stop(port->port_id);
    started = false;
  }

  // Takes back the packets a net_ring port still holds: it keeps transmitted mbufs in its
  // rings until they are received, also while stopped (ethdev refuses rx on a stopped port,
  // so it is started for the drain). Other PMDs allocate on rx and give their rings back at
  // stop; draining them would only receive more traffic (net_null never runs dry).
  void drain_rx() {
    if (driver_name != "net_ring") return;
    if (!started && rte_eth_dev_start(port->port_id) == 0) started = true;
    if (!started) return;
    rte_mbuf* m[64];
    for (uint16_t q = 0; q < port->n_rxq; ++q)
      for (uint16_t n; (n = rte_eth_rx_burst(port->port_id, q, m, 64)) > 0;) rte_pktmbuf_free_bulk(m, n);
  }

  void destroy(Interface& intf) override {
    drain_rx();
    stop();
    Engine& e = Engine::get();
    BufferPool& p = e.pool();
    if (dma_mapped) rte_dev_dma_unmap(device, p.base(), reinterpret_cast<uintptr_t>(p.base()), p.size_bytes());
    if (hotplugged) rte_dev_remove(device);  // devices EAL probed stay, stopped, for a new interface
    // Buffers the PMD freed sit in DPDK's per-lcore mempool caches: give them back to Quiver.
    for (auto& w : e.workers()) w->run_sync([](Worker&) { flush_thread_mempool_cache(); });
    flush_thread_mempool_cache();
    g_ports[intf.index] = nullptr;
  }
};

// The port a selector names: a port id, an ethdev name or a device name.
bool find_port(const Napi::Value& sel, uint16_t* out) {
  if (sel.IsNumber()) {
    const uint32_t id = sel.As<Napi::Number>().Uint32Value();
    if (id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(uint16_t(id))) return false;
    *out = uint16_t(id);
    return true;
  }
  const std::string name = sel.As<Napi::String>().Utf8Value();
  if (rte_eth_dev_get_port_by_name(name.c_str(), out) == 0) return true;
  uint16_t pid;
  RTE_ETH_FOREACH_DEV(pid) {
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(pid, &info) == 0 && info.device && name == rte_dev_name(info.device)) {
      *out = pid;
      return true;
    }
  }
  return false;
}

const Interface* interface_of_port(uint16_t pid) {
  for (Interface* i : Engine::get().interfaces())
    if (g_ports[i->index] && g_ports[i->index]->port_id == pid) return i;
  return nullptr;
}

void configure(DpdkOps& ops, const PortSetup& s, uint32_t workers, rte_mempool* mp) {
  Port& p = *ops.port;
  const uint16_t pid = p.port_id;
  const std::string what = "DPDK port " + std::to_string(pid) + " (" + ops.driver_name + ")";
  rte_eth_dev_info info;
  int r = rte_eth_dev_info_get(pid, &info);
  if (r != 0) throw std::runtime_error("port: " + what + ": no device info: " + err_text(r));
  if (s.rx_queues > info.max_rx_queues)
    throw std::runtime_error("rxQueues: " + what + " has at most " + std::to_string(info.max_rx_queues) + " rx queues");
  uint16_t ntx = s.tx_queues ? s.tx_queues : uint16_t(std::min<uint32_t>(workers, info.max_tx_queues));
  if (ntx > info.max_tx_queues)
    throw std::runtime_error("txQueues: " + what + " has at most " + std::to_string(info.max_tx_queues) + " tx queues");
  rte_eth_conf conf{};
  if (s.rx_checksum)
    ops.rx_offloads |= info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
  ops.rx_offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER;  // long frames arrive as chains
  if (s.rx_queues > 1 && info.flow_type_rss_offloads) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    ops.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    conf.rx_adv_conf.rss_conf.rss_hf = ops.rss_hf;
    ops.rx_offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH;
  }
  ops.tx_offloads = info.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
  conf.rxmode.offloads = ops.rx_offloads;
  conf.txmode.offloads = ops.tx_offloads;
  if (s.mtu) conf.rxmode.mtu = s.mtu;
  r = rte_eth_dev_configure(pid, s.rx_queues, ntx, &conf);
  if (r != 0) throw std::runtime_error("port: " + what + " does not accept the configuration: " + err_text(r) + "; " + recent_log(3));
  uint16_t nrxd = s.rx_desc, ntxd = s.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrxd, &ntxd);
  const int socket = rte_eth_dev_socket_id(pid);
  for (uint16_t q = 0; q < s.rx_queues; ++q)
    if ((r = rte_eth_rx_queue_setup(pid, q, nrxd, socket, nullptr, mp)) != 0)
      throw std::runtime_error("rxQueues: " + what + " rx queue " + std::to_string(q) + " setup failed: " + err_text(r));
  for (uint16_t q = 0; q < ntx; ++q)
    if ((r = rte_eth_tx_queue_setup(pid, q, ntxd, socket, nullptr)) != 0)
      throw std::runtime_error("txQueues: " + what + " tx queue " + std::to_string(q) + " setup failed: " + err_text(r));
  ops.rx_desc = nrxd;
  ops.tx_desc = ntxd;
  p.n_rxq = s.rx_queues;
  p.n_txq = ntx;
  p.tx_shared = ntx < workers;
  p.multi_seg_tx = ops.tx_offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  p.tx_csum_offloads = ops.tx_offloads & (RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
  p.mp = mp;
  p.txq = std::vector<TxQueue>(ntx);
  for (auto& t : p.txq) rte_spinlock_init(&t.lock);
  p.rxq.resize(s.rx_queues);
  for (uint16_t q = 0; q < s.rx_queues; ++q) p.rxq[q] = RxQueue{&p, q};
}

// PMD modes that lay packets out in memory of their own choosing, not in Quiver's slots.
const char* unsupported(const rte_eth_dev_info& info) {
  const std::string drv = info.driver_name ? info.driver_name : "";
  if (drv == "net_af_xdp")
    return "its UMEM is the mempool's memory in DPDK's own object layout, which Quiver's pool does not have; use Quiver's af_xdp driver";
  const rte_devargs* da = info.device ? rte_dev_devargs(info.device) : nullptr;
  if (drv == "net_memif" && da && da->args && std::string(da->args).find("zero-copy=yes") != std::string::npos)
    return "zero-copy=yes exports EAL's hugepage memory, not Quiver's pool; use copy mode (the default) or Quiver's memif driver";
  return nullptr;
}

uint16_t opt_u16(const Napi::Object& o, const char* key, uint16_t def, uint16_t min, uint16_t max) {
  const uint32_t v = opt_u32(o, key, def);
  if (v < min || v > max)
    throw std::runtime_error(std::string(key) + ": " + std::to_string(v) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  return uint16_t(v);
}

}  // namespace

// dpdkCreateInterface({name, port, args?, rxQueues?, txQueues?, rxDescriptors?, txDescriptors?,
// mtu?, mac?, rxMode?, workers?, rxChecksum?, promiscuous?}) -> interface index (admin down).
QUIVER_NAPI(dpdkCreateInterface) {
  Napi::Object o = arg_object(info, 0, "dpdk interface");
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  if (!eal_ready()) throw std::runtime_error("dpdk: EAL is not initialised (dpdk section / initDpdk first)");
  const std::string name = opt_string(o, "name", "");
  if (name.empty()) throw std::runtime_error("name: must not be empty");
  if (e.find_interface(name)) throw std::runtime_error("name: interface '" + name + "' already exists");
  if (!o.Has("port") || !(o.Get("port").IsNumber() || o.Get("port").IsString()))
    throw std::runtime_error("port: must be a DPDK port id, or a device name (vdev, PCI address)");
  const Napi::Value sel = o.Get("port");
  const std::string args = opt_string(o, "args", "");
  PortSetup s;
  s.rx_queues = opt_u16(o, "rxQueues", 1, 1, 1024);
  s.tx_queues = opt_u16(o, "txQueues", 0, 0, 1024);
  s.rx_desc = opt_u16(o, "rxDescriptors", 1024, 32, 16384);
  s.tx_desc = opt_u16(o, "txDescriptors", 1024, 32, 16384);
  s.mtu = opt_u32(o, "mtu", 0);
  if (s.mtu && (s.mtu < 68 || s.mtu > 9216)) throw std::runtime_error("mtu: " + std::to_string(s.mtu) + " is outside 68..9216");
  s.rx_checksum = opt_bool(o, "rxChecksum", true);
  s.promiscuous = opt_bool(o, "promiscuous", true);
  RxMode mode = RxMode::Polling;
  const std::string mode_name = opt_string(o, "rxMode", "polling");
  if (!parse_rx_mode(mode_name, &mode) || mode == RxMode::Interrupt)
    throw std::runtime_error("rxMode: '" + mode_name + "': DPDK ports support polling or adaptive (no rx interrupts)");
  std::vector<int> placement;
  if (o.Has("workers") && !o.Get("workers").IsUndefined()) {
    if (!o.Get("workers").IsArray()) throw std::runtime_error("workers: must be an array of worker ids, one per rx queue");
    Napi::Array a = o.Get("workers").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const Napi::Value v = a.Get(i);
      if (!v.IsNumber() || v.As<Napi::Number>().Uint32Value() >= e.workers().size())
        throw std::runtime_error("workers[" + std::to_string(i) + "]: no such worker (there are " + std::to_string(e.workers().size()) + ")");
      placement.push_back(int(v.As<Napi::Number>().Uint32Value()));
    }
  }
  uint8_t mac[6];
  const bool has_mac = o.Has("mac") && !o.Get("mac").IsUndefined();
  if (has_mac) parse_mac(opt_string(o, "mac", ""), mac, "mac");

  uint16_t pid;
  bool hotplugged = false;
  if (find_port(sel, &pid)) {
    if (!args.empty()) throw std::runtime_error("args: device already exists; args apply only to a device Quiver hot-plugs");
  } else {
    if (sel.IsNumber()) throw std::runtime_error("port: no DPDK port " + std::to_string(sel.As<Napi::Number>().Uint32Value()));
    const std::string devname = sel.As<Napi::String>().Utf8Value();
    const std::string devargs = args.empty() ? devname : devname + "," + args;
    const int r = rte_dev_probe(devargs.c_str());
    if (r != 0 || !find_port(sel, &pid))
      throw std::runtime_error("port: no DPDK port '" + devname + "' and hot-plugging '" + devargs + "' failed: " +
                               (r ? err_text(r) : "the device has no ethdev port") + "; " + recent_log(2));
    hotplugged = true;
  }
  rte_eth_dev_info dinfo;
  rte_eth_dev_info_get(pid, &dinfo);
  rte_device* device = dinfo.device;
  if (const Interface* other = interface_of_port(pid))
    throw std::runtime_error("port: DPDK port " + std::to_string(pid) + " is already interface '" + other->name + "'");
  if (const char* why = unsupported(dinfo)) {
    if (hotplugged) rte_dev_remove(device);
    throw std::runtime_error("port: " + std::string(dinfo.driver_name) + ": " + why);
  }
  auto ops = std::make_unique<DpdkOps>();
  ops->mode = mode;
  ops->promiscuous = s.promiscuous;
  ops->hotplugged = hotplugged;
  ops->device = device;
  ops->driver_name = dinfo.driver_name ? dinfo.driver_name : "?";
  ops->port = std::make_unique<Port>();
  ops->port->port_id = pid;
  Port* port = ops->port.get();
  RxMode queue_mode = mode;
  bool dma_mapped = false;
  Interface* intf = nullptr;
  // Anything below that fails undoes what was done: nothing is half applied.
  try {
    rte_mempool* mp = mbuf_pool(e);
    register_workers(e);
    set_idle_wake_ns(kAdaptiveWakeNs);
    configure(*ops, s, uint32_t(e.workers().size()), mp);
    const char* bus = device ? rte_bus_name(rte_dev_bus(device)) : nullptr;
    if (bus && std::string(bus) != "vdev") {
      // A device that DMAs needs IOVA == VA: the slots are not physically contiguous.
      if (rte_eal_iova_mode() != RTE_IOVA_VA)
        throw std::runtime_error("port: " + std::string(bus) + " device needs --iova-mode=va (VFIO) with Quiver's buffer pool");
      BufferPool& p = e.pool();
      const int r = rte_dev_dma_map(device, p.base(), reinterpret_cast<uintptr_t>(p.base()), p.size_bytes());
      if (r != 0 && rte_errno != ENOTSUP) throw std::runtime_error("port: DMA mapping of the buffer pool failed: " + err_text(rte_errno));
      dma_mapped = ops->dma_mapped = r == 0;
    }
    if (has_mac) {
      apply_mac(pid, mac);
    } else {
      rte_ether_addr a;
      rte_eth_macaddr_get(pid, &a);
      std::memcpy(mac, a.addr_bytes, 6);
    }
    uint16_t mtu = 1500;
    if (s.mtu) mtu = uint16_t(s.mtu);
    else rte_eth_dev_get_mtu(pid, &mtu);
    intf = &e.create_interface(name, "dpdk-tx", std::move(ops), mac, mtu);
    intf->tx_queues = port->n_txq;
    port->if_index = intf->index;
    g_ports[intf->index] = port;
    for (uint16_t q = 0; q < port->n_rxq; ++q) {
      const int worker = q < placement.size() ? placement[q] : -1;
      e.add_rx_queue(*intf, q, "dpdk-input", &port->rxq[q], -1, worker, int(queue_mode));
    }
  } catch (...) {
    if (intf) {
      e.delete_interface(intf->index);  // its destroy() unmaps and removes a hot-plugged device
    } else {
      if (dma_mapped) rte_dev_dma_unmap(device, e.pool().base(), reinterpret_cast<uintptr_t>(e.pool().base()), e.pool().size_bytes());
      if (hotplugged) rte_dev_remove(device);
    }
    throw;
  }
  return Napi::Number::New(info.Env(), intf->index);
}

// dpdkPorts(): every DPDK port EAL knows, with its Quiver interface if it has one (show dpdk).
QUIVER_NAPI(dpdkPorts) {
  std::string j = "{\"ports\":[";
  if (eal_ready()) {
    bool first = true;
    uint16_t pid;
    RTE_ETH_FOREACH_DEV(pid) {
      rte_eth_dev_info di{};
      if (rte_eth_dev_info_get(pid, &di) != 0) continue;
      rte_ether_addr a{};
      rte_eth_macaddr_get(pid, &a);
      const Interface* intf = Engine::get().running() ? interface_of_port(pid) : nullptr;
      if (!first) j += ",";
      first = false;
      const char* bus = di.device ? rte_bus_name(rte_dev_bus(di.device)) : nullptr;
      j += "{\"portId\":" + std::to_string(pid) + ",\"name\":" + json_str(port_name(pid)) + ",\"driver\":" +
           json_str(di.driver_name ? di.driver_name : "") + ",\"bus\":" + json_str(bus ? bus : "") + ",\"mac\":" +
           json_str(mac_str(a.addr_bytes)) + ",\"numaNode\":" + std::to_string(rte_eth_dev_socket_id(pid)) +
           ",\"interface\":" + (intf ? json_str(intf->name) : "null") + ",\"maxRxQueues\":" + std::to_string(di.max_rx_queues) +
           ",\"maxTxQueues\":" + std::to_string(di.max_tx_queues) + ",\"rxQueues\":" + std::to_string(di.nb_rx_queues) +
           ",\"txQueues\":" + std::to_string(di.nb_tx_queues) + ",\"rxOffloadCapa\":" +
           offload_names(di.rx_offload_capa, rte_eth_dev_rx_offload_name) + ",\"txOffloadCapa\":" +
           offload_names(di.tx_offload_capa, rte_eth_dev_tx_offload_name) + ",\"link\":" + link_json(pid) +
           ",\"stats\":" + stats_json(pid, di.nb_rx_queues, di.nb_tx_queues) + "}";
    }
  }
  j += "],\"mempool\":";
  rte_mempool* mp = mbuf_pool_if_exists();
  if (mp && Engine::get().running()) {
    const MempoolCounters c = mempool_counters();
    j += "{\"name\":" + json_str(mp->name) + ",\"ops\":\"quiver\",\"size\":" + std::to_string(mp->size) + ",\"cacheSize\":" +
         std::to_string(mempool_cache_size()) + ",\"dequeued\":" + std::to_string(c.dequeued) + ",\"enqueued\":" +
         std::to_string(c.enqueued) + ",\"dequeueFailures\":" + std::to_string(c.dequeue_failures) + ",\"heldByDpdk\":" +
         std::to_string(Engine::get().pool().held()) + ",\"extmemRegistered\":" + (extmem_registered() ? "true" : "false") + "}";
  } else {
    j += "null";
  }
  j += "}";
  Napi::Env env = info.Env();
  Napi::Object JSON = env.Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(env, j)});
}

}  // namespace quiver::dpdk
