// The memif interface as the engine sees it (InterfaceOps), its creation with every argument
// validated before anything is created, `show memif` details, and the N-API entry point.
#include <sys/epoll.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include "../native/engine.h"
#include "../native/json.h"
#include "../native/napi/napi.h"
#include "control.h"
#include "sock.h"

namespace quiver {

namespace {

class MemifOps : public InterfaceOps {
 public:
  explicit MemifOps(MemifIf* m) : m_(m) {}
  const char* driver() const override { return "memif"; }
  void destroy(Interface& intf) override {
    MemifControl::get().remove(*m_);
    g_memif[intf.index] = nullptr;
    for (auto& q : m_->rxq) close(q->wake_fd);
    delete m_;
  }
  void set_admin(Interface&, bool up) override { MemifControl::get().set_admin(*m_, up); }
  // The input node applies the queue's mode (MASK_INT) on its next poll.
  bool set_rx_mode(Interface&, uint32_t, RxMode) override { return true; }
  std::string details_json(const Interface&) override { return memif_details_json(*m_); }
  MemifIf* m_;
};

const char* mode_name(memif::Mode m) { return m == memif::Mode::Ip ? "ip" : m == memif::Mode::Ethernet ? "ethernet" : "punt-inject"; }

std::string rings_json(const MemifLive& l) {
  std::string j = "[";
  bool first = true;
  auto add = [&](const char* dir, const memif::RingView& v, uint32_t q, uint16_t cursor, const memif::Ring& ring) {
    if (!first) j += ",";
    first = false;
    const uint16_t flags = __atomic_load_n(v.flags, __ATOMIC_RELAXED);
    j += std::string("{\"direction\":\"") + dir + "\",\"queue\":" + std::to_string(q) + ",\"size\":" + std::to_string(v.size) +
         ",\"region\":" + std::to_string(ring.region) + ",\"offset\":" + std::to_string(ring.offset) +
         ",\"head\":" + std::to_string(__atomic_load_n(v.head, __ATOMIC_ACQUIRE)) +
         ",\"tail\":" + std::to_string(__atomic_load_n(v.tail, __ATOMIC_ACQUIRE)) + ",\"cursor\":" + std::to_string(cursor) +
         ",\"interrupts\":" + ((flags & memif::kRingFlagMaskInt) ? "\"masked\"" : "\"enabled\"") + "}";
  };
  for (uint32_t q = 0; q < l.n_rx; ++q) add("rx", l.rx[q].v, q, l.rx[q].cursor, l.conn->rx()[q]);
  for (uint32_t q = 0; q < l.n_tx; ++q) add("tx", l.tx[q].v, q, l.tx[q].cursor, l.conn->tx()[q]);
  return j + "]";
}

}  // namespace

std::string memif_details_json(const MemifIf& m) {
  const memif::Config& c = m.cfg;
  const bool server = c.role == memif::Role::Server;
  std::string j = "{\"role\":\"" + std::string(server ? "server" : "client") + "\",\"socket\":" + json_str(m.socket) +
                  ",\"id\":" + std::to_string(c.id) + ",\"state\":\"" + memif_state_name(m.state) + "\",\"mode\":\"" +
                  mode_name(c.mode) + "\",\"secret\":" + (c.secret.empty() ? "false" : "true") +
                  ",\"interfaceName\":" + json_str(c.if_name) + ",\"log2RingSize\":" + std::to_string(c.log2_ring_size) +
                  ",\"bufferSize\":" + std::to_string(c.buffer_size) + ",\"rxQueues\":" + std::to_string(c.rx_queues) +
                  ",\"txQueues\":" + std::to_string(c.tx_queues) + ",\"cacheLine\":" + std::to_string(c.cache_line) +
                  ",\"zeroCopy\":false";
  const MemifLive* l = m.live.load();
  if (l || !m.peer_app.empty())
    j += ",\"peer\":{\"name\":" + json_str(m.peer_app) + ",\"interfaceName\":" + json_str(m.peer_if) + "}";
  else
    j += ",\"peer\":null";
  j += ",\"regions\":[";
  if (l)
    for (size_t i = 0; i < l->conn->regions.size(); ++i) {
      const auto& r = l->conn->regions[i];
      if (i) j += ",";
      j += "{\"index\":" + std::to_string(i) + ",\"size\":" + std::to_string(r.size) + ",\"sealed\":" + (r.sealed ? "true" : "false") + "}";
    }
  j += "],\"rings\":" + (l ? rings_json(*l) : std::string("[]"));
  if (l && !server) j += ",\"negotiated\":{\"log2RingSize\":" + std::to_string(l->conn->log2_ring_size) + "}";
  j += ",\"counters\":{\"connects\":" + std::to_string(m.connects) + ",\"disconnects\":" + std::to_string(m.disconnects) +
       ",\"connectAttempts\":" + std::to_string(m.connect_attempts) + ",\"violations\":" + std::to_string(m.violations) +
       ",\"controlErrors\":{";
  bool first = true;
  for (uint32_t e = 1; e < uint32_t(memif::Error::Count); ++e) {
    if (!m.control_errors[e]) continue;
    if (!first) j += ",";
    first = false;
    j += json_str(memif::error_name(memif::Error(e))) + ":" + std::to_string(m.control_errors[e]);
  }
  j += "}},\"lastError\":" + (m.last_error.empty() ? std::string("null") : json_str(m.last_error)) +
       ",\"lastDisconnect\":" + (m.last_disconnect.empty() ? std::string("null") : json_str(m.last_disconnect)) + "}";
  return j;
}

uint32_t memif_create(const MemifCreate& a) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  const memif::Config& c = a.cfg;
  const std::string bad_socket = memif::check_socket_name(a.socket);
  if (!bad_socket.empty()) throw std::runtime_error("socket: " + bad_socket);
  if (c.secret.size() > memif::kSecretSize) throw std::runtime_error("secret: longer than 24 bytes");
  if (c.log2_ring_size < 1 || c.log2_ring_size > memif::kMaxLog2RingSize) throw std::runtime_error("log2RingSize: must be 1..14");
  if (c.buffer_size < 128 || c.buffer_size > 65535) throw std::runtime_error("bufferSize: must be 128..65535");
  if (c.rx_queues < 1 || c.rx_queues > memif::kMaxQueues) throw std::runtime_error("rxQueues: must be 1..256");
  if (c.tx_queues < 1 || c.tx_queues > memif::kMaxQueues) throw std::runtime_error("txQueues: must be 1..256");
  if (c.cache_line != 64 && c.cache_line != 128) throw std::runtime_error("cacheLine: must be 64 or 128");
  if (c.mode == memif::Mode::PuntInject) throw std::runtime_error("mode: punt/inject is not supported (ethernet or ip)");
  if (c.if_name.size() > memif::kNameSize - 1) throw std::runtime_error("interfaceName: longer than 31 bytes");
  if (a.worker >= int(e.workers().size())) throw std::runtime_error("worker: " + std::to_string(a.worker) + " does not exist");
  if (a.has_mac && (a.mac[0] & 1)) throw std::runtime_error("mac: is a multicast address");
  if (a.mtu < 68 || a.mtu > 9216) throw std::runtime_error("mtu: " + std::to_string(a.mtu) + " is outside 68..9216");
  if (a.name.empty()) throw std::runtime_error("name: must not be empty");
  if (e.find_interface(a.name)) throw std::runtime_error("name: interface '" + a.name + "' already exists");
  MemifControl& ctl = MemifControl::get();
  for (MemifIf* other : g_memif)
    if (other && other->socket == a.socket && other->cfg.id == c.id && other->cfg.role == c.role)
      throw std::runtime_error("id: " + std::string(c.role == memif::Role::Server ? "server" : "client") + " interface id " +
                               std::to_string(c.id) + " already exists on socket " + a.socket);
  MemifSocket* sock = nullptr;
  if (c.role == memif::Role::Server) {
    std::string why;
    sock = ctl.listen(a.socket, &why);
    if (!sock) throw std::runtime_error("socket: " + why);
  }
  auto* m = new MemifIf();
  m->cfg = c;
  if (m->cfg.if_name.empty()) m->cfg.if_name = a.name.substr(0, memif::kNameSize - 1);
  m->socket = a.socket;
  uint8_t mac[6];
  if (a.has_mac) {
    std::memcpy(mac, a.mac, 6);
  } else {
    std::random_device rd;  // two Quiver processes on one host must not pick the same MAC
    const uint32_t r = rd();
    const uint8_t gen[6] = {0x02, 0xfe, uint8_t(r >> 24), uint8_t(r >> 16), uint8_t(r >> 8), uint8_t(r)};
    std::memcpy(mac, gen, 6);
  }
  Interface* intf;
  try {
    intf = &e.create_interface(a.name, "memif-tx", std::make_unique<MemifOps>(m), mac, a.mtu);
  } catch (...) {
    if (sock) ctl.release_if_unused(sock);
    delete m;
    throw;
  }
  m->if_index = intf->index;
  intf->tx_queues = c.tx_queues;
  g_memif[intf->index] = m;
  ctl.add(*m, sock);
  for (uint32_t q = 0; q < c.rx_queues; ++q) {
    auto rq = std::make_unique<MemifRxQueue>();
    rq->mif = m;
    rq->qid = q;
    rq->wake_fd = epoll_create1(EPOLL_CLOEXEC);
    MemifRxQueue* raw = rq.get();
    m->rxq.push_back(std::move(rq));
    e.add_rx_queue(*intf, q, "memif-input", raw, raw->wake_fd, a.worker, a.rx_mode);
  }
  return intf->index;
}

// memifCreate({ name, role, socket, id, secret, mode, log2RingSize, bufferSize, rxQueues,
// txQueues, interfaceName, cacheLine, allowUnsealedRegions, mac, mtu, rxMode, worker })
QUIVER_NAPI(memifCreate) {
  Napi::Object o = arg_object(info, 0, "memif");
  MemifCreate a;
  a.name = opt_string(o, "name", "");
  const std::string role = opt_string(o, "role", "server");
  if (role == "server" || role == "master") a.cfg.role = memif::Role::Server;
  else if (role == "client" || role == "slave") a.cfg.role = memif::Role::Client;
  else throw std::runtime_error("role: '" + role + "' is not server or client");
  a.socket = opt_string(o, "socket", "");
  a.cfg.id = opt_u32(o, "id", 0);
  a.cfg.secret = opt_string(o, "secret", "");
  const std::string mode = opt_string(o, "mode", "ethernet");
  if (mode == "ethernet") a.cfg.mode = memif::Mode::Ethernet;
  else if (mode == "ip") a.cfg.mode = memif::Mode::Ip;
  else throw std::runtime_error("mode: '" + mode + "' is not ethernet or ip");
  const uint32_t log2 = opt_u32(o, "log2RingSize", 10);
  if (log2 > 255) throw std::runtime_error("log2RingSize: must be 1..14");
  a.cfg.log2_ring_size = uint8_t(log2);
  a.cfg.buffer_size = opt_u32(o, "bufferSize", 2048);
  const uint32_t rxq = opt_u32(o, "rxQueues", 1), txq = opt_u32(o, "txQueues", 1);
  if (rxq > 65535) throw std::runtime_error("rxQueues: must be 1..256");
  if (txq > 65535) throw std::runtime_error("txQueues: must be 1..256");
  a.cfg.rx_queues = uint16_t(rxq);
  a.cfg.tx_queues = uint16_t(txq);
  a.cfg.if_name = opt_string(o, "interfaceName", "");
  a.cfg.cache_line = opt_u32(o, "cacheLine", 64);
  a.cfg.allow_unsealed = opt_bool(o, "allowUnsealedRegions", false);
  a.cfg.app_name = "Quiver " QUIVER_VERSION;
  if (o.Has("mac") && !o.Get("mac").IsUndefined()) {
    parse_mac(opt_string(o, "mac", ""), a.mac, "mac");
    a.has_mac = true;
  }
  a.mtu = opt_u32(o, "mtu", 1500);
  if (o.Has("rxMode") && !o.Get("rxMode").IsUndefined()) {
    RxMode m;
    const std::string s = opt_string(o, "rxMode", "");
    if (!parse_rx_mode(s, &m)) throw std::runtime_error("rxMode: '" + s + "' is not polling, interrupt or adaptive");
    a.rx_mode = int(m);
  }
  if (o.Has("worker") && !o.Get("worker").IsUndefined()) a.worker = int(opt_u32(o, "worker", 0));
  return Napi::Number::New(info.Env(), memif_create(a));
}

}  // namespace quiver
