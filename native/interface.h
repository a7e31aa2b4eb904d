// Interfaces: the control-side registry (names, drivers, queues) and the per-packet runtime
// table workers read lock-free (mode, peer, tx node, admin state). Every driver implements
// InterfaceOps; the engine owns placement of rx queues on workers.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "epoch.h"

namespace quiver {

constexpr uint32_t kMaxInterfaces = 4096;

enum class IfMode : uint8_t { L3 = 0, XConnect = 1, Bridge = 2 };
enum class RxMode : uint8_t { Polling = 0, Interrupt = 1, Adaptive = 2 };
const char* rx_mode_name(RxMode m);
bool parse_rx_mode(const std::string& s, RxMode* out);

// What a worker needs per packet about an interface. Replaced copy-on-write.
struct IfRuntime {
  uint8_t valid = 0;
  uint8_t admin_up = 0;
  uint8_t link_up = 0;
  IfMode mode = IfMode::L3;
  uint16_t tx_next = 0;        // next index of interface-output leading to the driver's tx node
  uint16_t mtu = 1500;         // L3 MTU in bytes
  uint32_t xconnect_peer = 0xffffffffu;
  uint32_t bridge_domain = 0xffffffffu;
  uint32_t parent = 0xffffffffu;   // sub-interfaces: the parent interface
  uint32_t driver_instance = 0;    // the driver's own handle for tx
  uint8_t mac[6] = {};
  uint8_t capture = 0;             // bit 0: pcap rx, bit 1: pcap tx
  uint8_t flags = 0;
};

struct InterfaceTable {
  IfRuntime entry[kMaxInterfaces];
};

class Interface;

// Driver hooks. Called on the control thread; they may send messages to workers.
class InterfaceOps {
 public:
  virtual ~InterfaceOps() = default;
  virtual const char* driver() const = 0;
  // Tear down driver state. Called after the interface's rx queues are no longer polled and
  // after a grace period, so no worker touches the driver's memory any more.
  virtual void destroy(Interface& intf) = 0;
  virtual void set_admin(Interface&, bool) {}
  virtual void set_mtu(Interface&, uint32_t) {}
  virtual void set_mac(Interface&, const uint8_t*) {}
  // Interrupts on or off for a queue (interrupt/adaptive modes); returns false if unsupported.
  virtual bool set_rx_mode(Interface&, uint32_t /*queue*/, RxMode) { return true; }
  // Driver-specific details for `show interface ... detail` as a JSON object body.
  virtual std::string details_json(const Interface&) { return "{}"; }
  // Periodic housekeeping on the control thread (link state polling, reconnects).
  virtual void poll_control(Interface&) {}
};

struct RxQueue {
  uint32_t queue_id = 0;
  uint32_t worker = 0;
  RxMode mode = RxMode::Adaptive;
  int fd = -1;                 // interrupt fd (readable when packets wait), -1 if none
  void* ctx = nullptr;         // driver's queue object, handed to the input node
  uint16_t input_node = 0;     // node index of the driver's input node
};

class Interface {
 public:
  uint32_t index = 0;
  std::string name;
  std::string tx_node;
  uint32_t mtu = 1500;
  uint8_t mac[6] = {};
  bool admin_up = false;
  bool link_up = false;
  uint32_t tx_queues = 1;
  std::vector<RxQueue> rx_queues;
  std::unique_ptr<InterfaceOps> ops;
  uint64_t link_changes = 0;
};

}  // namespace quiver
