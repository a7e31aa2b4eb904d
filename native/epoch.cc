#include "epoch.h"

#include <thread>

#include "clock.h"

namespace quiver {

uint64_t EpochManager::min_seen() const {
  uint64_t m = kOffline;
  for (uint32_t i = 0; i < n_workers_; ++i) {
    uint64_t s = seen_[i].v.load(std::memory_order_seq_cst);
    if (s < m) m = s;
  }
  return m;
}

void EpochManager::retire(std::function<void()> free_fn) {
  const uint64_t e = global_.fetch_add(1, std::memory_order_seq_cst) + 1;
  {
    std::lock_guard<std::mutex> g(lock_);
    retired_.push_back({e, std::move(free_fn)});
  }
  reclaim();
}

size_t EpochManager::reclaim() {
  std::vector<std::function<void()>> ready;
  size_t left;
  {
    std::lock_guard<std::mutex> g(lock_);
    const uint64_t m = min_seen();
    size_t keep = 0;
    for (auto& r : retired_) {
      if (r.epoch <= m) ready.push_back(std::move(r.free_fn));
      else retired_[keep++] = std::move(r);
    }
    retired_.resize(keep);
    left = keep;
  }
  for (auto& f : ready) f();
  return left;
}

void EpochManager::synchronize() {
  const uint64_t e = global_.fetch_add(1, std::memory_order_seq_cst) + 1;
  while (min_seen() < e) std::this_thread::yield();
}

}  // namespace quiver
