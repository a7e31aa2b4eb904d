// af_packet control side: sockets, rings, fanout, link state, teardown; N-API afPacketCreate.
#include "af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "../buffer.h"
#include "../engine.h"
#include "../json.h"
#include "../napi/napi.h"
#include "../netdev/host_link.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

namespace quiver {

AfPacketInterface* g_af_packet[kMaxInterfaces];

namespace {

// A packet socket bound to (or left on) a device that is down carries sk_err = ENETDOWN, and
// poll() reports EPOLLERR until someone reads it: a worker sleeping on it would never sleep.
void clear_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
}

[[noreturn]] void sock_fail(uint32_t q, const std::string& what, int err) {
  throw std::runtime_error("queues: queue " + std::to_string(q) + ": " + what + ": " + netdev::errno_str(err));
}

struct RingConfig {
  uint32_t block_size, block_count, retire_ms, tx_frame_size, tx_frames;
};

void open_socket(AfPacketInterface& pi, AfPacketQueue& q, const RingConfig& rc) {
  // Protocol 0: nothing is received until bind() names ETH_P_ALL, after the rings exist.
  q.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (q.fd < 0) sock_fail(q.queue_id, "socket(AF_PACKET)", errno);
  const int v3 = TPACKET_V3;
  if (setsockopt(q.fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof v3) != 0) sock_fail(q.queue_id, "TPACKET_V3", errno);
  tpacket_req3 rx{};
  rx.tp_block_size = rc.block_size;
  rx.tp_block_nr = rc.block_count;
  rx.tp_frame_size = TPACKET_ALIGNMENT << 7;  // only a hint for V3 rx (variable-size frames)
  rx.tp_frame_nr = rc.block_size / rx.tp_frame_size * rc.block_count;
  rx.tp_retire_blk_tov = rc.retire_ms;
  if (setsockopt(q.fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) != 0) sock_fail(q.queue_id, "rx ring", errno);
  // V3 tx rings (Linux 4.11+) are frame based like V2; the V3-only fields must stay zero.
  tpacket_req3 tx{};
  tx.tp_frame_size = rc.tx_frame_size;
  tx.tp_block_size = rc.tx_frame_size > 65536 ? rc.tx_frame_size : 65536;
  tx.tp_block_nr = rc.tx_frames / (tx.tp_block_size / rc.tx_frame_size);
  if (tx.tp_block_nr == 0) tx.tp_block_nr = 1;
  tx.tp_frame_nr = tx.tp_block_nr * (tx.tp_block_size / rc.tx_frame_size);
  if (setsockopt(q.fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) != 0) sock_fail(q.queue_id, "tx ring", errno);
  const size_t rx_len = size_t(rx.tp_block_size) * rx.tp_block_nr;
  const size_t tx_len = size_t(tx.tp_block_size) * tx.tp_block_nr;
  void* m = mmap(nullptr, rx_len + tx_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, q.fd, 0);
  if (m == MAP_FAILED) m = mmap(nullptr, rx_len + tx_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q.fd, 0);
  if (m == MAP_FAILED) sock_fail(q.queue_id, "mmap of the rings", errno);
  q.map = static_cast<uint8_t*>(m);
  q.map_len = rx_len + tx_len;
  q.rx_ring = q.map;
  q.block_size = rx.tp_block_size;
  q.block_count = rx.tp_block_nr;
  q.tx_ring = q.map + rx_len;
  q.frame_size = tx.tp_frame_size;
  q.frame_count = tx.tp_frame_nr;
  const int one = 1;
  // Transmit straight to the driver: the frames were queued by Quiver already.
  setsockopt(q.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  // Our own transmissions (and the host stack's) must not come back as receptions.
  if (setsockopt(q.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
    sock_fail(q.queue_id, "PACKET_IGNORE_OUTGOING (Linux 4.20+)", errno);
  sockaddr_ll sa{};
  sa.sll_family = AF_PACKET;
  sa.sll_protocol = htons(ETH_P_ALL);
  sa.sll_ifindex = pi.host_ifindex;
  if (bind(q.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) sock_fail(q.queue_id, "bind to '" + pi.host + "'", errno);
  clear_socket_error(q.fd);
}

void join_fanout(AfPacketInterface& pi, AfPacketQueue& q) {
  uint32_t type = PACKET_FANOUT_HASH;
  if (pi.fanout == "cpu") type = PACKET_FANOUT_CPU;
  else if (pi.fanout == "lb") type = PACKET_FANOUT_LB;
  else if (pi.fanout == "qm") type = PACKET_FANOUT_QM;
  // A fanout group receives through its own hook, which ignores outgoing frames only with
  // this flag (PACKET_IGNORE_OUTGOING on the sockets does not reach it): without it every frame
  // Quiver transmits would come straight back in, a loop.
  type |= PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
  // Group ids are per network namespace: the first socket asks the kernel for a unique one so
  // that another process's group is never joined by accident.
  uint32_t arg = q.queue_id == 0 ? (type | PACKET_FANOUT_FLAG_UNIQUEID) << 16 : (type << 16) | pi.fanout_id;
  if (setsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) sock_fail(q.queue_id, "PACKET_FANOUT", errno);
  if (q.queue_id == 0) {
    uint32_t got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(q.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0) sock_fail(0, "PACKET_FANOUT id", errno);
    pi.fanout_id = got & 0xffff;
  }
}

void teardown(AfPacketInterface* pi) {
  for (AfPacketQueue* q : pi->queues) {
    if (q->map) munmap(q->map, q->map_len);
    if (q->fd >= 0) close(q->fd);
    delete q;
  }
  if (pi->ctl >= 0) close(pi->ctl);
  delete pi;
}

class AfPacketOps : public InterfaceOps {
 public:
  explicit AfPacketOps(AfPacketInterface* pi) : pi_(pi) {}
  const char* driver() const override { return "af_packet"; }
  void destroy(Interface& intf) override {
    g_af_packet[intf.index] = nullptr;
    teardown(pi_);
    pi_ = nullptr;
  }
  void set_admin(Interface&, bool up) override {
    if (pi_->gone) return;
    netdev::set_up(pi_->ctl, pi_->host, up);
    for (AfPacketQueue* q : pi_->queues) clear_socket_error(q->fd);
  }
  void set_mtu(Interface&, uint32_t mtu) override {
    if (mtu + 22 > pi_->max_frame)
      throw std::runtime_error("mtu: " + std::to_string(mtu) + " does not fit the tx frames made for the MTU at creation (" +
                               std::to_string(pi_->max_frame - 22) + "); recreate the interface");
    if (!pi_->gone) netdev::set_mtu(pi_->ctl, pi_->host, mtu);
  }
  void set_mac(Interface&, const uint8_t* mac) override {
    if (!pi_->gone) netdev::set_mac(pi_->ctl, pi_->host, mac);
  }
  void poll_control(Interface& intf) override {
    if (pi_->gone) return;
    Engine& e = Engine::get();
    const netdev::HostState st = netdev::host_state(pi_->ctl, pi_->host_ifindex, pi_->host);
    if (st == netdev::HostState::Gone) {
      // The socket now reports EPOLLERR for good; the worker leaves such an fd out of its sleeps.
      pi_->gone = true;
      netdev::report_gone(e, intf);
      return;
    }
    e.set_link(intf, st == netdev::HostState::Up);
    // The device went down and up behind our back (or admin down): see clear_socket_error.
    for (AfPacketQueue* q : pi_->queues) clear_socket_error(q->fd);
    uint64_t drops = 0;
    for (AfPacketQueue* q : pi_->queues) {
      tpacket_stats_v3 s{};
      socklen_t len = sizeof s;
      if (getsockopt(q->fd, SOL_PACKET, PACKET_STATISTICS, &s, &len) != 0) continue;
      pi_->kernel_packets += s.tp_packets;
      pi_->kernel_drops += s.tp_drops;
      pi_->kernel_freezes += s.tp_freeze_q_cnt;
      drops += s.tp_drops;
    }
    // Frames the kernel could not put in a full rx ring: Quiver's rx-no-buffer.
    if (drops && !intf.rx_queues.empty()) {
      const uint32_t index = intf.index;
      e.workers()[intf.rx_queues[0].worker]->post([index, drops](Worker& w) { w.count_if(index, kIfRxNoBuffer, drops); });
    }
  }
  std::string details_json(const Interface&) override {
    const AfPacketQueue* q0 = pi_->queues[0];
    return "{\"host\":" + json_str(pi_->host) + ",\"hostIfindex\":" + std::to_string(pi_->host_ifindex) +
           ",\"queues\":" + std::to_string(pi_->queues.size()) + ",\"fanout\":" + json_str(pi_->queues.size() > 1 ? pi_->fanout : "none") +
           ",\"fanoutId\":" + std::to_string(pi_->fanout_id) + ",\"rxBlockSize\":" + std::to_string(q0->block_size) +
           ",\"rxBlocks\":" + std::to_string(q0->block_count) + ",\"txFrameSize\":" + std::to_string(q0->frame_size) +
           ",\"txFrames\":" + std::to_string(q0->frame_count) + ",\"txShared\":" + (pi_->tx_shared ? "true" : "false") +
           ",\"gone\":" + (pi_->gone ? "true" : "false") + ",\"kernelPackets\":" + std::to_string(pi_->kernel_packets) +
           ",\"kernelDrops\":" + std::to_string(pi_->kernel_drops) + ",\"kernelFreezes\":" + std::to_string(pi_->kernel_freezes) + "}";
  }

 private:
  AfPacketInterface* pi_;
};

bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

// afPacketCreate({ host, name?, queues?, fanout?, blockSize?, blocks?, blockTimeoutMs?, txFrames?,
//                  worker?, rxMode?, mac?, mtu? }) -> interface index
QUIVER_NAPI(afPacketCreate) {
  Napi::Object o = arg_object(info, 0, "af_packet");
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const std::string host = opt_string(o, "host", "");
  netdev::check_ifname(host, "host");
  const std::string name = opt_string(o, "name", host);
  const uint32_t nq = opt_u32(o, "queues", 1);
  if (nq < 1 || nq > 64) throw std::runtime_error("queues: must be 1..64");
  const std::string fanout = opt_string(o, "fanout", "hash");
  if (fanout != "hash" && fanout != "cpu" && fanout != "lb" && fanout != "qm")
    throw std::runtime_error("fanout: must be hash, cpu, lb or qm");
  RingConfig rc{};
  rc.block_size = opt_u32(o, "blockSize", 1u << 16);
  if (rc.block_size < 4096 || rc.block_size > (1u << 22) || (rc.block_size & (rc.block_size - 1)))
    throw std::runtime_error("blockSize: must be a power of two in 4096..4194304");
  rc.block_count = opt_u32(o, "blocks", 64);
  if (rc.block_count < 2 || rc.block_count > 4096) throw std::runtime_error("blocks: must be 2..4096");
  rc.retire_ms = opt_u32(o, "blockTimeoutMs", 1);
  if (rc.retire_ms < 1 || rc.retire_ms > 1000) throw std::runtime_error("blockTimeoutMs: must be 1..1000");
  rc.tx_frames = opt_u32(o, "txFrames", 1024);
  if (rc.tx_frames < 16 || rc.tx_frames > 65536) throw std::runtime_error("txFrames: must be 16..65536");
  RxMode rx_mode = e.config().default_rx_mode;
  if (has(o, "rxMode") && !parse_rx_mode(opt_string(o, "rxMode", ""), &rx_mode))
    throw std::runtime_error("rxMode: must be polling, interrupt or adaptive");
  const int worker = has(o, "worker") ? int(opt_u32(o, "worker", 0)) : -1;
  if (worker >= int(e.workers().size())) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  uint8_t mac[6];
  const bool want_mac = has(o, "mac");
  if (want_mac) parse_mac(opt_string(o, "mac", ""), mac, "mac");
  if (e.find_interface(name)) throw std::runtime_error("name: interface '" + name + "' already exists");

  auto* pi = new AfPacketInterface();
  bool registered = false;
  uint32_t index = 0;
  pi->host = host;
  pi->fanout = fanout;
  try {
    pi->ctl = netdev::control_socket();
    pi->host_ifindex = netdev::if_index(pi->ctl, host);
    if (!pi->host_ifindex) throw std::runtime_error("host: no interface '" + host + "'");
    const uint32_t mtu = has(o, "mtu") ? opt_u32(o, "mtu", 1500) : netdev::get_mtu(pi->ctl, host);
    if (mtu < 68 || mtu > 9216) throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68..9216");
    // A tx frame holds the header, Ethernet, two VLAN tags and the MTU.
    rc.tx_frame_size = pow2_at_least(kTxDataOffset + mtu + 22);
    if (rc.tx_frame_size < 2048) rc.tx_frame_size = 2048;
    pi->max_frame = rc.tx_frame_size - kTxDataOffset;
    if (mtu + 22 + 64 > rc.block_size)
      throw std::runtime_error("blockSize: " + std::to_string(rc.block_size) + " cannot hold a frame of MTU " + std::to_string(mtu));
    if (!want_mac) netdev::get_mac(pi->ctl, host, mac);
    if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
    pi->tx_shared = e.workers().size() > nq;
    for (uint32_t q = 0; q < nq; ++q) {
      auto* pq = new AfPacketQueue();
      pq->intf = pi;
      pq->queue_id = q;
      pi->queues.push_back(pq);
      open_socket(*pi, *pq, rc);
      if (nq > 1) join_fanout(*pi, *pq);
    }
    if (has(o, "mtu")) netdev::set_mtu(pi->ctl, host, mtu);
    if (want_mac) netdev::set_mac(pi->ctl, host, mac);
    Interface& intf = e.create_interface(name, "af-packet-output", std::make_unique<AfPacketOps>(pi), mac, mtu);
    registered = true;
    index = pi->if_index = intf.index;
    g_af_packet[intf.index] = pi;
    for (AfPacketQueue* q : pi->queues) e.add_rx_queue(intf, q->queue_id, "af-packet-input", q, q->fd, worker, int(rx_mode));
    e.set_link(intf, netdev::host_state(pi->ctl, pi->host_ifindex, host) == netdev::HostState::Up);
    return Napi::Number::New(info.Env(), intf.index);
  } catch (...) {
    if (registered) e.delete_interface(index);
    else teardown(pi);
    throw;
  }
}

}  // namespace quiver
