// The memif control thread: one epoll loop for every listener and control connection in the
// process. It sleeps without the engine control lock and takes it to handle events, so all
// memif control state is guarded by that one lock (N-API calls hold it too and never wait for
// this thread: no deadlock). Workers never run any of this.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "../native/clock.h"
#include "../native/engine.h"
#include "control.h"
#include "sock.h"

namespace quiver {

using memif::Error;
using memif::Role;
using memif::Session;

namespace {
constexpr uint64_t kHandshakeTimeoutNs = 5'000'000'000ull;
constexpr uint32_t kBackoffFirstMs = 100, kBackoffMaxMs = 2000;  // libmemif retries every 2 s, VPP 3 s
constexpr size_t kMaxPendingPerSocket = 64;                     // unbound connections per listener
std::atomic<int> g_wake_fd{-1};
}  // namespace

MemifIf* g_memif[kMaxInterfaces];

void memif_fault(MemifLive* live, Error e) {
  uint8_t none = 0;
  if (live->fault.compare_exchange_strong(none, uint8_t(e))) {
    const uint64_t one = 1;
    ssize_t r = write(g_wake_fd.load(std::memory_order_relaxed), &one, sizeof one);
    (void)r;
  }
}

struct MemifCtrl {
  int fd = -1;
  uint64_t token = 0;
  std::unique_ptr<Session> session;
  MemifIf* mif = nullptr;             // client: owner; server: bound interface (after INIT)
  MemifSocket* sock = nullptr;        // server: the listener it came from
  uint64_t deadline_ns = 0;
};

struct MemifSocket {
  std::string name;
  int fd = -1;
  uint64_t token = 0;
  std::map<uint32_t, MemifIf*> servers;  // by interface id
};

class MemifControl::Impl {
 public:
  Impl() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_wake_fd.store(wake_);
    watch(wake_, Watch{Kind::Wake, nullptr, nullptr});
    // Detached and never joined: it only sleeps in epoll when no memif exists, and joining it
    // while holding the control lock it may be waiting for would deadlock.
    std::thread([this] { run(); }).detach();
  }

  enum class Kind { Wake, Listener, Ctrl };
  struct Watch {
    Kind kind;
    MemifSocket* sock;
    MemifCtrl* ctrl;
  };

  uint64_t watch(int fd, Watch w) {
    const uint64_t token = next_token_++;
    watches_[token] = w;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    return token;
  }
  void unwatch(int fd, uint64_t token) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    watches_.erase(token);
  }
  void wake() {
    const uint64_t one = 1;
    ssize_t r = write(wake_, &one, sizeof one);
    (void)r;
  }

  // --- sockets ---
  MemifSocket* socket_for_server(const std::string& name, std::string* why) {
    auto it = sockets_.find(name);
    if (it != sockets_.end()) return it->second.get();
    const int fd = memif::listen_socket(name, why);
    if (fd < 0) return nullptr;
    auto s = std::make_unique<MemifSocket>();
    s->name = name;
    s->fd = fd;
    s->token = watch(fd, Watch{Kind::Listener, s.get(), nullptr});
    MemifSocket* raw = s.get();
    sockets_[name] = std::move(s);
    return raw;
  }
  MemifSocket* find_socket(const std::string& name) {
    auto it = sockets_.find(name);
    return it == sockets_.end() ? nullptr : it->second.get();
  }
  void release_socket(MemifSocket* s) {
    if (!s->servers.empty()) return;
    // Connections still waiting for INIT would look their id up on this socket.
    for (size_t i = ctrls_.size(); i-- > 0;)
      if (ctrls_[i]->sock == s) drop_ctrl(ctrls_[i].get());
    unwatch(s->fd, s->token);
    close(s->fd);
    memif::unlink_socket(s->name);
    sockets_.erase(s->name);
  }

  // --- control connections ---
  MemifCtrl* add_ctrl(int fd, std::unique_ptr<Session> session, MemifIf* mif, MemifSocket* sock) {
    auto c = std::make_unique<MemifCtrl>();
    c->fd = fd;
    c->session = std::move(session);
    c->mif = mif;
    c->sock = sock;
    c->deadline_ns = monotonic_ns() + kHandshakeTimeoutNs;
    c->token = watch(fd, Watch{Kind::Ctrl, nullptr, c.get()});
    ctrls_.push_back(std::move(c));
    return ctrls_.back().get();
  }
  // Sends whatever the session queued (one message: lock-step), then closes. Detaches from its
  // interface; the caller handles the interface side.
  void drop_ctrl(MemifCtrl* c) {
    uint8_t msg[memif::kMsgSize];
    int fd;
    if (c->session->pop_outgoing(msg, &fd)) memif::send_message(c->fd, msg, fd);
    unwatch(c->fd, c->token);
    close(c->fd);
    if (c->mif && c->mif->ctrl == c) c->mif->ctrl = nullptr;
    for (size_t i = 0; i < ctrls_.size(); ++i)
      if (ctrls_[i].get() == c) {
        ctrls_.erase(ctrls_.begin() + long(i));
        break;
      }
  }
  size_t pending_on(MemifSocket* s) const {
    size_t n = 0;
    for (auto& c : ctrls_)
      if (c->sock == s && !c->mif) ++n;
    return n;
  }

  void count_error(MemifIf* m, Error e) {
    if (e == Error::None) return;
    if (m) m->control_errors[size_t(e)]++;
    Engine& eng = Engine::get();
    if (!eng.running()) return;
    // memif-control never runs; this thread is the only writer of its counters (worker 0's slice).
    const NodeInfo* n = eng.graph().find("memif-control");
    if (n) eng.stats().error_counters(0)[n->error_base + uint32_t(e) - 1]++;
  }

  void run() {
    pthread_setname_np(pthread_self(), "quiver-memif");
    epoll_event evs[32];
    for (;;) {
      const int n = epoll_wait(epfd_, evs, 32, 50);
      std::lock_guard<std::recursive_mutex> g(Engine::get().control_lock());
      for (int i = 0; i < n; ++i) {
        auto it = watches_.find(evs[i].data.u64);
        if (it == watches_.end()) continue;  // closed while we waited for the lock
        const Watch w = it->second;
        if (w.kind == Kind::Wake) {
          uint64_t v;
          ssize_t r = read(wake_, &v, sizeof v);
          (void)r;
        } else if (w.kind == Kind::Listener) {
          on_accept(w.sock);
        } else {
          on_readable(w.ctrl);
        }
      }
      tick();
    }
  }

  void on_accept(MemifSocket* s);
  void on_readable(MemifCtrl* c);
  void tick();
  void connect_client(MemifIf& m);
  void go_live(MemifIf& m, std::unique_ptr<memif::Connection> conn);
  // Ends the interface's connection (or handshake): link down, live state retired, retry/listen.
  void disconnect(MemifIf& m, const std::string& reason, bool remote);
  void after_disconnect(MemifIf& m);

  int epfd_ = -1, wake_ = -1;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, Watch> watches_;
  std::map<std::string, std::unique_ptr<MemifSocket>> sockets_;
  std::vector<std::unique_ptr<MemifCtrl>> ctrls_;
  std::vector<MemifIf*> ifs_;
};

void MemifControl::Impl::on_accept(MemifSocket* s) {
  for (int k = 0; k < 16; ++k) {
    const int fd = accept4(s->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (pending_on(s) >= kMaxPendingPerSocket) {
      close(fd);  // a peer opening connections without finishing handshakes
      continue;
    }
    auto lookup = [this, s](uint32_t id, Error* err) -> const memif::Config* {
      auto it = s->servers.find(id);
      if (it == s->servers.end()) {
        *err = Error::UnknownId;
        return nullptr;
      }
      MemifIf* m = it->second;
      if (!m->admin_up) {
        *err = Error::InterfaceDown;
        return nullptr;
      }
      if (m->ctrl || m->live.load()) {
        *err = Error::AlreadyConnected;
        return nullptr;
      }
      return &m->cfg;
    };
    MemifCtrl* c = add_ctrl(fd, Session::server(lookup, "Quiver " QUIVER_VERSION), nullptr, s);
    uint8_t msg[memif::kMsgSize];
    int ofd;
    if (c->session->pop_outgoing(msg, &ofd) && !memif::send_message(fd, msg, ofd)) drop_ctrl(c);
  }
}

void MemifControl::Impl::on_readable(MemifCtrl* c) {
  for (int k = 0; k < 16; ++k) {
    uint8_t buf[memif::kMsgSize];
    const memif::RecvResult rr = memif::recv_message(c->fd, buf);
    if (rr.again) return;
    MemifIf* m = c->mif;
    if (rr.size <= 0) {  // EOF or error: the peer is gone
      const bool was_live = m && m->live.load();
      drop_ctrl(c);
      if (m) disconnect(*m, was_live ? "peer closed the control socket" : "peer closed during the handshake", false);
      return;
    }
    const Session::Step step = c->session->on_message(buf, rr.truncated ? rr.size + 1 : rr.size, rr.fd);
    // Server: INIT just bound the connection to an interface (claimed by the lookup).
    if (!c->mif && c->session->bound()) {
      for (auto& [id, mi] : c->sock ? c->sock->servers : std::map<uint32_t, MemifIf*>{})
        if (&mi->cfg == c->session->bound()) {
          c->mif = mi;
          mi->ctrl = c;
          mi->state = MemifState::Handshake;
        }
      m = c->mif;
    }
    if (step == Session::Step::Connected) {
      go_live(*m, c->session->take_connection());
      c->deadline_ns = 0;
    }
    uint8_t out[memif::kMsgSize];
    int ofd;
    const bool has_out = c->session->pop_outgoing(out, &ofd);
    if (step == Session::Step::Close) {
      const Error e = c->session->error();
      const std::string reason = c->session->reason();
      const bool remote = c->session->remote_closed();
      count_error(m, e);
      if (has_out) memif::send_message(c->fd, out, ofd);
      drop_ctrl(c);
      if (m) disconnect(*m, reason, remote);
      return;
    }
    if (has_out && !memif::send_message(c->fd, out, ofd)) {
      drop_ctrl(c);
      if (m) disconnect(*m, "cannot send on the control socket", false);
      return;
    }
  }
}

void MemifControl::Impl::tick() {
  const uint64_t now = monotonic_ns();
  for (size_t i = 0; i < ctrls_.size();) {
    MemifCtrl* c = ctrls_[i].get();
    if (c->deadline_ns && now > c->deadline_ns) {
      MemifIf* m = c->mif;
      c->session->fail(Error::Timeout, "");
      count_error(m, Error::Timeout);
      drop_ctrl(c);
      if (m) disconnect(*m, memif::error_text(Error::Timeout), false);
      continue;
    }
    ++i;
  }
  for (MemifIf* m : ifs_) {
    MemifLive* l = m->live.load();
    if (l && l->fault.load()) {
      const Error e = Error(l->fault.load());
      m->violations++;
      count_error(m, e);
      const std::string why = e == Error::RingIndex ? "invalid ring index from peer" : "invalid descriptor from peer";
      if (m->ctrl) {
        m->ctrl->session->fail(e, why);
        drop_ctrl(m->ctrl);
      }
      disconnect(*m, why, false);
    }
    if (m->cfg.role == Role::Client && m->admin_up && m->state == MemifState::Connecting && !m->ctrl &&
        now >= m->reconnect_at_ns)
      connect_client(*m);
  }
}

void MemifControl::Impl::connect_client(MemifIf& m) {
  m.connect_attempts++;
  std::string why;
  const int fd = memif::connect_socket(m.socket, &why);
  if (fd < 0) {
    m.last_error = why;
    m.backoff_ms = m.backoff_ms ? std::min(m.backoff_ms * 2, kBackoffMaxMs) : kBackoffFirstMs;
    m.reconnect_at_ns = monotonic_ns() + uint64_t(m.backoff_ms) * 1'000'000ull;
    return;
  }
  m.state = MemifState::Handshake;
  m.ctrl = add_ctrl(fd, Session::client(m.cfg), &m, nullptr);
}

void MemifControl::Impl::go_live(MemifIf& m, std::unique_ptr<memif::Connection> conn) {
  Engine& e = Engine::get();
  Interface* intf = e.interface(m.if_index);
  auto* l = new MemifLive();
  l->role = conn->role;
  l->mode = conn->mode;
  for (const auto& r : conn->regions) l->regions.push_back(memif::RegionView{r.base, r.size});
  const auto& rx = conn->rx();
  const auto& tx = conn->tx();
  const int rx_dir = conn->role == Role::Server ? 0 : 1;
  l->n_rx = uint32_t(rx.size());
  l->rx.reset(new memif::RxState[l->n_rx]);
  for (uint32_t q = 0; q < l->n_rx; ++q) {
    memif::RxState& s = l->rx[q];
    s.v = memif::make_ring_view(*conn, rx[q], rx_dir, q);
    s.posted = conn->role == Role::Client ? s.v.size : 0;
    RxMode mode = RxMode::Adaptive;
    for (auto& rq : intf->rx_queues)
      if (rq.queue_id == q) mode = rq.mode;
    s.masked = mode == RxMode::Polling;
    __atomic_store_n(s.v.flags, uint16_t(s.masked ? memif::kRingFlagMaskInt : 0), __ATOMIC_RELEASE);
    if (q < m.rxq.size()) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      epoll_ctl(m.rxq[q]->wake_fd, EPOLL_CTL_ADD, rx[q].int_fd, &ev);
    }
  }
  l->n_tx = uint32_t(tx.size());
  l->tx.reset(new memif::TxState[l->n_tx]);
  for (uint32_t q = 0; q < l->n_tx; ++q) {
    l->tx[q].v = memif::make_ring_view(*conn, tx[q], 1 - rx_dir, q);
    l->tx[q].shared = e.workers().size() > l->n_tx;
  }
  m.peer_app = conn->peer_app;
  m.peer_if = conn->peer_if;
  l->conn = std::move(conn);
  m.live.store(l, std::memory_order_release);
  m.state = MemifState::Connected;
  m.connects++;
  m.backoff_ms = 0;
  m.last_error.clear();
  e.set_link(*intf, true);
  for (auto& rq : intf->rx_queues) e.workers()[rq.worker]->kick();  // poll once: the peer may be fast
}

void MemifControl::Impl::disconnect(MemifIf& m, const std::string& reason, bool remote) {
  Engine& eng = Engine::get();
  if (m.ctrl) drop_ctrl(m.ctrl);
  MemifLive* l = m.live.exchange(nullptr, std::memory_order_acq_rel);
  if (l) {
    m.disconnects++;
    if (Interface* intf = eng.interface(m.if_index)) eng.set_link(*intf, false);
    for (uint32_t q = 0; q < l->n_rx && q < m.rxq.size(); ++q)
      epoll_ctl(m.rxq[q]->wake_fd, EPOLL_CTL_DEL, l->conn->rx()[q].int_fd, nullptr);
    // Workers may still be inside a burst on it: unmap and close after a grace period. Copy
    // mode holds no pool buffers in the rings, so nothing is in flight to return.
    eng.epochs().retire([l] { delete l; });
  }
  if (!reason.empty()) m.last_error = m.last_disconnect = std::string(remote ? "peer: " : "") + reason;
  after_disconnect(m);
}

void MemifControl::Impl::after_disconnect(MemifIf& m) {
  if (m.cfg.role == Role::Server) {
    m.state = m.admin_up ? MemifState::Listening : MemifState::Down;
    return;
  }
  m.state = m.admin_up ? MemifState::Connecting : MemifState::Down;
  m.backoff_ms = m.backoff_ms ? std::min(m.backoff_ms * 2, kBackoffMaxMs) : kBackoffFirstMs;
  m.reconnect_at_ns = monotonic_ns() + uint64_t(m.backoff_ms) * 1'000'000ull;
}

// --- public face ---

MemifControl& MemifControl::get() {
  static MemifControl* c = new MemifControl();  // lives for the process, like its thread
  return *c;
}
MemifControl::MemifControl() : impl_(new Impl()) {}

MemifSocket* MemifControl::listen(const std::string& socket, std::string* why) { return impl_->socket_for_server(socket, why); }
MemifSocket* MemifControl::find_socket(const std::string& socket) { return impl_->find_socket(socket); }
bool MemifControl::id_taken(MemifSocket* s, uint32_t id) { return s->servers.count(id) != 0; }

void MemifControl::add(MemifIf& m, MemifSocket* s) {
  impl_->ifs_.push_back(&m);
  if (s) s->servers[m.cfg.id] = &m;
  m.state = MemifState::Down;
}

void MemifControl::remove(MemifIf& m) {
  const bool had_peer = m.ctrl || m.live.load();
  if (m.ctrl) m.ctrl->session->fail(Error::None, "interface deleted");
  impl_->disconnect(m, had_peer ? "interface deleted" : "", false);
  for (auto& c : impl_->ctrls_)
    if (c->mif == &m) c->mif = nullptr;
  if (m.cfg.role == Role::Server) {
    if (MemifSocket* s = impl_->find_socket(m.socket)) {
      s->servers.erase(m.cfg.id);
      impl_->release_socket(s);
    }
  }
  for (size_t i = 0; i < impl_->ifs_.size(); ++i)
    if (impl_->ifs_[i] == &m) impl_->ifs_.erase(impl_->ifs_.begin() + long(i));
}

void MemifControl::release_if_unused(MemifSocket* s) { impl_->release_socket(s); }

void MemifControl::set_admin(MemifIf& m, bool up) {
  m.admin_up = up;
  if (up) {
    if (m.state == MemifState::Down) {
      m.state = m.cfg.role == Role::Server ? MemifState::Listening : MemifState::Connecting;
      m.reconnect_at_ns = 0;
      m.backoff_ms = 0;
      impl_->wake();
    }
    return;
  }
  if (m.ctrl) m.ctrl->session->fail(Error::None, "interface administratively down");
  impl_->disconnect(m, m.live.load() || m.ctrl ? "interface administratively down" : "", false);
  m.state = MemifState::Down;
}

const char* memif_state_name(MemifState s) {
  switch (s) {
    case MemifState::Down: return "down";
    case MemifState::Listening: return "listening";
    case MemifState::Connecting: return "connecting";
    case MemifState::Handshake: return "handshake";
    case MemifState::Connected: return "connected";
  }
  return "?";
}

}  // namespace quiver
