// Packets waiting for ARP/ND resolution, per worker; the ip-neighbor-hold process node that
// releases them when their neighbor resolves and drops them (counted) when the hold time
// passes; packets the control side asks a worker to originate.
#include <unistd.h>

#include <memory>
#include <string>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "l3.h"
#include "worker_l3.h"

namespace quiver {

int g_learn_fd = -1;
std::unique_ptr<WorkerL3> g_worker_l3[kMaxWorkers];
static int g_hold_node = -1;

namespace {
enum HoldNext : uint16_t { kHoldIp4Lookup, kHoldIp6Lookup, kHoldDrop, kHoldOutput };
enum HoldError : uint32_t { kHoldTimeout, kHoldReleased, kHoldInjected };

inline uint32_t hold_hash(uint32_t if_index, const IpAddr& a) { return NeighborMap::hash(if_index, a) & (kHoldSlots - 1); }

// Releases what resolved, expires what waited too long. Returns packets handled.
uint32_t hold_sweep(Worker& w, NodeRuntime& node) {
  WorkerL3& s = worker_l3(w);
  if (!s.held_slots) return 0;
  const NeighborMap* map = g_l3.neighbors.get();
  const AdjTable* adjs = g_l3.adjs.get();
  if (!map || !adjs) return 0;
  const uint64_t now = rdtsc();
  const uint64_t limit = ns_to_tsc(g_l3.hold_ns.load(std::memory_order_relaxed));
  uint32_t handled = 0;
  for (HoldSlot& h : s.hold) {
    if (h.if_index == kInvalidIf) continue;
    const uint32_t adj = map->find(h.if_index, h.target);
    if (adj < adjs->count && adjs->adj[adj].kind == AdjKind::Rewrite) {
      // Back through the lookup: the route may have changed while the packet waited.
      w.enqueue(node, h.family == IpFamily::V4 ? kHoldIp4Lookup : kHoldIp6Lookup, h.bi, h.n);
      w.count_error(node, kHoldReleased, h.n);
    } else if (now - h.created_tsc > limit) {
      for (uint32_t i = 0; i < h.n; ++i) w.buffer(h.bi[i])->error = node.error_code(kHoldTimeout);
      w.enqueue(node, kHoldDrop, h.bi, h.n);
    } else {
      continue;
    }
    handled += h.n;
    h.if_index = kInvalidIf;
    h.n = 0;
    --s.held_slots;
  }
  return handled;
}

template <bool Trace>
uint32_t ip_neighbor_hold(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  return hold_sweep(w, node);
}

QUIVER_NODE(ip_neighbor_hold, {
  .name = "ip-neighbor-hold",
  .type = NodeType::Process,
  QUIVER_DISPATCH(ip_neighbor_hold),
  .next_nodes = {"ip4-lookup", "ip6-lookup", "error-drop", "interface-output"},
  .errors = {{"hold-timeout", "next hop not resolved within the hold time", Severity::Error},
             {"released", "held packets released after resolution", Severity::Info},
             {"injected", "packets originated by the control side", Severity::Info}},
  .interval_ns = 100000000ull,
  .process_on_all_workers = true,
});

}  // namespace

WorkerL3& worker_l3(const Worker& w) { return *g_worker_l3[w.id()]; }

HoldResult hold_packet(Worker& w, IpFamily f, uint32_t if_index, const IpAddr& target, uint32_t bi) {
  WorkerL3& s = worker_l3(w);
  const uint64_t now = w.now_tsc();
  HoldSlot* free_slot = nullptr;
  uint32_t i = hold_hash(if_index, target);
  for (uint32_t probe = 0; probe < 16; ++probe, i = (i + 1) & (kHoldSlots - 1)) {
    HoldSlot& h = s.hold[i];
    if (h.if_index == kInvalidIf) {
      if (!free_slot) free_slot = &h;
      continue;
    }
    if (h.if_index != if_index || h.family != f || h.target != target) continue;
    HoldResult r{false, false};
    if (h.n < kHoldPerTarget) {
      h.bi[h.n++] = bi;
      r.held = true;
    }
    if (now - h.last_request_tsc > ns_to_tsc(kRequestSpacingNs)) {
      h.last_request_tsc = now;
      r.send_request = true;
    }
    return r;
  }
  if (!free_slot) return {false, false};
  free_slot->if_index = if_index;
  free_slot->family = f;
  free_slot->target = target;
  free_slot->created_tsc = now;
  free_slot->last_request_tsc = now;
  free_slot->n = 1;
  free_slot->bi[0] = bi;
  ++s.held_slots;
  return {true, true};
}

bool learn_push(Worker& w, const LearnEvent& e) {
  WorkerL3& s = worker_l3(w);
  if (!s.learn.push(e)) return false;
  s.learn_pending = true;
  return true;
}

void learn_flush(Worker& w) {
  WorkerL3& s = worker_l3(w);
  if (!s.learn_pending) return;
  s.learn_pending = false;
  const uint64_t one = 1;
  if (g_learn_fd >= 0) {
    ssize_t r = write(g_learn_fd, &one, sizeof one);  // once per vector, not per packet
    (void)r;
  }
}

bool icmp_allow(Worker& w) {
  WorkerL3& s = worker_l3(w);
  const uint64_t now = w.now_tsc();
  const double rate = g_l3.icmp_rate.load(std::memory_order_relaxed);
  const double burst = g_l3.icmp_burst.load(std::memory_order_relaxed);
  if (s.icmp_last_tsc == 0) s.icmp_tokens = burst;
  else s.icmp_tokens += double(now - s.icmp_last_tsc) * rate / tsc_hz();
  if (s.icmp_tokens > burst) s.icmp_tokens = burst;
  s.icmp_last_tsc = now;
  if (s.icmp_tokens < 1) return false;
  s.icmp_tokens -= 1;
  return true;
}

// --- control side ---

void hold_start(Engine& e) {
  g_hold_node = e.graph().node_index("ip-neighbor-hold");
  for (uint32_t i = 0; i < kMaxWorkers; ++i) g_worker_l3[i].reset();
  for (uint32_t i = 0; i < e.workers().size(); ++i) g_worker_l3[i] = std::make_unique<WorkerL3>();
}

// Frees what workers still hold (engine stopping): the pool is about to go.
void hold_stop(Engine& e) {
  for (auto& wp : e.workers()) {
    wp->run_sync([](Worker& w) {
      WorkerL3& s = worker_l3(w);
      for (HoldSlot& h : s.hold) {
        if (h.if_index == kInvalidIf) continue;
        w.free(h.bi, h.n);
        h.if_index = kInvalidIf;
        h.n = 0;
      }
      s.held_slots = 0;
    });
  }
}

void l3_kick_held() {
  Engine& e = Engine::get();
  for (auto& wp : e.workers())
    wp->post([](Worker& w) { hold_sweep(w, w.node(uint16_t(g_hold_node))); });
}

static void post_packet(const std::vector<uint8_t>& bytes, uint32_t rx_if, uint32_t tx_if, uint16_t next, uint32_t fib,
                        uint32_t origin_if) {
  Engine& e = Engine::get();
  if (e.workers().empty() || bytes.size() > kDataSize) return;
  e.workers()[0]->post([bytes, rx_if, tx_if, next, fib, origin_if](Worker& w) {
    uint32_t bi;
    if (w.alloc(&bi, 1) != 1) return;
    Buffer* b = w.buffer(bi);
    b->reset(uint16_t(bytes.size()));
    std::memcpy(b->data(), bytes.data(), bytes.size());
    b->rx_if = rx_if;
    b->tx_if = tx_if;
    b->l3_offset = b->data_offset;
    IpOpaque& o = ip_opaque(b);
    o.fib_index = fib;
    o.origin_if = origin_if;
    NodeRuntime& node = w.node(uint16_t(g_hold_node));
    w.count_error(node, kHoldInjected);
    w.enqueue(node, next, &bi, 1);
  });
}

void l3_send_frame(uint32_t if_index, const std::vector<uint8_t>& frame) {
  post_packet(frame, kInvalidIf, if_index, kHoldOutput, 0, if_index);
}

void l3_send_ip(uint32_t fib, IpFamily f, uint32_t origin_if, const std::vector<uint8_t>& packet) {
  post_packet(packet, kInvalidIf, kInvalidIf, f == IpFamily::V4 ? kHoldIp4Lookup : kHoldIp6Lookup, fib, origin_if);
}

}  // namespace quiver
