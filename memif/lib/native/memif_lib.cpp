// quiver_memif: the native half of the quiver/memif library, a separate small addon (no engine,
// no worker threads). One Port is one memif interface in either role, driven entirely by the
// Node event loop: libuv polls the control socket and, while JavaScript awaits packets, the
// receive rings' eventfds. The handshake (Session), socket plumbing and ring validation are the
// driver's own engine-free code, so the library checks a hostile peer exactly as the dataplane
// does. (Named .cpp: the main addon globs memif/**/*.cc and must not link this module in.)
#include <napi.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "../../ring.h"
#include "../../session.h"
#include "../../sock.h"

namespace quiver::memif {
namespace {

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

template <class H>
void close_handle(H* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}

class Port;

struct Ctrl {
  Port* port = nullptr;
  int fd = -1;
  uv_poll_t* poll = nullptr;
  std::unique_ptr<Session> session;
  uint64_t deadline_ms = 0;
};

struct Live {
  std::unique_ptr<Connection> conn;
  std::vector<RegionView> regions;
  std::vector<RxState> rx;
  std::unique_ptr<TxState[]> tx;
  uint32_t n_tx = 0;
};

struct Counters {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, tx_no_space = 0, rx_too_long = 0, tx_empty = 0;
  uint64_t violations = 0, connects = 0, disconnects = 0;
};

class Port : public Napi::ObjectWrap<Port> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Port",
                                   {InstanceMethod("rxBurst", &Port::RxBurst), InstanceMethod("txBurst", &Port::TxBurst),
                                    InstanceMethod("txBatch", &Port::TxBatch), InstanceMethod("waitRx", &Port::WaitRx),
                                    InstanceMethod("details", &Port::Details), InstanceMethod("close", &Port::Close)});
    exports.Set("Port", f);
    return exports;
  }

  // new Port(config, onEvent(type, text))
  explicit Port(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Port>(info), async_(info.Env(), "quiver-memif") {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "Port(config, onEvent)");
    Napi::Object o = info[0].As<Napi::Object>();
    auto str = [&](const char* k, const std::string& d) { return o.Has(k) && o.Get(k).IsString() ? o.Get(k).As<Napi::String>().Utf8Value() : d; };
    auto num = [&](const char* k, uint32_t d) { return o.Has(k) && o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().Uint32Value() : d; };
    cfg_.role = str("role", "client") == "server" ? Role::Server : Role::Client;
    cfg_.id = num("id", 0);
    cfg_.mode = str("mode", "ethernet") == "ip" ? Mode::Ip : Mode::Ethernet;
    cfg_.secret = str("secret", "");
    cfg_.if_name = str("interfaceName", "memif0");
    cfg_.app_name = str("appName", "quiver/memif");
    cfg_.log2_ring_size = uint8_t(num("log2RingSize", 10));
    cfg_.buffer_size = num("bufferSize", 2048);
    cfg_.rx_queues = uint16_t(num("rxQueues", 1));
    cfg_.tx_queues = uint16_t(num("txQueues", 1));
    cfg_.cache_line = num("cacheLine", 64);
    cfg_.allow_unsealed = o.Has("allowUnsealedRegions") && o.Get("allowUnsealedRegions").ToBoolean();
    socket_ = str("socket", "");
    on_event_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    loop_ = loop;
    if (cfg_.role == Role::Server) {
      std::string why;
      listen_fd_ = listen_socket(socket_, &why);
      if (listen_fd_ < 0) throw Napi::Error::New(env, "socket: " + why);
      listen_poll_ = new uv_poll_t;
      uv_poll_init(loop_, listen_poll_, listen_fd_);
      listen_poll_->data = this;
      uv_poll_start(listen_poll_, UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<Port*>(h->data)->on_accept(); });
    }
    notify_ = new uv_async_t;
    uv_async_init(loop_, notify_, [](uv_async_t* a) { static_cast<Port*>(a->data)->deliver(); });
    notify_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(notify_));
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<Port*>(t->data)->tick(); }, 0, 50);
    if (cfg_.role == Role::Server) uv_unref(reinterpret_cast<uv_handle_t*>(timer_));  // the listener keeps the loop alive
    Ref();  // alive until close(), whatever JavaScript still references
  }

  // Only after close() (Unref) or at environment teardown: JavaScript may not be called then.
  ~Port() override {
    finalizing_ = true;
    closed_ = true;
    shutdown();
    if (notify_) close_handle(notify_);
  }

 private:
  // --- control channel ---
  void on_accept() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (ctrls_.size() >= 16) {
        ::close(fd);
        continue;
      }
      auto lookup = [this](uint32_t id, Error* err) -> const Config* {
        if (id != cfg_.id) *err = Error::UnknownId;
        else if (live_ || bound_) *err = Error::AlreadyConnected;
        else {
          bound_ = true;
          return &cfg_;
        }
        return nullptr;
      };
      Ctrl* c = add_ctrl(fd, Session::server(lookup, cfg_.app_name));
      send_one(c);
    }
  }

  void try_connect() {
    std::string why;
    const int fd = connect_socket(socket_, &why);
    if (fd < 0) {
      last_error_ = why;
      backoff();
      return;
    }
    add_ctrl(fd, Session::client(cfg_));
  }

  void backoff() {
    backoff_ms_ = backoff_ms_ ? std::min<uint64_t>(backoff_ms_ * 2, 2000) : 100;
    reconnect_at_ = now_ms() + backoff_ms_;
  }

  Ctrl* add_ctrl(int fd, std::unique_ptr<Session> s) {
    auto c = std::make_unique<Ctrl>();
    c->port = this;
    c->fd = fd;
    c->session = std::move(s);
    c->deadline_ms = now_ms() + 5000;
    c->poll = new uv_poll_t;
    uv_poll_init(loop_, c->poll, fd);
    c->poll->data = c.get();
    uv_poll_start(c->poll, UV_READABLE | UV_DISCONNECT, [](uv_poll_t* h, int, int) {
      auto* ctrl = static_cast<Ctrl*>(h->data);
      ctrl->port->on_readable(ctrl);
    });
    ctrls_.push_back(std::move(c));
    return ctrls_.back().get();
  }

  bool send_one(Ctrl* c) {
    uint8_t msg[kMsgSize];
    int fd;
    if (!c->session->pop_outgoing(msg, &fd)) return true;
    return send_message(c->fd, msg, fd);
  }

  void drop_ctrl(Ctrl* c) {
    send_one(c);  // a queued DISCONNECT, if any
    uv_poll_stop(c->poll);
    close_handle(c->poll);
    ::close(c->fd);
    if (c == live_ctrl_) live_ctrl_ = nullptr;
    if (c->session->bound() && !live_) bound_ = false;
    for (size_t i = 0; i < ctrls_.size(); ++i)
      if (ctrls_[i].get() == c) {
        ctrls_.erase(ctrls_.begin() + long(i));
        break;
      }
  }

  void on_readable(Ctrl* c) {
    for (int k = 0; k < 16; ++k) {
      uint8_t buf[kMsgSize];
      const RecvResult rr = recv_message(c->fd, buf);
      if (rr.again) return;
      const bool mine = c == live_ctrl_;
      if (rr.size <= 0) {
        drop_ctrl(c);
        if (mine) teardown("peer closed the control socket");
        else if (cfg_.role == Role::Client) backoff();
        return;
      }
      const Session::Step step = c->session->on_message(buf, rr.truncated ? rr.size + 1 : rr.size, rr.fd);
      if (step == Session::Step::Connected) {
        go_live(c, c->session->take_connection());
        c->deadline_ms = 0;
      }
      if (step == Session::Step::Close) {
        const std::string why = (c->session->remote_closed() ? "peer: " : "") + c->session->reason();
        drop_ctrl(c);
        if (mine) teardown(why);
        else {
          last_error_ = why;
          if (cfg_.role == Role::Client) backoff();
        }
        return;
      }
      if (!send_one(c)) {
        drop_ctrl(c);
        if (mine) teardown("cannot send on the control socket");
        return;
      }
    }
  }

  void tick() {
    const uint64_t now = now_ms();
    for (size_t i = 0; i < ctrls_.size();) {
      Ctrl* c = ctrls_[i].get();
      if (c->deadline_ms && now > c->deadline_ms) {
        c->session->fail(Error::Timeout, "");
        drop_ctrl(c);
        last_error_ = error_text(Error::Timeout);
        if (cfg_.role == Role::Client) backoff();
        continue;
      }
      ++i;
    }
    if (cfg_.role == Role::Client && !closed_ && !live_ && ctrls_.empty() && now >= reconnect_at_) try_connect();
  }

  void go_live(Ctrl* c, std::unique_ptr<Connection> conn) {
    auto l = std::make_unique<Live>();
    for (const auto& r : conn->regions) l->regions.push_back(RegionView{r.base, r.size});
    const int rx_dir = conn->role == Role::Server ? 0 : 1;
    const auto& rx = conn->rx();
    const auto& tx = conn->tx();
    l->rx.resize(rx.size());
    for (uint32_t q = 0; q < rx.size(); ++q) {
      l->rx[q].v = make_ring_view(*conn, rx[q], rx_dir, q);
      l->rx[q].posted = conn->role == Role::Client ? l->rx[q].v.size : 0;
      l->rx[q].masked = true;  // JavaScript polls with receive(); waitRx unmasks while it waits
      __atomic_store_n(l->rx[q].v.flags, kRingFlagMaskInt, __ATOMIC_RELEASE);
    }
    l->n_tx = uint32_t(tx.size());
    l->tx.reset(new TxState[l->n_tx]);
    for (uint32_t q = 0; q < l->n_tx; ++q) l->tx[q].v = make_ring_view(*conn, tx[q], 1 - rx_dir, q);
    peer_app_ = conn->peer_app;
    peer_if_ = conn->peer_if;
    l->conn = std::move(conn);
    live_ = std::move(l);
    live_ctrl_ = c;
    counters_.connects++;
    backoff_ms_ = 0;
    emit("connected", peer_app_);
    wake_rx();
  }

  // The connection ended (peer left, violation, close): unmap, forget, wake waiters, retry.
  void teardown(const std::string& why) {
    stop_rx_polls();
    const bool was_live = bool(live_);
    if (live_ctrl_) {
      Ctrl* c = live_ctrl_;
      live_ctrl_ = nullptr;
      if (c->session->error() == Error::None) c->session->fail(Error::None, why);
      drop_ctrl(c);
    }
    live_.reset();
    bound_ = false;
    last_disconnect_ = last_error_ = why;
    if (was_live) counters_.disconnects++;
    if (cfg_.role == Role::Client && !closed_) backoff();
    if (was_live && !closed_) emit("disconnected", why);
    wake_rx();
  }

  void violation(const char* why) {
    counters_.violations++;
    teardown(why);
  }

  // Events and rx wake-ups reach JavaScript from their own loop callback, never from inside our
  // own handlers: a listener may close the port, and nothing of ours may be on the stack then.
  void emit(const char* type, const std::string& text) {
    if (finalizing_ || closed_) return;
    events_.emplace_back(type, text);
    uv_async_send(notify_);
  }

  void deliver() {
    std::vector<std::pair<std::string, std::string>> events;
    events.swap(events_);
    Napi::Env env = Env();
    for (auto& [type, text] : events) {
      if (finalizing_ || closed_) return;
      Napi::HandleScope scope(env);
      try {
        on_event_.MakeCallback(Value(), {Napi::String::New(env, type), Napi::String::New(env, text)}, async_);
      } catch (const Napi::Error& e) {
        napi_fatal_exception(env, e.Value());  // an exception in a listener: uncaughtException, as for any event
      }
    }
    if (rx_wake_ && !finalizing_ && !closed_) {
      rx_wake_ = false;
      call_rx_waiter();
    }
  }

  void call_rx_waiter() {
    if (rx_waiter_.IsEmpty()) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Function f = rx_waiter_.Value();
    rx_waiter_.Reset();
    try {
      f.MakeCallback(Value(), {}, async_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  // --- packet path (JavaScript thread) ---

  // rxBurst(max, lengths: Uint32Array) -> [Buffer, count]
  Napi::Value RxBurst(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t max = info[0].As<Napi::Number>().Uint32Value();
    auto lengths = info[1].As<Napi::Uint32Array>();
    const uint32_t limit = std::min<uint32_t>(max, uint32_t(lengths.ElementLength()));
    Napi::Array result = Napi::Array::New(env, 2);
    result.Set(uint32_t(0), env.Null());
    result.Set(uint32_t(1), uint32_t(0));
    if (!live_ || !limit) return result;
    segs_.clear();
    pkt_segs_.clear();
    cursors_.assign(live_->rx.size(), 0);
    uint64_t total = 0;
    uint32_t n = 0;
    const uint32_t nr = uint32_t(live_->regions.size());
    const Role role = live_->conn->role;
    for (uint32_t k = 0; k < live_->rx.size() && n < limit; ++k) {
      const uint32_t q = (rx_next_ + k) % uint32_t(live_->rx.size());
      RxState& r = live_->rx[q];
      const uint16_t peer = load_acquire(role == Role::Server ? r.v.head : r.v.tail);
      const int pub = published(peer, r.cursor, role == Role::Server ? r.v.size : uint16_t(r.posted - r.cursor));
      if (pub < 0) {
        violation("invalid ring index from peer");
        return result;
      }
      uint16_t cur = r.cursor;
      uint32_t left = uint32_t(pub);
      while (n < limit && left) {
        Segment segs[kMaxSegments];
        uint32_t ns = 0, slots = 0, len = 0;
        const Scan s = scan_packet(r.v, live_->regions.data(), nr, cur, left, segs, &ns, &slots, &len);
        if (s == Scan::Incomplete) break;
        if (s == Scan::Bad) {
          violation("invalid descriptor from peer");
          return result;
        }
        if (s == Scan::TooLong) {
          counters_.rx_too_long++;
        } else {
          lengths[n++] = len;
          pkt_segs_.push_back(ns);
          segs_.insert(segs_.end(), segs, segs + ns);
          total += len;
        }
        cur = uint16_t(cur + slots);
        left -= slots;
      }
      cursors_[q] = uint16_t(cur - r.cursor);
    }
    rx_next_++;
    // Copy out before the slots go back: the peer may reuse them at once.
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, size_t(total ? total : 1));
    uint8_t* dst = data.Data();
    for (const Segment& s : segs_) {
      copy_bytes(dst, s.data, s.len);
      dst += s.len;
    }
    for (uint32_t q = 0; q < live_->rx.size(); ++q) {
      if (!cursors_[q]) continue;
      RxState& r = live_->rx[q];
      r.cursor = uint16_t(r.cursor + cursors_[q]);
      if (role == Role::Server) {
        store_release(r.v.tail, r.cursor);
      } else {
        for (uint16_t s = r.posted; s != uint16_t(r.cursor + r.v.size); ++s) {
          Desc& d = r.v.desc[s & r.v.mask];
          d.flags = 0;
          d.length = r.v.buffer_size;
        }
        r.posted = uint16_t(r.cursor + r.v.size);
        store_release(r.v.head, r.posted);
      }
    }
    counters_.rx_packets += n;
    counters_.rx_bytes += total;
    result.Set(uint32_t(0), data);
    result.Set(uint32_t(1), n);
    return result;
  }

  // One packet into ring t from slot `cur` with `space` free: chained over slots when larger than
  // one. False when it does not fit (nothing of it is published) or the ring is invalid (*bad).
  bool tx_one(TxState& t, const uint8_t* data, uint32_t len, uint32_t* space, uint16_t* cur, bool* bad) {
    RingView& v = t.v;
    const uint32_t nr = uint32_t(live_->regions.size());
    uint32_t used = 0;
    while (len) {
      if (used == *space) return false;
      const uint16_t slot = uint16_t(*cur + used) & v.mask;
      uint32_t cap;
      uint8_t* dst = tx_slot(v, live_->regions.data(), nr, slot, &cap);
      if (!dst) {
        *bad = true;
        return false;
      }
      const uint32_t c = std::min(len, cap);
      copy_bytes(dst, data, c);
      data += c;
      len -= c;
      put_desc(v, slot, c, len ? kDescFlagNext : 0);
      ++used;
    }
    *cur = uint16_t(*cur + used);
    *space -= used;
    return true;
  }

  template <class Next>
  uint32_t transmit(uint32_t count, uint32_t queue, Next next) {
    if (!live_ || !live_->n_tx) return 0;
    TxState& t = live_->tx[queue % live_->n_tx];
    const Role role = live_->conn->role;
    const int sp = tx_space(t, role);
    if (sp < 0) {
      violation("invalid ring index from peer");
      return 0;
    }
    uint32_t space = uint32_t(sp), sent = 0;
    uint16_t cur = t.cursor;
    bool bad = false;
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* p;
      uint32_t len;
      next(i, &p, &len);
      if (!len) {
        counters_.tx_empty++;
        continue;
      }
      if (!tx_one(t, p, len, &space, &cur, &bad)) break;
      counters_.tx_bytes += len;
      ++sent;
    }
    if (bad) {
      violation("invalid descriptor from peer");
      return 0;
    }
    counters_.tx_packets += sent;
    counters_.tx_no_space += count - sent;
    if (cur != t.cursor) {
      t.cursor = cur;
      store_release(role == Role::Server ? t.v.tail : t.v.head, cur);
      if (wants_signal(t.v)) {
        const uint64_t one = 1;
        ssize_t r = write(t.v.int_fd, &one, sizeof one);
        (void)r;
      }
    }
    return sent;
  }

  // txBurst(buffers: Buffer[], queue?) -> packets written
  Napi::Value TxBurst(const Napi::CallbackInfo& info) {
    Napi::Array a = info[0].As<Napi::Array>();
    const uint32_t queue = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    const uint32_t n = a.Length();
    bufs_.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsTypedArray()) throw Napi::TypeError::New(info.Env(), "packets[" + std::to_string(i) + "]: must be a Buffer");
      auto b = v.As<Napi::Uint8Array>();
      bufs_[i] = {b.Data(), uint32_t(b.ByteLength())};
    }
    const uint32_t sent = transmit(n, queue, [&](uint32_t i, const uint8_t** p, uint32_t* len) {
      *p = bufs_[i].data;
      *len = bufs_[i].len;
    });
    return Napi::Number::New(info.Env(), sent);
  }

  // txBatch(data: Buffer, lengths: Uint32Array, count, queue?) -> packets written
  Napi::Value TxBatch(const Napi::CallbackInfo& info) {
    auto data = info[0].As<Napi::Uint8Array>();
    auto lengths = info[1].As<Napi::Uint32Array>();
    const uint32_t count = std::min<uint32_t>(info[2].As<Napi::Number>().Uint32Value(), uint32_t(lengths.ElementLength()));
    const uint32_t queue = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) total += lengths[i];
    if (total > data.ByteLength()) throw Napi::RangeError::New(info.Env(), "lengths: add up to more than data holds");
    const uint8_t* p = data.Data();
    const uint32_t sent = transmit(count, queue, [&](uint32_t i, const uint8_t** out, uint32_t* len) {
      *out = p;
      *len = lengths[i];
      p += lengths[i];
    });
    return Napi::Number::New(info.Env(), sent);
  }

  // waitRx(cb) -> true when packets already wait (cb not kept); else cb runs on the next
  // interrupt, connection change or close. Interrupts are unmasked only while waiting.
  Napi::Value WaitRx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rx_waiter_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (closed_) return Napi::Boolean::New(env, true);
    if (!live_) return Napi::Boolean::New(env, false);  // resolved by go_live / close
    const Role role = live_->conn->role;
    for (RxState& r : live_->rx) {
      __atomic_store_n(r.v.flags, uint16_t(0), __ATOMIC_RELAXED);
      r.masked = false;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // unmask, then look: a packet published before the unmask got no signal
    for (RxState& r : live_->rx)
      if (load_acquire(role == Role::Server ? r.v.head : r.v.tail) != r.cursor) {
        mask_rx();
        rx_waiter_.Reset();
        return Napi::Boolean::New(env, true);
      }
    if (rx_polls_.empty()) {
      for (RxState& r : live_->rx) {
        auto* p = new uv_poll_t;
        uv_poll_init(loop_, p, r.v.int_fd);
        p->data = this;
        uv_poll_start(p, UV_READABLE, [](uv_poll_t* h, int, int) { static_cast<Port*>(h->data)->on_rx_interrupt(); });
        rx_polls_.push_back(p);
      }
    }
    return Napi::Boolean::New(env, false);
  }

  void mask_rx() {
    if (!live_) return;
    for (RxState& r : live_->rx) {
      __atomic_store_n(r.v.flags, kRingFlagMaskInt, __ATOMIC_RELAXED);
      r.masked = true;
    }
  }

  void on_rx_interrupt() {
    if (live_)
      for (RxState& r : live_->rx) {
        uint64_t v;
        ssize_t n = read(r.v.int_fd, &v, sizeof v);
        (void)n;
      }
    stop_rx_polls();
    mask_rx();
    wake_rx();
  }

  void stop_rx_polls() {
    for (uv_poll_t* p : rx_polls_) {
      uv_poll_stop(p);
      close_handle(p);
    }
    rx_polls_.clear();
  }

  void wake_rx() {
    if (finalizing_ || closed_ || rx_waiter_.IsEmpty()) return;
    rx_wake_ = true;
    uv_async_send(notify_);
  }

  Napi::Value Details(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("role", cfg_.role == Role::Server ? "server" : "client");
    o.Set("socket", socket_);
    o.Set("id", cfg_.id);
    o.Set("state", closed_ ? "closed" : live_ ? "connected" : ctrls_.empty() ? (cfg_.role == Role::Server ? "listening" : "connecting") : "handshake");
    if (live_) {
      Napi::Object peer = Napi::Object::New(env);
      peer.Set("name", peer_app_);
      peer.Set("interfaceName", peer_if_);
      o.Set("peer", peer);
    } else {
      o.Set("peer", env.Null());
    }
    Napi::Array rings = Napi::Array::New(env);
    if (live_) {
      uint32_t k = 0;
      auto add = [&](const char* dir, uint32_t q, const RingView& v) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("direction", dir);
        r.Set("queue", q);
        r.Set("size", v.size);
        r.Set("head", __atomic_load_n(v.head, __ATOMIC_ACQUIRE));
        r.Set("tail", __atomic_load_n(v.tail, __ATOMIC_ACQUIRE));
        rings.Set(k++, r);
      };
      for (uint32_t q = 0; q < live_->rx.size(); ++q) add("rx", q, live_->rx[q].v);
      for (uint32_t q = 0; q < live_->n_tx; ++q) add("tx", q, live_->tx[q].v);
    }
    o.Set("rings", rings);
    Napi::Object c = Napi::Object::New(env);
    c.Set("rxPackets", double(counters_.rx_packets));
    c.Set("rxBytes", double(counters_.rx_bytes));
    c.Set("txPackets", double(counters_.tx_packets));
    c.Set("txBytes", double(counters_.tx_bytes));
    c.Set("txNoSpace", double(counters_.tx_no_space));
    c.Set("txEmpty", double(counters_.tx_empty));
    c.Set("rxTooLong", double(counters_.rx_too_long));
    c.Set("violations", double(counters_.violations));
    c.Set("connects", double(counters_.connects));
    c.Set("disconnects", double(counters_.disconnects));
    o.Set("counters", c);
    o.Set("lastError", last_error_.empty() ? env.Null() : Napi::String::New(env, last_error_));
    o.Set("lastDisconnect", last_disconnect_.empty() ? env.Null() : Napi::String::New(env, last_disconnect_));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      closed_ = true;
      shutdown();
      if (notify_) {
        close_handle(notify_);
        notify_ = nullptr;
      }
      call_rx_waiter();  // a pending readable() resolves; the iterator then sees the close
      Unref();
    }
    return info.Env().Undefined();
  }

  // Tells the peer, closes every handle and fd, unmaps. Idempotent.
  void shutdown() {
    if (live_ || live_ctrl_) teardown("interface closed");
    while (!ctrls_.empty()) {
      ctrls_.front()->session->fail(Error::None, "interface closed");
      drop_ctrl(ctrls_.front().get());
    }
    stop_rx_polls();
    if (timer_) {
      uv_timer_stop(timer_);
      close_handle(timer_);
      timer_ = nullptr;
    }
    if (listen_poll_) {
      uv_poll_stop(listen_poll_);
      close_handle(listen_poll_);
      listen_poll_ = nullptr;
    }
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
      unlink_socket(socket_);
      listen_fd_ = -1;
    }
  }

  Config cfg_;
  std::string socket_;
  uv_loop_t* loop_ = nullptr;
  Napi::FunctionReference on_event_;
  Napi::FunctionReference rx_waiter_;
  Napi::AsyncContext async_;
  int listen_fd_ = -1;
  uv_poll_t* listen_poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  uv_async_t* notify_ = nullptr;
  std::vector<std::pair<std::string, std::string>> events_;
  bool rx_wake_ = false;
  std::vector<std::unique_ptr<Ctrl>> ctrls_;
  Ctrl* live_ctrl_ = nullptr;
  std::unique_ptr<Live> live_;
  bool bound_ = false;
  bool closed_ = false;
  bool finalizing_ = false;
  uint64_t reconnect_at_ = 0, backoff_ms_ = 0;
  std::vector<uv_poll_t*> rx_polls_;
  uint32_t rx_next_ = 0;
  std::vector<Segment> segs_;
  std::vector<uint32_t> pkt_segs_;
  std::vector<uint16_t> cursors_;
  struct Span {
    const uint8_t* data;
    uint32_t len;
  };
  std::vector<Span> bufs_;
  Counters counters_;
  std::string peer_app_, peer_if_, last_error_, last_disconnect_;
};

}  // namespace
}  // namespace quiver::memif

static Napi::Object init_module(Napi::Env env, Napi::Object exports) { return quiver::memif::Port::Init(env, exports); }
NODE_API_MODULE(quiver_memif, init_module)
