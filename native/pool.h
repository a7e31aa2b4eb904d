// The buffer pool: one region of kSlotSize slots allocated once at start, from 2 MiB
// hugepages when the kernel has them reserved, else from a memfd with 4 KiB pages. The region
// is a memfd either way so memif can export it. Free buffers live on a global stack that is only
// touched in batches; each worker keeps a cache of free indices so allocation and free on the
// packet path never take the lock.
//
// Accounting is exact: free (global) + cached (all caches) + held (driver rings) + in flight
// == total. After traffic stops and drivers are gone, in flight must be 0 or it is a leak.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "buffer.h"

namespace quiver {

class BufferPool;

// Per-thread cache of free buffer indices. Never shared between threads.
struct BufferCache {
  static constexpr uint32_t kCapacity = 2048;
  static constexpr uint32_t kBatch = 512;  // refill/flush granularity against the global stack
  uint32_t count = 0;
  uint32_t index[kCapacity];
  std::atomic<uint64_t>* stat_count = nullptr;  // mirrored into the stats segment
};

struct PoolConfig {
  uint32_t buffers = 16384;
  std::string hugepages = "auto";  // auto | on | off
};

class BufferPool {
 public:
  BufferPool() = default;
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Throws std::runtime_error with a message naming what failed.
  void create(const PoolConfig& config);
  void destroy();

  uint8_t* base() const { return base_; }
  uint64_t size_bytes() const { return uint64_t(total_) * kSlotSize; }
  int fd() const { return fd_; }
  bool hugepages() const { return hugepages_; }
  uint32_t total() const { return total_; }

  Buffer* buffer(uint32_t index) const {
    return reinterpret_cast<Buffer*>(base_ + uint64_t(index) * kSlotSize + kMetaOffset);
  }
  uint32_t index_of(const Buffer* b) const {
    return uint32_t((reinterpret_cast<const uint8_t*>(b) - kMetaOffset - base_) / kSlotSize);
  }
  bool valid_index(uint32_t index) const { return index < total_; }

  // Batched: returns how many were allocated (fewer only when the pool is exhausted).
  uint32_t alloc(BufferCache& cache, uint32_t* out, uint32_t n) {
    if (__builtin_expect(cache.count < n, 0)) refill(cache, n);
    const uint32_t got = n < cache.count ? n : cache.count;
    cache.count -= got;
    for (uint32_t i = 0; i < got; ++i) out[i] = cache.index[cache.count + i];
    return got;
  }
  // Frees n buffers and every buffer chained behind them.
  void free(BufferCache& cache, const uint32_t* in, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      if (__builtin_expect(cache.count == BufferCache::kCapacity, 0)) flush(cache, BufferCache::kBatch);
      cache.index[cache.count++] = in[i];
      Buffer* b = buffer(in[i]);
      if (__builtin_expect(b->flags & kBufNextPresent, 0)) free_chain_tail(cache, b);
    }
  }
  // Frees exactly these indices, ignoring chains (drivers returning ring slots).
  void free_unchained(BufferCache& cache, const uint32_t* in, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      if (__builtin_expect(cache.count == BufferCache::kCapacity, 0)) flush(cache, BufferCache::kBatch);
      cache.index[cache.count++] = in[i];
    }
  }
  void publish_cache_count(BufferCache& cache) {
    if (cache.stat_count) cache.stat_count->store(cache.count, std::memory_order_relaxed);
  }
  // Return every cached buffer to the global stack (a worker stopping, a test checking leaks).
  void drain(BufferCache& cache);

  // Buffers a driver keeps posted in rings (AF_XDP fill ring, memif rx ring): counted so the
  // leak check can tell "in a ring" from "lost".
  void account_held(int64_t delta) { held_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t held() const { return held_.load(std::memory_order_relaxed); }
  uint32_t free_count() const { return free_count_.load(std::memory_order_relaxed); }
  uint64_t alloc_failures() const { return alloc_failures_.load(std::memory_order_relaxed); }

 private:
  void refill(BufferCache& cache, uint32_t want);
  void flush(BufferCache& cache, uint32_t n);
  void free_chain_tail(BufferCache& cache, Buffer* head);

  uint8_t* base_ = nullptr;
  uint32_t total_ = 0;
  int fd_ = -1;
  bool hugepages_ = false;
  std::mutex lock_;  // guards the global stack; taken once per batch of kBatch, never per packet
  std::vector<uint32_t> stack_;
  std::atomic<uint32_t> free_count_{0};
  std::atomic<int64_t> held_{0};
  std::atomic<uint64_t> alloc_failures_{0};
};

}  // namespace quiver
