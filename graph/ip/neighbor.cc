// Neighbors (ARP and ND share one table): entries created by resolution (incomplete until an
// answer arrives), learned from the wire, or static. The neighbor thread drains what workers
// learned, ages dynamic entries and tells workers to release held packets. Also the engine
// hooks of the whole L3 feature.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "../../native/clock.h"
#include "../../native/engine.h"
#include "l3.h"
#include "worker_l3.h"

namespace quiver {

extern int g_learn_fd;
extern std::unique_ptr<WorkerL3> g_worker_l3[kMaxWorkers];
void hold_start(Engine& e);
void hold_stop(Engine& e);
void udp_ports_start(Engine& e);

namespace {

std::string nkey(uint32_t if_index, IpFamily f, const IpAddr& a) {
  std::string k(reinterpret_cast<const char*>(&if_index), 4);
  k.push_back(char(f));
  k.append(reinterpret_cast<const char*>(a.b), 16);
  return k;
}

// Heap-held and never destroyed: a process that exits without stopping the engine must not
// run std::thread's destructor on a joinable thread (std::terminate).
std::thread* g_thread = nullptr;
std::atomic<bool> g_run{false};

void neighbor_thread() {
  Engine& e = Engine::get();
  uint64_t last_age = monotonic_ns();
  while (g_run.load()) {
    pollfd p{g_learn_fd, POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      uint64_t v;
      ssize_t r = read(g_learn_fd, &v, sizeof v);
      (void)r;
    }
    // Never block on the control lock: the engine may hold it while stopping this thread.
    std::unique_lock<std::recursive_mutex> lk(e.control_lock(), std::defer_lock);
    while (!lk.try_lock()) {
      if (!g_run.load()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    L3& l3 = L3::get();
    if (!l3.running()) continue;
    bool resolved = false;
    const uint32_t n_workers = uint32_t(e.workers().size());
    for (uint32_t w = 0; w < n_workers; ++w) {
      if (!g_worker_l3[w]) continue;
      LearnEvent ev;
      while (g_worker_l3[w]->learn.pop(&ev)) {
        if (!e.interface(ev.if_index)) continue;  // deleted meanwhile
        bool r = false;
        l3.neighbor_set(ev.if_index, ev.family, ev.addr, ev.mac, false, ev.update_only, &r);
        resolved |= r;
      }
    }
    const uint64_t now = monotonic_ns();
    if (now - last_age > 500000000ull) {
      last_age = now;
      l3.neighbors_age(now);
    }
    l3.publish();
    if (resolved) l3_kick_held();
  }
}

void l3_on_start(Engine& e) {
  hold_start(e);
  udp_ports_start(e);
  L3::get().start(e);
  g_learn_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_run = true;
  g_thread = new std::thread(neighbor_thread);
}

void l3_on_stop(Engine& e) {
  g_run = false;
  if (g_learn_fd >= 0) {
    const uint64_t one = 1;
    ssize_t r = write(g_learn_fd, &one, sizeof one);
    (void)r;
  }
  if (g_thread && g_thread->joinable()) g_thread->join();
  delete g_thread;
  g_thread = nullptr;
  hold_stop(e);
  L3::get().stop(e);
  if (g_learn_fd >= 0) close(g_learn_fd);
  g_learn_fd = -1;
}

void l3_on_interface_delete(Engine&, uint32_t if_index) {
  if (L3::get().running()) L3::get().interface_deleted(if_index);
}

QUIVER_FEATURE(l3, {
  .name = "ip",
  .on_start = l3_on_start,
  .on_stop = l3_on_stop,
  .on_interface_delete = l3_on_interface_delete,
});

}  // namespace

uint32_t L3::neighbor_find(uint32_t if_index, IpFamily f, const IpAddr& a) const {
  auto it = neighbor_by_key_.find(nkey(if_index, f, a));
  return it == neighbor_by_key_.end() ? ~0u : it->second;
}

uint32_t L3::neighbor_get(uint32_t if_index, IpFamily f, const IpAddr& a) {
  const uint32_t found = neighbor_find(if_index, f, a);
  if (found != ~0u) return found;
  uint32_t id;
  if (!free_neighbors_.empty()) {
    id = free_neighbors_.back();
    free_neighbors_.pop_back();
  } else {
    id = uint32_t(neighbors_.size());
    neighbors_.emplace_back();
  }
  const uint32_t adj = alloc_adj();
  Neighbor& n = neighbors_[id];
  n = Neighbor();
  n.if_index = if_index;
  n.family = f;
  n.addr = a;
  n.adj = adj;
  n.alive = true;
  n.updated_ns = monotonic_ns();
  Adjacency& ad = adjs_[adj];
  ad = Adjacency();
  ad.kind = AdjKind::Incomplete;
  ad.family = f;
  ad.if_index = if_index;
  ad.next_hop = a;
  neighbor_by_key_[nkey(if_index, f, a)] = id;
  nbrs_dirty_ = adjs_dirty_ = true;
  return id;
}

void L3::neighbor_set(uint32_t if_index, IpFamily f, const IpAddr& a, const uint8_t* mac, bool is_static, bool update_only,
                      bool* resolved) {
  uint32_t id = neighbor_find(if_index, f, a);
  if (id == ~0u) {
    if (update_only) return;
    if (!is_static) {
      if (n_dynamic_ >= nbr_config_.limit) {
        ++learn_dropped_limit;
        return;
      }
    }
    id = neighbor_get(if_index, f, a);
  }
  Neighbor& n = neighbors_[id];
  if (n.state == Neighbor::Static && !is_static) return;  // static entries are not learned over
  if (update_only && n.state == Neighbor::Incomplete) return;
  const bool changed = n.state == Neighbor::Incomplete || std::memcmp(n.mac, mac, 6) != 0;
  std::memcpy(n.mac, mac, 6);
  const Neighbor::State state = is_static ? Neighbor::Static : Neighbor::Reachable;
  n_dynamic_ += (state == Neighbor::Reachable) - (n.state == Neighbor::Reachable);
  n.state = state;
  n.updated_ns = monotonic_ns();
  if (!changed) return;
  Adjacency& ad = adjs_[n.adj];
  ad.kind = AdjKind::Rewrite;
  std::memcpy(ad.dst_mac, mac, 6);
  adjs_dirty_ = true;
  if (resolved) *resolved = true;
}

// Back to incomplete (kept for the pathlists using it) or gone.
void L3::neighbor_free(uint32_t id) {
  Neighbor& n = neighbors_[id];
  if (n.state == Neighbor::Reachable) --n_dynamic_;
  if (n.refs) {
    n.state = Neighbor::Incomplete;
    std::memset(n.mac, 0, 6);
    adjs_[n.adj].kind = AdjKind::Incomplete;
    std::memset(adjs_[n.adj].dst_mac, 0, 6);
    adjs_dirty_ = true;
    return;
  }
  neighbor_by_key_.erase(nkey(n.if_index, n.family, n.addr));
  free_adj(n.adj);
  n = Neighbor();
  free_neighbors_.push_back(id);
  nbrs_dirty_ = true;
}

void L3::neighbor_unref(uint32_t id) {
  Neighbor& n = neighbors_[id];
  if (n.refs) --n.refs;
  if (!n.refs && n.state == Neighbor::Incomplete) neighbor_free(id);
}

bool L3::neighbor_delete(uint32_t if_index, IpFamily f, const IpAddr& a) {
  const uint32_t id = neighbor_find(if_index, f, a);
  if (id == ~0u || neighbors_[id].state == Neighbor::Incomplete) return false;
  neighbor_free(id);
  return true;
}

void L3::neighbors_age(uint64_t now_ns) {
  for (uint32_t id = 0; id < neighbors_.size(); ++id) {
    Neighbor& n = neighbors_[id];
    if (n.alive && n.state == Neighbor::Reachable && now_ns - n.updated_ns > nbr_config_.age_ns) neighbor_free(id);
  }
}

std::vector<const Neighbor*> L3::neighbors(IpFamily f) const {
  std::vector<const Neighbor*> v;
  for (auto& n : neighbors_)
    if (n.alive && n.family == f) v.push_back(&n);
  std::sort(v.begin(), v.end(), [](const Neighbor* a, const Neighbor* b) {
    if (a->if_index != b->if_index) return a->if_index < b->if_index;
    return std::memcmp(a->addr.b, b->addr.b, 16) < 0;
  });
  return v;
}

}  // namespace quiver
