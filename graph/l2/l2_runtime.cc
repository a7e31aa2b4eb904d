// The l2 runtime's life (created at engine start, retired at stop), the MAC table's writer
// side (learning, aging, flushes) and l2-fib-process, the process node on worker 0 that
// drains other workers' learn queues and ages entries out.
#include <stdexcept>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "../../native/json.h"
#include "../../native/worker.h"
#include "l2.h"
#include "l2_control.h"

namespace quiver {
namespace l2 {

namespace {
std::atomic<L2Runtime*> g_runtime{nullptr};
}  // namespace

L2Runtime* runtime() { return g_runtime.load(std::memory_order_acquire); }

L2Runtime& live_runtime() {
  L2Runtime* rt = runtime();
  if (!rt) throw std::runtime_error("engine: not running");
  return *rt;
}

void change_bds(const std::function<void(BdTable&)>& fn) {
  L2Runtime& rt = live_runtime();
  auto* next = new BdTable(*rt.bds.get());
  fn(*next);
  rt.bds.publish(Engine::get().epochs(), next);
}
void change_ifs(const std::function<void(L2IfTable&)>& fn) {
  L2Runtime& rt = live_runtime();
  auto* next = new L2IfTable(*rt.ifs.get());
  fn(*next);
  rt.ifs.publish(Engine::get().epochs(), next);
}
void change_vlans(const std::function<void(VlanTable&)>& fn) {
  L2Runtime& rt = live_runtime();
  auto* next = new VlanTable(*rt.vlans.get());
  fn(*next);
  rt.vlans.publish(Engine::get().epochs(), next);
}

void on_writer(const std::function<void(L2Runtime&)>& fn) {
  L2Runtime& rt = live_runtime();
  auto& workers = Engine::get().workers();
  if (workers.empty()) throw std::runtime_error("engine: not running");
  // fn refers to the caller's stack: run_sync never returns before it ran.
  workers[0]->run_sync([&](Worker&) { fn(rt); });
}

std::string bd_key_mac(uint64_t key) {
  uint8_t m[6];
  std::memcpy(m, &key, 6);
  return mac_str(m);
}

Napi::Value json_value(Napi::Env env, const std::string& json) {
  Napi::Object JSON = env.Global().Get("JSON").As<Napi::Object>();
  return JSON.Get("parse").As<Napi::Function>().Call(JSON, {Napi::String::New(env, json)});
}

bool has_key(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

uint16_t bd_index_of(const BdTable& t, uint32_t id) {
  for (uint32_t i = 1; i < kMaxBridgeDomains; ++i)
    if (t.bd[i].valid && t.bd[i].id == id) return uint16_t(i);
  return 0;
}

namespace {
void count_add(std::atomic<uint32_t>& c, int delta) { c.store(uint32_t(int(c.load(std::memory_order_relaxed)) + delta), std::memory_order_relaxed); }
}  // namespace

int learn_on_writer(L2Runtime& rt, const BdTable& bds, const L2IfTable& ifs, uint64_t key, uint32_t if_index,
                    uint32_t now) {
  const uint32_t bd = uint32_t(key >> 48);
  if (ifs.entry[if_index].bd != bd) return -1;  // left the bridge domain since the packet passed
  MacTable::Pos p;
  if (rt.fib.find(key, &p)) {
    const uint32_t v = rt.fib.value(p);
    if (v & kFibStatic) return (v & kFibIfMask) == if_index ? -1 : int(kFwdStaticMove);
    rt.fib.stamp(p) = now;
    if ((v & kFibIfMask) == if_index) return -1;
    rt.fib.set_value(p, kFibValid | if_index);
    return kFwdMove;
  }
  const BdRuntime& b = bds.bd[bd];
  if (b.mac_limit && rt.learned[bd].load(std::memory_order_relaxed) >= b.mac_limit) return kFwdLimit;
  if (!rt.fib.insert(key, kFibValid | if_index, now, &p)) return kFwdTableFull;
  count_add(rt.learned[bd], 1);
  return kFwdLearned;
}

uint32_t fib_flush(L2Runtime& rt, const std::function<bool(uint64_t, uint32_t)>& pred) {
  uint32_t removed = 0;
  for (uint32_t i = 0; i < rt.fib.buckets(); ++i) {
    FibBucket* b = rt.fib.bucket(i);
    for (uint32_t s = 0; s < MacTable::kWays; ++s) {
      const uint64_t key = b->key[s].load(std::memory_order_relaxed);
      if (!key) continue;
      const uint32_t v = b->value[s].load(std::memory_order_relaxed);
      if (!pred(key, v)) continue;
      rt.fib.erase(MacTable::Pos{b, s});
      count_add((v & kFibStatic) ? rt.statics[key >> 48] : rt.learned[key >> 48], -1);
      ++removed;
    }
  }
  return removed;
}

bool fib_set_static(L2Runtime& rt, uint64_t key, uint32_t value, uint32_t now) {
  MacTable::Pos p;
  if (rt.fib.find(key, &p)) {
    const uint32_t old = rt.fib.value(p);
    if (!(old & kFibStatic)) {
      count_add(rt.learned[key >> 48], -1);
      count_add(rt.statics[key >> 48], 1);
    }
    rt.fib.set_value(p, value | kFibStatic | kFibValid);
    rt.fib.stamp(p) = now;
    return true;
  }
  if (!rt.fib.insert(key, value | kFibStatic | kFibValid, now, &p)) return false;
  count_add(rt.statics[key >> 48], 1);
  return true;
}

namespace {

// Ages `count` buckets from the sweep cursor: a hit since the last visit refreshes the entry,
// a learned entry unseen for its bridge domain's mac-age goes.
void age_sweep(L2Runtime& rt, const BdTable& bds, uint32_t count, uint32_t now) {
  MacTable& t = rt.fib;
  const uint32_t mask = t.buckets() - 1;
  for (uint32_t k = 0; k < count; ++k) {
    FibBucket* b = t.bucket(rt.age_cursor);
    rt.age_cursor = (rt.age_cursor + 1) & mask;
    for (uint32_t s = 0; s < MacTable::kWays; ++s) {
      const uint64_t key = b->key[s].load(std::memory_order_relaxed);
      if (!key) continue;
      const MacTable::Pos p{b, s};
      if (b->hit[s].load(std::memory_order_relaxed)) {
        b->hit[s].store(0, std::memory_order_relaxed);
        t.stamp(p) = now;
        continue;
      }
      if (b->value[s].load(std::memory_order_relaxed) & kFibStatic) continue;
      const uint32_t age = bds.bd[key >> 48].mac_age;
      if (!age || now - t.stamp(p) < age * kTicksPerSecond) continue;
      t.erase(p);
      count_add(rt.learned[key >> 48], -1);
    }
  }
}

template <bool Trace>
uint32_t l2_fib_process(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  L2Runtime* rt = runtime();
  if (!rt) return 0;
  const BdTable& bds = *rt->bds.get();
  const L2IfTable& ifs = *rt->ifs.get();
  const uint32_t now = fib_now(*rt, w.now_tsc());
  NodeRuntime& fwd = w.node(rt->fwd_node);
  uint32_t events = 0;
  for (uint32_t q = 1; q < rt->n_workers; ++q) {
    LearnQueue& lq = rt->queues[q];
    const uint32_t head = lq.head.load(std::memory_order_relaxed);
    const uint32_t tail = lq.tail.load(std::memory_order_acquire);
    for (uint32_t i = head; i != tail; ++i) {
      const LearnEvent& ev = lq.ev[i & (LearnQueue::kSize - 1)];
      const int e = learn_on_writer(*rt, bds, ifs, ev.key, ev.if_index, now);
      if (e >= 0) w.count_error(fwd, uint32_t(e));
    }
    events += tail - head;
    lq.head.store(tail, std::memory_order_release);
    lq.drains.store(lq.drains.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // A full sweep per second whatever the call rate: scan in proportion to the time elapsed.
  if (rt->fib.size()) {
    const uint32_t elapsed = now - rt->age_last;
    if (elapsed) {
      const uint64_t n = uint64_t(rt->fib.buckets()) * elapsed / kTicksPerSecond;
      age_sweep(*rt, bds, uint32_t(n < rt->fib.buckets() ? n : rt->fib.buckets()), now);
      rt->age_last = now;
    }
  } else {
    rt->age_last = now;
  }
  // Every wake-up of an idle worker costs (it polls the last millisecond before a deadline):
  // drain every 10 ms only while other workers queue learn events, and otherwise run as
  // rarely as learning latency (100 ms) and aging (250 ms) allow.
  const uint64_t tsc = w.now_tsc();
  const double ms = rt->tsc_per_tick / 10;
  if (events) rt->drain_fast_until = tsc + uint64_t(ms * 1000);
  const bool others = rt->n_workers > 1 && rt->bridge_domains.load(std::memory_order_relaxed) > 0;
  double next_ms = 1000;
  if (others && tsc < rt->drain_fast_until) next_ms = 10;
  else if (others) next_ms = 100;
  else if (rt->fib.size()) next_ms = 250;
  node.next_run_tsc = tsc + uint64_t(ms * next_ms);
  return events;
}

QUIVER_NODE(l2_fib_process, {
  .name = "l2-fib-process",
  .type = NodeType::Process,
  QUIVER_DISPATCH(l2_fib_process),
  .next_nodes = {},
  .errors = {},
  .interval_ns = 10000000,  // the first call; then the node picks its own pace (see above)
});

void l2_start(Engine& e) {
  auto rt = std::make_unique<L2Runtime>();
  rt->bds.publish(e.epochs(), new BdTable());
  rt->ifs.publish(e.epochs(), new L2IfTable());
  rt->vlans.publish(e.epochs(), new VlanTable());
  rt->fib.create(&e.epochs());
  rt->n_workers = uint32_t(e.workers().size());
  rt->queues = std::make_unique<LearnQueue[]>(rt->n_workers);
  rt->fwd_node = uint16_t(e.graph().node_index("l2-fwd"));
  rt->tsc_per_tick = tsc_hz() / kTicksPerSecond;
  rt->age_last = fib_now(*rt, rdtsc());
  g_runtime.store(rt.release(), std::memory_order_release);
}

// Workers may still run: the runtime is freed after they stopped (the engine reclaims every
// retired object once workers are gone).
void l2_stop(Engine& e) {
  L2Runtime* rt = g_runtime.exchange(nullptr);
  if (rt) e.epochs().retire([rt] { delete rt; });
}

void l2_interface_deleted(Engine&, uint32_t if_index) {
  if (!runtime()) return;
  vlan_interface_deleted(if_index);
  bridge_detach(if_index);
  change_ifs([&](L2IfTable& t) { t.entry[if_index] = L2If{}; });
}

}  // namespace

QUIVER_FEATURE(l2, {.name = "l2", .on_start = l2_start, .on_stop = l2_stop, .on_interface_delete = l2_interface_deleted});

}  // namespace l2
}  // namespace quiver
