// The stats segment: every counter in one shared-memory region (a memfd). Workers write their
// own slices without locks or atomics beyond plain aligned 64-bit stores; readers (TypeScript
// through an ArrayBuffer, external tools through /proc/<pid>/fd) sum per-worker slices.
//
// Layout (all offsets in bytes from the start, all counters uint64 little endian):
//   header: kHeaderWords u64 words, see enum HeaderWord (mirrored in src/stats.ts)
//   directory: JSON text (names of nodes, arcs, errors, interfaces); seqlock on dir_generation
//   node counters:      [worker][max_nodes][kNodeCounters]
//   arc counters:       [worker][max_arcs]            packets per node->next arc
//   error counters:     [worker][max_errors]
//   interface counters: [worker][max_interfaces][kIfCounters]
//   worker counters:    [worker][kWorkerCounters]
//   buffer counters:    [kBufferCounters] then cached[worker]
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace quiver {

enum HeaderWord : uint32_t {
  kHdrMagic = 0,        // "QVSTATS1"
  kHdrVersion,
  kHdrSize,
  kHdrDirGeneration,    // seqlock: odd while the directory is rewritten
  kHdrDirOffset,
  kHdrDirCapacity,
  kHdrDirLength,
  kHdrWorkers,
  kHdrMaxNodes,
  kHdrMaxArcs,
  kHdrMaxErrors,
  kHdrMaxInterfaces,
  kHdrNodeOffset,
  kHdrArcOffset,
  kHdrErrorOffset,
  kHdrIfOffset,
  kHdrWorkerOffset,
  kHdrBufferOffset,
  kHdrTscHz,
  kHdrStartNs,
  kHdrHeartbeatNs,      // housekeeping thread writes monotonic ns: readers see a live engine
  kHeaderWords = 32,
};

enum NodeCounter : uint32_t { kNodeCalls, kNodeVectors, kNodeClocks, kNodeIdleCalls, kNodeCounters };
enum IfCounter : uint32_t {
  kIfRxPackets, kIfRxBytes, kIfTxPackets, kIfTxBytes, kIfDrops, kIfRxErrors, kIfTxErrors,
  kIfRxNoBuffer, kIfPunts, kIfTxNoSpace, kIfCounters
};
enum WorkerCounter : uint32_t {
  kWorkerLoops, kWorkerIdleLoops, kWorkerSleeps, kWorkerWakeups, kWorkerMessages,
  kWorkerPendingOverflow, kWorkerCounters = 8
};
enum BufferCounter : uint32_t {
  kBufTotal, kBufFree, kBufHeld, kBufAllocFailures, kBufHugepages, kBufCachedMain, kBufferCounters = 8
};

struct StatsLimits {
  uint32_t workers = 1;
  uint32_t max_nodes = 512;
  uint32_t max_arcs = 4096;
  uint32_t max_errors = 4096;
  uint32_t max_interfaces = 4096;
  uint32_t dir_capacity = 2u << 20;
};

class StatsSegment {
 public:
  // Maps a fresh segment. Old segments are never unmapped: JavaScript may still hold a view.
  void create(const StatsLimits& limits);
  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  const StatsLimits& limits() const { return limits_; }

  uint64_t* node_counters(uint32_t worker) const { return word(kHdrNodeOffset) + uint64_t(worker) * limits_.max_nodes * kNodeCounters; }
  uint64_t* arc_counters(uint32_t worker) const { return word(kHdrArcOffset) + uint64_t(worker) * limits_.max_arcs; }
  uint64_t* error_counters(uint32_t worker) const { return word(kHdrErrorOffset) + uint64_t(worker) * limits_.max_errors; }
  uint64_t* if_counters(uint32_t worker) const { return word(kHdrIfOffset) + uint64_t(worker) * limits_.max_interfaces * kIfCounters; }
  uint64_t* worker_counters(uint32_t worker) const { return word(kHdrWorkerOffset) + uint64_t(worker) * kWorkerCounters; }
  uint64_t* buffer_counters() const { return word(kHdrBufferOffset); }
  uint64_t* header() const { return reinterpret_cast<uint64_t*>(base_); }

  // Rewrites the directory under the seqlock. Control thread only.
  void write_directory(const std::string& json);
  // Zeroes a counter family on every worker (clear runtime / clear interfaces / clear errors).
  void clear_nodes();
  void clear_interfaces();
  void clear_interface(uint32_t if_index);
  void clear_errors();

 private:
  uint64_t* word(HeaderWord w) const { return reinterpret_cast<uint64_t*>(base_ + header()[w]); }
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
  StatsLimits limits_;
};

}  // namespace quiver
