// Per-worker L3 state, owned by the worker thread: packets held while their next hop is being
// resolved (bounded: kHoldSlots targets x kHoldPerTarget packets, for at most the hold time),
// the ring that carries learned neighbors to the control side, and the ICMP error token
// bucket. Nothing here is shared between workers, so nothing here takes a lock.
#pragma once
#include <atomic>
#include <cstdint>

#include "../../native/worker.h"
#include "ip_common.h"

namespace quiver {

constexpr uint32_t kHoldSlots = 256;      // targets per worker
constexpr uint32_t kHoldPerTarget = 4;    // packets per target
constexpr uint64_t kRequestSpacingNs = 250000000ull;  // ARP request / NS repeat per target

struct HoldSlot {
  uint32_t if_index = kInvalidIf;  // kInvalidIf: free
  IpFamily family = IpFamily::V4;
  uint8_t n = 0;
  IpAddr target;
  uint64_t created_tsc = 0;
  uint64_t last_request_tsc = 0;
  uint32_t bi[kHoldPerTarget] = {};
};

// A neighbor seen on the wire (ARP, NS/NA), for the control side to apply.
struct LearnEvent {
  uint32_t if_index;
  IpFamily family;
  uint8_t update_only;  // gratuitous ARP / unsolicited: refresh an existing entry only
  uint8_t mac[6];
  IpAddr addr;
};

// Single producer (the worker), single consumer (the neighbor thread).
class LearnRing {
 public:
  static constexpr uint32_t kSize = 1024;
  bool push(const LearnEvent& e) {
    const uint32_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) >= kSize) return false;
    ev_[h % kSize] = e;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool pop(LearnEvent* e) {
    const uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return false;
    *e = ev_[t % kSize];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

 private:
  LearnEvent ev_[kSize];
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
};

struct WorkerL3 {
  HoldSlot hold[kHoldSlots];
  uint32_t held_slots = 0;
  LearnRing learn;
  bool learn_pending = false;
  double icmp_tokens = 0;
  uint64_t icmp_last_tsc = 0;
};

WorkerL3& worker_l3(const Worker& w);

struct HoldResult {
  bool held;          // false: the caller drops the packet (hold-full)
  bool send_request;  // time to (re)send an ARP request / NS for this target
};
HoldResult hold_packet(Worker& w, IpFamily f, uint32_t if_index, const IpAddr& target, uint32_t bi);

// Queues a learned neighbor; call learn_flush once per dispatch to wake the control side.
bool learn_push(Worker& w, const LearnEvent& e);
void learn_flush(Worker& w);

// ICMP error rate limit: true when the worker's token bucket allows one more error now.
bool icmp_allow(Worker& w);

}  // namespace quiver
