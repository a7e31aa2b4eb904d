#include "stats.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "clock.h"

namespace quiver {

namespace {
uint64_t align64(uint64_t v) { return (v + 63) & ~uint64_t(63); }
}

void StatsSegment::create(const StatsLimits& l) {
  limits_ = l;
  uint64_t off = kHeaderWords * 8;
  const uint64_t dir = off;
  off = align64(off + l.dir_capacity);
  const uint64_t nodes = off;
  off = align64(off + uint64_t(l.workers) * l.max_nodes * kNodeCounters * 8);
  const uint64_t arcs = off;
  off = align64(off + uint64_t(l.workers) * l.max_arcs * 8);
  const uint64_t errors = off;
  off = align64(off + uint64_t(l.workers) * l.max_errors * 8);
  const uint64_t ifs = off;
  off = align64(off + uint64_t(l.workers) * l.max_interfaces * kIfCounters * 8);
  const uint64_t workers = off;
  off = align64(off + uint64_t(l.workers) * kWorkerCounters * 8);
  const uint64_t buffers = off;
  off = align64(off + (kBufferCounters + l.workers) * 8);
  size_ = (off + 4095) & ~uint64_t(4095);

  fd_ = memfd_create("quiver-stats", MFD_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("stats: memfd_create: ") + strerror(errno));
  if (ftruncate(fd_, off_t(size_)) != 0) throw std::runtime_error(std::string("stats: ftruncate: ") + strerror(errno));
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("stats: mmap: ") + strerror(errno));
  base_ = static_cast<uint8_t*>(p);
  uint64_t* h = header();
  std::memcpy(&h[kHdrMagic], "QVSTATS1", 8);
  h[kHdrVersion] = 1;
  h[kHdrSize] = size_;
  h[kHdrDirGeneration] = 0;
  h[kHdrDirOffset] = dir;
  h[kHdrDirCapacity] = l.dir_capacity;
  h[kHdrDirLength] = 0;
  h[kHdrWorkers] = l.workers;
  h[kHdrMaxNodes] = l.max_nodes;
  h[kHdrMaxArcs] = l.max_arcs;
  h[kHdrMaxErrors] = l.max_errors;
  h[kHdrMaxInterfaces] = l.max_interfaces;
  h[kHdrNodeOffset] = nodes;
  h[kHdrArcOffset] = arcs;
  h[kHdrErrorOffset] = errors;
  h[kHdrIfOffset] = ifs;
  h[kHdrWorkerOffset] = workers;
  h[kHdrBufferOffset] = buffers;
  double hz = tsc_hz();
  std::memcpy(&h[kHdrTscHz], &hz, 8);
  h[kHdrStartNs] = monotonic_ns();
}

void StatsSegment::write_directory(const std::string& json) {
  if (json.size() > limits_.dir_capacity) throw std::runtime_error("stats: directory exceeds capacity");
  auto* gen = reinterpret_cast<std::atomic<uint64_t>*>(&header()[kHdrDirGeneration]);
  gen->fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::memcpy(base_ + header()[kHdrDirOffset], json.data(), json.size());
  header()[kHdrDirLength] = json.size();
  gen->fetch_add(1, std::memory_order_acq_rel);  // even: stable
}

void StatsSegment::clear_nodes() {
  for (uint32_t w = 0; w < limits_.workers; ++w) {
    std::memset(node_counters(w), 0, uint64_t(limits_.max_nodes) * kNodeCounters * 8);
    std::memset(arc_counters(w), 0, uint64_t(limits_.max_arcs) * 8);
    std::memset(worker_counters(w), 0, kWorkerCounters * 8);
  }
}
void StatsSegment::clear_interfaces() {
  for (uint32_t w = 0; w < limits_.workers; ++w)
    std::memset(if_counters(w), 0, uint64_t(limits_.max_interfaces) * kIfCounters * 8);
}
void StatsSegment::clear_interface(uint32_t i) {
  for (uint32_t w = 0; w < limits_.workers; ++w) std::memset(if_counters(w) + uint64_t(i) * kIfCounters, 0, kIfCounters * 8);
}
void StatsSegment::clear_errors() {
  for (uint32_t w = 0; w < limits_.workers; ++w) std::memset(error_counters(w), 0, uint64_t(limits_.max_errors) * 8);
}

}  // namespace quiver
