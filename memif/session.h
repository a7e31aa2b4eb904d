// The memif control-channel state machine for one connection, without any I/O: feed it each
// received message, send what it hands back (lock-step: at most one message per message
// received, as VPP, libmemif and DPDK do), and take the mapped, validated Connection when the
// handshake completes. Every field of every message is checked before use; a violation closes
// the session with a named Error and a DISCONNECT reason. Engine-independent: the driver, the
// quiver/memif library and the fuzz harness share it.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto.h"

namespace quiver::memif {

struct Config {
  Role role = Role::Server;
  uint32_t id = 0;
  Mode mode = Mode::Ethernet;
  std::string secret;           // empty: none required (server) / none sent (client)
  std::string if_name;          // sent in CONNECT / CONNECTED
  std::string app_name = "Quiver";  // sent in HELLO / INIT
  uint8_t log2_ring_size = 10;  // the client decides ring size, buffer size and ring counts
  uint32_t buffer_size = 2048;
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;
  uint32_t cache_line = 64;
  bool allow_unsealed = false;  // server: accept regions the peer could still shrink (SIGBUS risk)
};

// Why a session ended. Names are the memif-control error counters.
enum class Error : uint8_t {
  None, MsgSize, Unexpected, UnknownType, Version, UnknownId, AlreadyConnected, InterfaceDown, ModeMismatch,
  Secret, MissingFd, RegionIndex, Region, RegionUnsealed, RingIndex, Ring, NoRings, Cookie, Resource,
  PeerDisconnect, Timeout, Descriptor, Count
};
const char* error_name(Error e);
const char* error_text(Error e);

struct Region {
  int fd = -1;
  uint64_t size = 0;
  uint8_t* base = nullptr;
  bool sealed = true;
};
struct Ring {
  uint16_t region = 0;
  uint32_t offset = 0;
  uint8_t log2 = 0;
  int int_fd = -1;  // eventfd: the producer writes 1 after publishing unless MASK_INT is set
};

// The result of a completed handshake: mapped regions and validated rings; owns fds/mappings.
struct Connection {
  Role role = Role::Server;
  Mode mode = Mode::Ethernet;
  RingLayout layout;
  uint32_t buffer_size = 0;    // client: bytes per ring buffer (server: learnt per descriptor)
  uint64_t buffer_offset = 0;  // client: where the buffers start in region 0
  uint8_t log2_ring_size = 0;  // client: every ring it created has this size
  std::vector<Region> regions;
  std::vector<Ring> c2s, s2c;
  std::string peer_app, peer_if;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();
  uint8_t* ring_base(const Ring& r) const { return regions[r.region].base + r.offset; }
  // Rings from this side's point of view.
  const std::vector<Ring>& rx() const { return role == Role::Server ? c2s : s2c; }
  const std::vector<Ring>& tx() const { return role == Role::Server ? s2c : c2s; }
  // Client copy mode: offset in region 0 of slot j of ring k of direction d (C2S = 0).
  uint64_t slot_offset(int direction, uint32_t ring, uint32_t slot) const {
    const uint32_t global = direction == 0 ? ring : uint32_t(c2s.size()) + ring;
    return buffer_offset + ((uint64_t(global) << log2_ring_size) + slot) * buffer_size;
  }
};

class Session {
 public:
  enum class Step { Continue, Connected, Close };
  // Server: finds and claims the interface for INIT's id, or returns nullptr with *err set.
  using Lookup = std::function<const Config*(uint32_t id, Error* err)>;

  static std::unique_ptr<Session> server(Lookup lookup, const std::string& app_name);
  static std::unique_ptr<Session> client(const Config& config);

  // One received message of `len` bytes; fd (< 0: none) is owned by the session from here on.
  Step on_message(const uint8_t* data, long len, int fd);
  // The message to send now (after creation for a server's HELLO, after each on_message).
  bool pop_outgoing(uint8_t* msg, int* fd);
  // Local decision to end the session (timeout, interface deleted): queues a DISCONNECT.
  void fail(Error e, const std::string& reason);
  std::unique_ptr<Connection> take_connection() { return std::move(conn_); }

  const Config* bound() const { return bound_; }  // server: interface INIT bound to
  Error error() const { return error_; }
  const std::string& reason() const { return reason_; }
  bool remote_closed() const { return remote_closed_; }
  const std::string& peer_app() const { return peer_app_; }

 private:
  enum class State { AwaitHello, AwaitInit, Bound, Sending, AwaitConnected, Connected, Closed };
  Session() = default;
  Step close(Error e, const std::string& reason);
  Step server_message(const Msg& m, int fd);
  Step client_message(const Msg& m, int fd);
  Step on_hello(const Msg& m);
  Step on_init(const Msg& m);
  Step on_add_region(const Msg& m, int fd);
  Step on_add_ring(const Msg& m, int fd);
  Step on_connect(const Msg& m);
  Step on_connected(const Msg& m);
  bool build_client_regions(uint16_t n_c2s, uint16_t n_s2c, uint8_t log2, std::string* why);
  void queue(const Msg& m, int fd = -1);

  State state_ = State::Closed;
  Config config_;               // client: own config; server: app name only until bound
  Lookup lookup_;
  const Config* bound_ = nullptr;
  std::unique_ptr<Connection> conn_;
  struct Out {
    Msg msg;
    int fd;
  };
  std::deque<Out> out_;
  Error error_ = Error::None;
  std::string reason_;
  bool remote_closed_ = false;
  std::string peer_app_;
};

// Bounded copy of a fixed-size, maybe unterminated, peer string.
std::string wire_string(const uint8_t* p, size_t n);
void put_wire_string(uint8_t* p, size_t n, const std::string& s);

}  // namespace quiver::memif
