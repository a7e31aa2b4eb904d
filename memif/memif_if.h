// The memif interface driver: per-interface state shared by the control thread (handshakes,
// reconnects, teardown; always under the engine control lock) and the packet path (memif-input,
// memif-tx; lock-free through the `live` pointer, freed after an epoch grace period).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../native/interface.h"
#include "datapath.h"
#include "session.h"

namespace quiver {

struct MemifIf;
struct MemifCtrl;

// One configured rx queue: the ctx of the engine's rx queue. Stable for the interface's life.
struct MemifRxQueue {
  MemifIf* mif = nullptr;
  uint32_t qid = 0;
  int wake_fd = -1;  // epoll fd handed to the engine; holds the live ring's eventfd while connected
};

// What the packet path sees while connected; replaced on every connection, never modified.
struct MemifLive {
  std::unique_ptr<memif::Connection> conn;
  std::vector<memif::RegionView> regions;
  std::unique_ptr<memif::RxState[]> rx;
  uint32_t n_rx = 0;
  std::unique_ptr<memif::TxState[]> tx;
  uint32_t n_tx = 0;
  memif::Role role = memif::Role::Server;
  memif::Mode mode = memif::Mode::Ethernet;
  // Set by a worker that saw the peer break the protocol (a memif::Error); the control thread
  // then disconnects. Only the first violation wakes it.
  std::atomic<uint8_t> fault{0};
};

enum class MemifState : uint8_t { Down, Listening, Connecting, Handshake, Connected };
const char* memif_state_name(MemifState s);

struct MemifIf {
  memif::Config cfg;
  std::string socket;
  uint32_t if_index = 0;
  std::vector<std::unique_ptr<MemifRxQueue>> rxq;
  std::atomic<MemifLive*> live{nullptr};

  // --- control side (engine control lock held) ---
  MemifState state = MemifState::Down;
  bool admin_up = false;
  MemifCtrl* ctrl = nullptr;      // the control connection serving this interface, if any
  uint64_t reconnect_at_ns = 0;   // client
  uint32_t backoff_ms = 0;
  uint64_t connects = 0, disconnects = 0, connect_attempts = 0;
  uint64_t control_errors[size_t(memif::Error::Count)] = {};
  uint64_t violations = 0;
  std::string last_error;         // latest failure: a connection ended or an attempt failed
  std::string last_disconnect;    // why the last connection (or handshake) ended
  std::string peer_app, peer_if;  // of the current or last connection
};

extern MemifIf* g_memif[kMaxInterfaces];

// Packet path: report a protocol violation seen in shared memory (drops the connection).
void memif_fault(MemifLive* live, memif::Error e);

struct MemifCreate {
  memif::Config cfg;
  std::string name;
  std::string socket;
  uint8_t mac[6] = {};
  bool has_mac = false;
  uint32_t mtu = 1500;
  int rx_mode = -1;  // RxMode, -1: engine default
  int worker = -1;
};
// Control side (control lock held): creates the interface; throws "field: reason".
uint32_t memif_create(const MemifCreate& args);
// JSON object describing one memif (role, socket, id, state, regions, rings with head/tail...).
std::string memif_details_json(const MemifIf& m);

}  // namespace quiver
