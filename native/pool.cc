#include "pool.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace quiver {

namespace {
constexpr uint64_t kHugePage = 2ull << 20;

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// Returns the mapping or nullptr; on success *fd_out holds the memfd.
uint8_t* map_memfd(uint64_t bytes, bool huge, int* fd_out, std::string* why) {
  unsigned flags = MFD_CLOEXEC | (huge ? (MFD_HUGETLB | MFD_HUGE_2MB) : 0u);
  int fd = memfd_create(huge ? "quiver-buffers-huge" : "quiver-buffers", flags);
  if (fd < 0) { *why = std::string("memfd_create: ") + strerror(errno); return nullptr; }
  if (ftruncate(fd, off_t(bytes)) != 0) {
    *why = std::string("ftruncate: ") + strerror(errno);
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) {
    *why = std::string("mmap: ") + strerror(errno);
    close(fd);
    return nullptr;
  }
  *fd_out = fd;
  return static_cast<uint8_t*>(p);
}

uint64_t free_hugepages() {
  int fd = open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", O_RDONLY);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? strtoull(buf, nullptr, 10) : 0;
}
}  // namespace

BufferPool::~BufferPool() { destroy(); }

void BufferPool::create(const PoolConfig& config) {
  if (base_) throw std::runtime_error("buffers: pool already created");
  if (config.buffers < 1024 || config.buffers > (1u << 22))
    throw std::runtime_error("buffers.count: must be between 1024 and 4194304");
  total_ = config.buffers;
  const uint64_t bytes_small = uint64_t(total_) * kSlotSize;
  const uint64_t bytes_huge = round_up(bytes_small, kHugePage);
  std::string why;
  const bool want_huge = config.hugepages != "off";
  if (want_huge && free_hugepages() >= bytes_huge / kHugePage) {
    base_ = map_memfd(bytes_huge, true, &fd_, &why);
    hugepages_ = base_ != nullptr;
  }
  if (!base_) {
    if (config.hugepages == "on")
      throw std::runtime_error("buffers.hugepages: 'on' but " + std::to_string(bytes_huge / kHugePage) +
                               " free 2 MiB hugepages are not available" + (why.empty() ? "" : " (" + why + ")"));
    base_ = map_memfd(bytes_small, false, &fd_, &why);
    if (!base_) throw std::runtime_error("buffers: cannot allocate pool memory: " + why);
  }
  stack_.resize(total_);
  // Lowest indices on top so a lightly loaded dataplane touches few pages.
  for (uint32_t i = 0; i < total_; ++i) stack_[i] = total_ - 1 - i;
  free_count_.store(total_);
  for (uint32_t i = 0; i < total_; ++i) buffer(i)->reset();
}

void BufferPool::destroy() {
  if (!base_) return;
  munmap(base_, hugepages_ ? round_up(size_bytes(), kHugePage) : size_bytes());
  close(fd_);
  base_ = nullptr;
  fd_ = -1;
  total_ = 0;
  stack_.clear();
  free_count_.store(0);
  held_.store(0);
}

void BufferPool::refill(BufferCache& cache, uint32_t want) {
  uint32_t need = (want > BufferCache::kBatch ? want : BufferCache::kBatch);
  if (need > BufferCache::kCapacity - cache.count) need = BufferCache::kCapacity - cache.count;
  std::lock_guard<std::mutex> g(lock_);
  uint32_t avail = free_count_.load(std::memory_order_relaxed);
  uint32_t take = need < avail ? need : avail;
  for (uint32_t i = 0; i < take; ++i) cache.index[cache.count++] = stack_[avail - take + i];
  free_count_.store(avail - take, std::memory_order_relaxed);
  if (cache.count < want) alloc_failures_.fetch_add(want - cache.count, std::memory_order_relaxed);
}

void BufferPool::flush(BufferCache& cache, uint32_t n) {
  if (n > cache.count) n = cache.count;
  std::lock_guard<std::mutex> g(lock_);
  uint32_t top = free_count_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) stack_[top + i] = cache.index[cache.count - n + i];
  cache.count -= n;
  free_count_.store(top + n, std::memory_order_relaxed);
}

void BufferPool::free_chain_tail(BufferCache& cache, Buffer* head) {
  uint32_t next = head->next_buffer;
  head->flags &= ~kBufNextPresent;
  while (next != kInvalidBuffer && valid_index(next)) {
    if (cache.count == BufferCache::kCapacity) flush(cache, BufferCache::kBatch);
    cache.index[cache.count++] = next;
    Buffer* b = buffer(next);
    const bool more = b->flags & kBufNextPresent;
    b->flags &= ~kBufNextPresent;
    next = more ? b->next_buffer : kInvalidBuffer;
  }
}

void BufferPool::drain(BufferCache& cache) {
  flush(cache, cache.count);
  publish_cache_count(cache);
}

}  // namespace quiver
