// A worker: one native thread with its own runtime copy of the graph (pending vectors and
// counters per node), its own buffer cache, its rx queues and its dispatch loop.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <immintrin.h>
#include <mutex>
#include <string>
#include <thread>
#include <sys/epoll.h>
#include <vector>

#include "buffer.h"
#include "graph.h"
#include "interface.h"
#include "pool.h"
#include "stats.h"

namespace quiver {

class Engine;
class Worker;

constexpr uint32_t kPendingCapacity = 8192;  // buffers waiting per node per worker

struct RxQueueRef {
  uint32_t if_index;
  uint32_t queue_id;
  RxMode mode;
  int fd;
  void* ctx;
};

struct NodeRuntime {
  uint16_t index = 0;
  NodeType type = NodeType::Internal;
  const NodeInfo* info = nullptr;
  DispatchFn dispatch = nullptr;
  DispatchFn dispatch_trace = nullptr;
  const uint16_t* next_node = nullptr;
  uint32_t error_base = 0;
  uint16_t tx_base = 0;              // tx_direct nodes (NodeRegistration::tx_direct)
  uint64_t* counters = nullptr;      // [kNodeCounters]
  uint64_t* arc_counters = nullptr;  // one per next
  uint32_t* pending = nullptr;
  uint32_t* spare = nullptr;
  uint32_t n_pending = 0;
  bool queued = false;
  uint64_t interval_tsc = 0;
  uint64_t next_run_tsc = 0;
  std::vector<RxQueueRef> rx_queues;  // input nodes: the queues this worker polls
  Worker* worker = nullptr;

  // Global error index of local error e, for b->error before sending to error-drop.
  uint16_t error_code(uint32_t e) const { return uint16_t(error_base + e); }
  // A tx_direct node's next to the tx node of interface r, or `fallback` (interface-output,
  // which drops and counts) when r is not there to send on.
  uint16_t tx_next(const IfRuntime& r, uint16_t fallback) const {
    return __builtin_expect(r.valid && r.admin_up, 1) ? uint16_t(tx_base + r.tx_next - 1) : fallback;
  }
};

struct TraceEntry {
  uint16_t node;
  uint64_t tsc;
  std::vector<uint8_t> data;
};
struct TraceRecord {
  uint32_t worker;
  std::vector<TraceEntry> entries;
};

class Worker {
 public:
  Worker(Engine& engine, uint32_t id, int cpu);
  ~Worker();
  void start();
  void stop();

  // --- packet path helpers (used by nodes) ---
  Buffer* buffer(uint32_t bi) const { return pool_->buffer(bi); }
  void buffers(const uint32_t* bi, Buffer** out, uint32_t n) const {
    for (uint32_t i = 0; i < n; ++i) out[i] = pool_->buffer(bi[i]);
  }
  uint32_t alloc(uint32_t* out, uint32_t n) { return pool_->alloc(cache_, out, n); }
  void free(const uint32_t* bi, uint32_t n) { pool_->free(cache_, bi, n); }
  BufferPool& pool() { return *pool_; }
  BufferCache& cache() { return cache_; }

  // Hands n buffers to next `next` of `from`.
  void enqueue(NodeRuntime& from, uint32_t next, const uint32_t* bi, uint32_t n) {
    from.arc_counters[next] += n;
    NodeRuntime& to = nodes_[from.next_node[next]];
    if (__builtin_expect(to.n_pending + n > kPendingCapacity, 0)) n = overflow(to, bi, n);
    std::memcpy(to.pending + to.n_pending, bi, n * sizeof(uint32_t));
    to.n_pending += n;
    if (!to.queued) {
      to.queued = true;
      run_queue_[rq_tail_++ & rq_mask_] = to.index;
    }
  }
  // Every packet has its own next; runs of equal next are enqueued in bulk, and when all
  // packets share one next the whole vector goes at once (the rte_graph "home run").
  void enqueue_to_nexts(NodeRuntime& from, const uint32_t* bi, const uint16_t* next, uint32_t n) {
    uint32_t start = 0;
    while (start < n) {
      const uint32_t end = run_end(next, start, n);
      enqueue(from, next[start], bi + start, end - start);
      start = end;
    }
  }
  // The end of the run of equal nexts beginning at start: 16 compared per step, since every
  // node ends with this scan over its whole vector.
  static uint32_t run_end(const uint16_t* next, uint32_t start, uint32_t n) {
    uint32_t i = start + 1;
#ifdef __AVX2__
    const __m256i cur = _mm256_set1_epi16(short(next[start]));
    for (; i + 16 <= n; i += 16) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(next + i));
      const uint32_t differ = ~uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi16(x, cur)));
      if (differ) return i + uint32_t(__builtin_ctz(differ)) / 2;
    }
#endif
    while (i < n && next[i] == next[start]) ++i;
    return i;
  }

  void count_error(NodeRuntime& node, uint32_t local_error, uint64_t n = 1) { error_counters_[node.error_base + local_error] += n; }
  void count_error_global(uint32_t error, uint64_t n = 1) { error_counters_[error] += n; }
  uint64_t* if_counters(uint32_t if_index) { return if_counters_ + uint64_t(if_index) * kIfCounters; }
  void count_rx(uint32_t if_index, uint64_t packets, uint64_t bytes) {
    uint64_t* c = if_counters(if_index);
    c[kIfRxPackets] += packets;
    c[kIfRxBytes] += bytes;
  }
  void count_tx(uint32_t if_index, uint64_t packets, uint64_t bytes) {
    uint64_t* c = if_counters(if_index);
    c[kIfTxPackets] += packets;
    c[kIfTxBytes] += bytes;
  }
  void count_if(uint32_t if_index, IfCounter which, uint64_t n) { if_counters(if_index)[which] += n; }

  // The interface runtime table as published for this loop.
  const InterfaceTable& interfaces() const { return *if_table_; }

  // --- tracing (debug path; costs nothing unless tracing()) ---
  bool tracing() const { return trace_active_; }
  // Input nodes: mark up to the remaining budget of buffers as traced.
  void trace_input(NodeRuntime& node, const uint32_t* bi, uint32_t n);
  // Records `len` bytes for b if it is traced; the node's formatter prints them later.
  void trace(NodeRuntime& node, Buffer* b, const void* data, uint32_t len) {
    if (b->flags & kBufTraced) trace_add(node, b, data, len);
  }

  // --- pcap capture (debug path; one relaxed load per batch when off) ---
  void capture(uint32_t if_index, bool tx, const uint32_t* bi, uint32_t n);

  // Latest TSC by which the worker must run again even if nothing arrives (rate-limited pg).
  void wake_by(uint64_t tsc) {
    if (tsc < wake_by_tsc_) wake_by_tsc_ = tsc;
  }
  uint64_t now_tsc() const { return loop_tsc_; }

  // --- control side ---
  uint32_t id() const { return id_; }
  int cpu() const { return cpu_; }
  int tid() const { return tid_.load(); }
  // Runs fn on the worker thread between loops and waits for it. No timeout: fn may refer to
  // the caller's stack, and a worker always reaches its message queue within one loop (kick()
  // wakes a sleeping one), so giving up early would let it write to a dead frame.
  void run_sync(const std::function<void(Worker&)>& fn);
  void post(std::function<void(Worker&)> fn);
  void add_rx_queue(uint16_t input_node, const RxQueueRef& q);
  bool remove_rx_queue(uint16_t input_node, uint32_t if_index, uint32_t queue_id);
  void set_queue_mode(uint16_t input_node, uint32_t if_index, uint32_t queue_id, RxMode mode);
  std::vector<std::pair<uint16_t, RxQueueRef>> rx_queues_snapshot();
  void set_trace_budget(uint16_t input_node, uint32_t n);
  void clear_trace();
  std::vector<TraceRecord> trace_snapshot();
  NodeRuntime& node(uint16_t index) { return nodes_[index]; }
  std::vector<NodeRuntime>& nodes() { return nodes_; }
  Engine& engine() { return engine_; }
  // Wakes the thread if it sleeps (new work, a message).
  void kick();

 private:
  void loop();
  void run_node(NodeRuntime& n, const uint32_t* bi, uint32_t count);
  void run_pending();
  void run_messages();
  void maybe_sleep(uint32_t idle_loops);
  void rebuild_epoll();
  uint32_t overflow(NodeRuntime& to, const uint32_t* bi, uint32_t n);
  void trace_add(NodeRuntime& node, Buffer* b, const void* data, uint32_t len);

  Engine& engine_;
  uint32_t id_;
  int cpu_;
  std::atomic<int> tid_{0};
  BufferPool* pool_;
  BufferCache cache_;
  std::vector<NodeRuntime> nodes_;
  std::vector<uint32_t> pending_store_;
  std::vector<uint16_t> input_nodes_;
  std::vector<uint16_t> process_nodes_;
  std::vector<uint16_t> run_queue_;
  uint32_t rq_head_ = 0, rq_tail_ = 0, rq_mask_ = 0;
  uint64_t* error_counters_ = nullptr;
  uint64_t* if_counters_ = nullptr;
  uint64_t* worker_counters_ = nullptr;
  const InterfaceTable* if_table_ = nullptr;
  uint64_t loop_tsc_ = 0;
  uint64_t wake_by_tsc_ = ~uint64_t(0);

  std::thread thread_;
  std::atomic<bool> running_{false};
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  bool epoll_dirty_ = true;
  RxMode effective_mode_ = RxMode::Interrupt;
  // Queue fds that may wake the worker; in the epoll set only while it sleeps (see maybe_sleep).
  struct WakeSource {
    int fd;
    epoll_event event;
    uint64_t suspended_until_tsc;  // after an error report: left out of sleeps until then
  };
  std::vector<WakeSource> wake_sources_;

  std::mutex msg_lock_;
  std::vector<std::function<void(Worker&)>> messages_;
  std::atomic<bool> has_messages_{false};

  bool trace_active_ = false;
  std::atomic<bool> trace_requested_{false};
  std::vector<std::atomic<uint32_t>> trace_budget_;  // per node
  std::mutex trace_lock_;
  std::vector<TraceRecord> traces_;
};

}  // namespace quiver
