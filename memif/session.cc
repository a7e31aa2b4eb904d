#include "session.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace quiver::memif {

namespace {
struct ErrorInfo {
  const char* name;
  const char* text;
};
// Order follows enum Error; texts are the DISCONNECT reasons VPP/DPDK peers log.
constexpr ErrorInfo kErrors[] = {
    {"none", "no error"},
    {"bad-message-size", "invalid message size"},
    {"unexpected-message", "unexpected message"},
    {"unknown-message", "unknown message type"},
    {"bad-version", "incompatible protocol version"},
    {"unknown-id", "unmatched interface id"},
    {"already-connected", "already connected"},
    {"interface-down", "interface is administratively down"},
    {"mode-mismatch", "mode mismatch"},
    {"bad-secret", "incorrect secret"},
    {"missing-fd", "missing fd"},
    {"bad-region-index", "unexpected region index"},
    {"bad-region", "invalid memory region"},
    {"region-not-sealed", "memory region can be shrunk by its owner (not sealed)"},
    {"bad-ring-index", "unexpected ring index"},
    {"bad-ring", "invalid ring"},
    {"no-rings", "no rings in one direction"},
    {"bad-cookie", "wrong cookie on ring"},
    {"resource-failed", "local resource allocation failed"},
    {"peer-disconnect", "peer sent DISCONNECT"},
    {"handshake-timeout", "handshake did not complete in time"},
    {"bad-descriptor", "peer broke the ring protocol: invalid descriptor"},
};
static_assert(sizeof(kErrors) / sizeof(kErrors[0]) == size_t(Error::Count), "one entry per Error");

bool is_eventfd(int fd) {
  char path[64], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(path, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = 0;
  return std::strcmp(target, "anon_inode:[eventfd]") == 0;
}
}  // namespace

const char* error_name(Error e) { return e < Error::Count ? kErrors[size_t(e)].name : "?"; }
const char* error_text(Error e) { return e < Error::Count ? kErrors[size_t(e)].text : "?"; }

std::string wire_string(const uint8_t* p, size_t n) {
  size_t len = 0;
  while (len < n && p[len]) ++len;
  std::string s(reinterpret_cast<const char*>(p), len);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';  // logs, JSON
  return s;
}
void put_wire_string(uint8_t* p, size_t n, const std::string& s) {
  std::memset(p, 0, n);
  std::memcpy(p, s.data(), s.size() < n - 1 ? s.size() : n - 1);  // strlcpy semantics
}

Connection::~Connection() {
  for (auto& r : regions) {
    if (r.base) munmap(r.base, r.size);
    if (r.fd >= 0) close(r.fd);
  }
  for (auto* v : {&c2s, &s2c})
    for (auto& q : *v)
      if (q.int_fd >= 0) close(q.int_fd);
}

std::unique_ptr<Session> Session::server(Lookup lookup, const std::string& app_name) {
  std::unique_ptr<Session> s(new Session());
  s->lookup_ = std::move(lookup);
  s->config_.role = Role::Server;
  s->config_.app_name = app_name;
  s->state_ = State::AwaitInit;
  Msg m{};
  m.type = uint16_t(MsgType::Hello);
  put_wire_string(m.hello.name, kNameSize, app_name);
  m.hello.min_version = kVersion;
  m.hello.max_version = kVersion;
  m.hello.max_region = uint16_t(kMaxRegions - 1);
  m.hello.max_m2s_ring = uint16_t(kMaxQueues - 1);  // maxima, as VPP and DPDK advertise
  m.hello.max_s2m_ring = uint16_t(kMaxQueues - 1);
  m.hello.max_log2_ring_size = kMaxLog2RingSize;
  s->queue(m);
  return s;
}

std::unique_ptr<Session> Session::client(const Config& config) {
  std::unique_ptr<Session> s(new Session());
  s->config_ = config;
  s->config_.role = Role::Client;
  s->state_ = State::AwaitHello;
  return s;
}

void Session::queue(const Msg& m, int fd) { out_.push_back(Out{m, fd}); }

bool Session::pop_outgoing(uint8_t* msg, int* fd) {
  if (out_.empty()) return false;
  std::memcpy(msg, &out_.front().msg, kMsgSize);
  *fd = out_.front().fd;
  out_.pop_front();
  if (state_ == State::Sending && out_.empty()) state_ = State::AwaitConnected;  // CONNECT went out
  return true;
}

Session::Step Session::close(Error e, const std::string& reason) {
  state_ = State::Closed;
  error_ = e;
  reason_ = reason.empty() ? error_text(e) : reason;
  out_.clear();
  Msg m{};
  m.type = uint16_t(MsgType::Disconnect);
  put_wire_string(m.disconnect.string, kDisconnectStringSize, reason_);
  queue(m);
  conn_.reset();
  return Step::Close;
}

void Session::fail(Error e, const std::string& reason) { close(e, reason); }

Session::Step Session::on_message(const uint8_t* data, long len, int fd) {
  if (state_ == State::Closed) {
    if (fd >= 0) ::close(fd);
    return Step::Close;
  }
  if (len != long(kMsgSize)) {
    if (fd >= 0) ::close(fd);
    return close(Error::MsgSize, "invalid message size " + std::to_string(len));
  }
  Msg m;
  std::memcpy(&m, data, kMsgSize);
  if (m.type == uint16_t(MsgType::Disconnect)) {
    if (fd >= 0) ::close(fd);
    state_ = State::Closed;
    out_.clear();
    conn_.reset();
    error_ = Error::PeerDisconnect;
    remote_closed_ = true;
    reason_ = wire_string(m.disconnect.string, kDisconnectStringSize);
    return Step::Close;
  }
  // Only ADD_REGION and ADD_RING carry an fd; any other is closed so a peer cannot leak ours.
  const bool carries_fd = m.type == uint16_t(MsgType::AddRegion) || m.type == uint16_t(MsgType::AddRing);
  if (!carries_fd && fd >= 0) {
    ::close(fd);
    fd = -1;
  }
  return config_.role == Role::Server ? server_message(m, fd) : client_message(m, fd);
}

// --- server (VPP master) ---

Session::Step Session::server_message(const Msg& m, int fd) {
  const auto type = MsgType(m.type);
  if (type > MsgType::Disconnect || type == MsgType::None) {
    if (fd >= 0) ::close(fd);
    return close(Error::UnknownType, "unknown message type " + std::to_string(m.type));
  }
  if (state_ == State::AwaitInit && type == MsgType::Init) return on_init(m);
  if (state_ == State::Bound && type == MsgType::AddRegion) return on_add_region(m, fd);
  if (state_ == State::Bound && type == MsgType::AddRing) return on_add_ring(m, fd);
  if (state_ == State::Bound && type == MsgType::Connect) return on_connect(m);
  if (fd >= 0) ::close(fd);
  return close(Error::Unexpected, "unexpected message type " + std::to_string(m.type));
}

Session::Step Session::on_init(const Msg& m) {
  peer_app_ = wire_string(m.init.name, kNameSize);
  if (m.init.version != kVersion)
    return close(Error::Version, "incompatible protocol version " + std::to_string(m.init.version >> 8) + "." +
                                     std::to_string(m.init.version & 0xff));
  Error err = Error::UnknownId;
  const Config* c = lookup_(m.init.id, &err);
  if (!c) return close(err, std::string(error_text(err)) + " (id " + std::to_string(m.init.id) + ")");
  bound_ = c;
  if (m.init.mode != uint8_t(c->mode)) return close(Error::ModeMismatch, "");
  if (!c->secret.empty()) {
    const std::string got = wire_string(m.init.secret, kSecretSize);
    if (got.empty()) return close(Error::Secret, "secret required");
    if (got != c->secret) return close(Error::Secret, "incorrect secret");
  }
  state_ = State::Bound;
  conn_ = std::make_unique<Connection>();
  conn_->role = Role::Server;
  conn_->mode = c->mode;
  conn_->layout.cache_line = c->cache_line;
  conn_->peer_app = peer_app_;
  Msg ack{};
  ack.type = uint16_t(MsgType::Ack);
  queue(ack);
  return Step::Continue;
}

Session::Step Session::on_add_region(const Msg& m, int fd) {
  if (fd < 0) return close(Error::MissingFd, "missing memory region fd");
  Region r;
  r.fd = fd;
  r.size = m.add_region.size;
  conn_->regions.push_back(r);  // owned from here: closed with the connection
  const size_t index = conn_->regions.size() - 1;
  if (m.add_region.index != index) return close(Error::RegionIndex, "unexpected region index " + std::to_string(m.add_region.index));
  if (index >= kMaxRegions) return close(Error::RegionIndex, "too many regions");
  // Offsets are u32: a region past 4 GiB cannot be addressed by a descriptor anyway.
  if (r.size == 0 || r.size > (uint64_t(1) << 32))
    return close(Error::Region, "region " + std::to_string(index) + " size " + std::to_string(r.size) + " is outside 1..4 GiB");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) < r.size)
    return close(Error::Region, "region " + std::to_string(index) + " fd is not a file of at least " + std::to_string(r.size) + " bytes");
  // A region its owner can still shrink would SIGBUS us on access: seal it (memfd), else refuse.
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0) seals = F_SEAL_SHRINK;
    else if (!bound_->allow_unsealed) return close(Error::RegionUnsealed, "region " + std::to_string(index) + " cannot be sealed against shrinking");
    else conn_->regions.back().sealed = false;
  }
  Msg ack{};
  ack.type = uint16_t(MsgType::Ack);
  queue(ack);
  return Step::Continue;
}

Session::Step Session::on_add_ring(const Msg& m, int fd) {
  if (fd < 0) return close(Error::MissingFd, "missing ring interrupt fd");
  const MsgAddRing& a = m.add_ring;
  const bool c2s = a.flags & kAddRingFlagC2S;
  auto& rings = c2s ? conn_->c2s : conn_->s2c;
  Ring ring;
  ring.region = a.region;
  ring.offset = a.offset;
  ring.log2 = a.log2_ring_size;
  ring.int_fd = fd;
  rings.push_back(ring);  // owned from here
  const char* dir = c2s ? "client-to-server" : "server-to-client";
  if (a.index != rings.size() - 1) return close(Error::RingIndex, std::string("unexpected ") + dir + " ring index " + std::to_string(a.index));
  const uint32_t limit = c2s ? bound_->rx_queues : bound_->tx_queues;
  if (rings.size() > limit)
    return close(Error::RingIndex, std::string("too many ") + dir + " rings (interface has " + std::to_string(limit) + ")");
  if (a.flags & ~kAddRingFlagC2S) return close(Error::Ring, "unknown ring flags " + std::to_string(a.flags));
  if (a.private_hdr_size != 0) return close(Error::Ring, "private headers not supported");
  if (a.log2_ring_size > kMaxLog2RingSize) return close(Error::Ring, "ring size 2^" + std::to_string(a.log2_ring_size) + " exceeds 2^14");
  if (a.region >= conn_->regions.size()) return close(Error::Ring, "ring in unknown region " + std::to_string(a.region));
  if (a.offset % 8) return close(Error::Ring, "ring offset " + std::to_string(a.offset) + " is not 8-byte aligned");
  if (uint64_t(a.offset) + conn_->layout.bytes(a.log2_ring_size) > conn_->regions[a.region].size)
    return close(Error::Ring, "ring at offset " + std::to_string(a.offset) + " does not fit in region " + std::to_string(a.region));
  // The workers read and write this fd; it must be an eventfd that can never block them.
  if (!is_eventfd(fd) || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    return close(Error::Ring, "ring interrupt fd is not an eventfd");
  Msg ack{};
  ack.type = uint16_t(MsgType::Ack);
  queue(ack);
  return Step::Continue;
}

Session::Step Session::on_connect(const Msg& m) {
  conn_->peer_if = wire_string(m.connect.if_name, kNameSize);
  if (conn_->c2s.empty() || conn_->s2c.empty()) return close(Error::NoRings, "");
  for (size_t i = 0; i < conn_->regions.size(); ++i) {
    Region& r = conn_->regions[i];
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
    if (p == MAP_FAILED) return close(Error::Region, "cannot map region " + std::to_string(i) + ": " + strerror(errno));
    r.base = static_cast<uint8_t*>(p);
  }
  for (auto* v : {&conn_->c2s, &conn_->s2c}) {
    for (size_t i = 0; i < v->size(); ++i) {
      uint8_t* base = conn_->ring_base((*v)[i]);
      uint32_t cookie;
      std::memcpy(&cookie, base + kRingCookieOffset, sizeof cookie);
      if (cookie != kCookie)
        return close(Error::Cookie, std::string("wrong cookie on ") + (v == &conn_->c2s ? "client-to-server" : "server-to-client") +
                                        " ring " + std::to_string(i));
      // tail is ours; start both rings from 0 as every client initialises them.
      __atomic_store_n(reinterpret_cast<uint16_t*>(base + conn_->layout.tail_offset()), uint16_t(0), __ATOMIC_RELEASE);
    }
  }
  state_ = State::Connected;
  Msg c{};
  c.type = uint16_t(MsgType::Connected);
  put_wire_string(c.connected.if_name, kNameSize, bound_->if_name);
  queue(c);
  return Step::Connected;
}

// --- client (VPP slave) ---

Session::Step Session::client_message(const Msg& m, int fd) {
  if (fd >= 0) ::close(fd);  // a server never sends fds
  const auto type = MsgType(m.type);
  if (type > MsgType::Disconnect || type == MsgType::None) return close(Error::UnknownType, "unknown message type " + std::to_string(m.type));
  if (state_ == State::AwaitHello && type == MsgType::Hello) return on_hello(m);
  if (state_ == State::Sending && type == MsgType::Ack) return Step::Continue;  // the next queued message goes out
  if (state_ == State::AwaitConnected && type == MsgType::Connected) return on_connected(m);
  return close(Error::Unexpected, "unexpected message type " + std::to_string(m.type));
}

Session::Step Session::on_hello(const Msg& m) {
  const MsgHello& h = m.hello;
  peer_app_ = wire_string(h.name, kNameSize);
  if (h.min_version > kVersion || h.max_version < kVersion) return close(Error::Version, "");
  const uint16_t n_c2s = uint16_t(std::min<uint32_t>(config_.tx_queues, uint32_t(h.max_s2m_ring) + 1));
  const uint16_t n_s2c = uint16_t(std::min<uint32_t>(config_.rx_queues, uint32_t(h.max_m2s_ring) + 1));
  const uint8_t log2 = std::min(config_.log2_ring_size, std::min(h.max_log2_ring_size, kMaxLog2RingSize));
  std::string why;
  if (!build_client_regions(n_c2s, n_s2c, log2, &why)) return close(Error::Resource, why);
  Msg init{};
  init.type = uint16_t(MsgType::Init);
  init.init.version = kVersion;
  init.init.id = config_.id;
  init.init.mode = uint8_t(config_.mode);
  // Up to 24 bytes, NUL-padded, unterminated when full (VPP's strncpy; readers bound it).
  std::memcpy(init.init.secret, config_.secret.data(), std::min<size_t>(config_.secret.size(), kSecretSize));
  put_wire_string(init.init.name, kNameSize, config_.app_name);
  queue(init);
  Msg reg{};
  reg.type = uint16_t(MsgType::AddRegion);
  reg.add_region.index = 0;
  reg.add_region.size = conn_->regions[0].size;
  queue(reg, conn_->regions[0].fd);
  // All client-to-server rings first, then server-to-client, each from index 0 (the order
  // VPP and DPDK servers enforce).
  for (int d = 0; d < 2; ++d) {
    const auto& rings = d == 0 ? conn_->c2s : conn_->s2c;
    for (size_t i = 0; i < rings.size(); ++i) {
      Msg r{};
      r.type = uint16_t(MsgType::AddRing);
      r.add_ring.flags = d == 0 ? kAddRingFlagC2S : 0;
      r.add_ring.index = uint16_t(i);
      r.add_ring.region = 0;
      r.add_ring.offset = rings[i].offset;
      r.add_ring.log2_ring_size = rings[i].log2;
      r.add_ring.private_hdr_size = 0;
      queue(r, rings[i].int_fd);
    }
  }
  Msg c{};
  c.type = uint16_t(MsgType::Connect);
  put_wire_string(c.connect.if_name, kNameSize, config_.if_name);
  queue(c);
  state_ = State::Sending;
  return Step::Continue;
}

bool Session::build_client_regions(uint16_t n_c2s, uint16_t n_s2c, uint8_t log2, std::string* why) {
  conn_ = std::make_unique<Connection>();
  Connection& c = *conn_;
  c.role = Role::Client;
  c.mode = config_.mode;
  c.layout.cache_line = config_.cache_line;
  c.buffer_size = config_.buffer_size;
  c.log2_ring_size = log2;
  c.peer_app = peer_app_;
  // Region 0 = [client-to-server rings][server-to-client rings][buffers], the single-region
  // copy-mode layout of VPP and DPDK clients; buffers start on a cache line.
  const uint64_t ring_bytes = c.layout.bytes(log2);
  const uint32_t n_rings = uint32_t(n_c2s) + n_s2c;
  c.buffer_offset = (ring_bytes * n_rings + 63) & ~uint64_t(63);
  const uint64_t size = c.buffer_offset + (uint64_t(n_rings) << log2) * config_.buffer_size;
  if (size > (uint64_t(1) << 32)) {
    *why = "region of " + std::to_string(size) + " bytes exceeds the 4 GiB descriptors can address";
    return false;
  }
  Region r;
  r.size = size;
  r.fd = memfd_create("memif region 0", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (r.fd < 0) {
    *why = std::string("memfd_create: ") + strerror(errno);
    return false;
  }
  c.regions.push_back(r);
  if (ftruncate(r.fd, off_t(size)) != 0 || fcntl(r.fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    *why = std::string("region: ") + strerror(errno);
    return false;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
  if (p == MAP_FAILED) {
    *why = std::string("mmap: ") + strerror(errno);
    return false;
  }
  c.regions[0].base = static_cast<uint8_t*>(p);
  for (int d = 0; d < 2; ++d) {
    auto& rings = d == 0 ? c.c2s : c.s2c;
    const uint16_t n = d == 0 ? n_c2s : n_s2c;
    for (uint16_t i = 0; i < n; ++i) {
      Ring ring;
      ring.region = 0;
      ring.offset = uint32_t((uint64_t(i) + (d == 0 ? 0 : n_c2s)) * ring_bytes);
      ring.log2 = log2;
      ring.int_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      rings.push_back(ring);
      if (ring.int_fd < 0) {
        *why = std::string("eventfd: ") + strerror(errno);
        return false;
      }
    }
  }
  for (int d = 0; d < 2; ++d) {
    auto& rings = d == 0 ? c.c2s : c.s2c;
    for (uint32_t i = 0; i < rings.size(); ++i) {
      uint8_t* base = c.ring_base(rings[i]);
      const uint32_t cookie = kCookie;
      std::memcpy(base + kRingCookieOffset, &cookie, sizeof cookie);
      auto* desc = reinterpret_cast<Desc*>(base + c.layout.desc_offset());
      for (uint32_t j = 0; j < (1u << log2); ++j)
        desc[j] = Desc{0, 0, config_.buffer_size, uint32_t(c.slot_offset(d, i, j)), 0};
    }
  }
  return true;
}

Session::Step Session::on_connected(const Msg& m) {
  conn_->peer_if = wire_string(m.connected.if_name, kNameSize);
  // Only now: a DPDK server zeroes every head and tail when it handles CONNECT, so buffers
  // posted earlier would be lost. Post every server-to-client slot.
  for (const Ring& r : conn_->s2c) {
    uint8_t* base = conn_->ring_base(r);
    __atomic_store_n(reinterpret_cast<uint16_t*>(base + kRingHeadOffset), uint16_t(1u << r.log2), __ATOMIC_RELEASE);
  }
  state_ = State::Connected;
  return Step::Connected;
}

}  // namespace quiver::memif
