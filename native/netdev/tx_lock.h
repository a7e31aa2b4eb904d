// A tx queue that more workers share than it has queues: a spin lock held for one vector's send.
// Taken only when shared; the common case (a queue per worker) pays nothing.
#pragma once
#include <immintrin.h>

#include <atomic>

namespace quiver {
namespace netdev {

class TxQueueLock {
 public:
  TxQueueLock(std::atomic_flag& lock, bool shared) : lock_(shared ? &lock : nullptr) {
    if (lock_)
      while (lock_->test_and_set(std::memory_order_acquire)) _mm_pause();
  }
  ~TxQueueLock() {
    if (lock_) lock_->clear(std::memory_order_release);
  }
  TxQueueLock(const TxQueueLock&) = delete;
  TxQueueLock& operator=(const TxQueueLock&) = delete;

 private:
  std::atomic_flag* lock_;
};

}  // namespace netdev
}  // namespace quiver
