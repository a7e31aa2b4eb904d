// Epoch-based reclamation for tables published to workers. The control side swaps a pointer
// and retires the old object; workers announce a quiescent state at the top of every loop
// (they hold no table pointer across loops) and go "offline" while asleep. An object retired
// at epoch e is freed once every online worker has announced an epoch >= e.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace quiver {

constexpr uint32_t kMaxWorkers = 64;

class EpochManager {
 public:
  static constexpr uint64_t kOffline = ~uint64_t(0);

  void set_workers(uint32_t n) {
    n_workers_ = n;
    for (uint32_t i = 0; i < kMaxWorkers; ++i) seen_[i].v.store(kOffline);
  }
  // Worker side.
  void quiescent(uint32_t worker) { seen_[worker].v.store(global_.load(std::memory_order_seq_cst), std::memory_order_seq_cst); }
  void offline(uint32_t worker) { seen_[worker].v.store(kOffline, std::memory_order_seq_cst); }

  // Control side: call after the new pointer is stored.
  void retire(std::function<void()> free_fn);
  // Frees whatever every worker has passed. Returns how many objects are still waiting.
  size_t reclaim();
  // Waits until every worker has passed a quiescent point after this call (a grace period).
  // Used where the control side must know no worker still runs with old state. No timeout:
  // callers free memory afterwards, and a sleeping worker is offline so it never blocks this.
  void synchronize();
  size_t pending() {
    std::lock_guard<std::mutex> g(lock_);
    return retired_.size();
  }

 private:
  uint64_t min_seen() const;
  struct alignas(64) Slot { std::atomic<uint64_t> v{kOffline}; };
  std::atomic<uint64_t> global_{1};
  Slot seen_[kMaxWorkers];
  uint32_t n_workers_ = 0;
  std::mutex lock_;
  struct Retired { uint64_t epoch; std::function<void()> free_fn; };
  std::vector<Retired> retired_;
};

// A table the control side replaces wholesale and workers read lock-free.
template <class T>
class Published {
 public:
  const T* get() const { return ptr_.load(std::memory_order_acquire); }
  // Takes ownership of next; the previous table is freed after a grace period.
  void publish(EpochManager& epochs, T* next) {
    const T* old = ptr_.exchange(next, std::memory_order_seq_cst);
    if (old) epochs.retire([old] { delete old; });
  }
  void reset_unsafe() { delete ptr_.exchange(nullptr); }

 private:
  std::atomic<const T*> ptr_{nullptr};
};

}  // namespace quiver
