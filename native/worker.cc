#include "worker.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <stdexcept>

#include "clock.h"
#include "engine.h"

namespace quiver {

Worker::Worker(Engine& engine, uint32_t id, int cpu)
    : engine_(engine), id_(id), cpu_(cpu), pool_(&engine.pool()), trace_budget_(engine.graph().nodes().size()) {
  const Graph& g = engine.graph();
  const auto& infos = g.nodes();
  StatsSegment& st = engine.stats();
  error_counters_ = st.error_counters(id);
  if_counters_ = st.if_counters(id);
  worker_counters_ = st.worker_counters(id);
  cache_.stat_count = reinterpret_cast<std::atomic<uint64_t>*>(st.buffer_counters() + kBufferCounters + id);
  pending_store_.assign(size_t(infos.size()) * 2 * kPendingCapacity, 0);
  nodes_.resize(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    const NodeInfo& info = infos[i];
    NodeRuntime& n = nodes_[i];
    n.index = uint16_t(i);
    n.type = info.reg->type;
    n.info = &info;
    n.dispatch = info.reg->dispatch;
    n.dispatch_trace = info.reg->dispatch_trace ? info.reg->dispatch_trace : info.reg->dispatch;
    n.next_node = info.next_node.data();
    n.error_base = info.error_base;
    n.tx_base = info.tx_base;
    n.counters = st.node_counters(id) + i * kNodeCounters;
    n.arc_counters = st.arc_counters(id) + info.arc_base;
    n.pending = pending_store_.data() + i * 2 * kPendingCapacity;
    n.spare = n.pending + kPendingCapacity;
    n.worker = this;
    if (n.type == NodeType::Input) input_nodes_.push_back(n.index);
    if (n.type == NodeType::Process && (id == 0 || info.reg->process_on_all_workers)) {
      n.interval_tsc = ns_to_tsc(info.reg->interval_ns ? info.reg->interval_ns : 1000000000ull);
      n.next_run_tsc = rdtsc() + n.interval_tsc;
      process_nodes_.push_back(n.index);
    }
  }
  uint32_t cap = 1;
  while (cap < infos.size() + 1) cap <<= 1;
  run_queue_.assign(cap, 0);
  rq_mask_ = cap - 1;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || event_fd_ < 0) throw std::runtime_error("worker: cannot create epoll/eventfd");
}

Worker::~Worker() {
  stop();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (event_fd_ >= 0) close(event_fd_);
}

void Worker::start() {
  running_ = true;
  thread_ = std::thread([this] { loop(); });
  // Wait until the thread has its tid so CPU accounting is possible at once.
  while (tid_.load() == 0) std::this_thread::yield();
}

void Worker::stop() {
  if (!running_.exchange(false)) return;
  kick();
  if (thread_.joinable()) thread_.join();
  pool_->drain(cache_);
}

void Worker::kick() {
  uint64_t one = 1;
  ssize_t r = write(event_fd_, &one, sizeof one);
  (void)r;
}

void Worker::post(std::function<void(Worker&)> fn) {
  {
    std::lock_guard<std::mutex> g(msg_lock_);
    messages_.push_back(std::move(fn));
  }
  has_messages_.store(true, std::memory_order_release);
  kick();
}

void Worker::run_sync(const std::function<void(Worker&)>& fn) {
  if (!running_) {
    fn(*this);
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  post([fn, done](Worker& w) {
    fn(w);
    done->set_value();
  });
  fut.wait();
}

void Worker::run_messages() {
  std::vector<std::function<void(Worker&)>> msgs;
  {
    std::lock_guard<std::mutex> g(msg_lock_);
    msgs.swap(messages_);
    has_messages_.store(false, std::memory_order_relaxed);
  }
  worker_counters_[kWorkerMessages] += msgs.size();
  for (auto& m : msgs) m(*this);
}

void Worker::add_rx_queue(uint16_t input_node, const RxQueueRef& q) {
  run_sync([input_node, q](Worker& w) {
    w.nodes_[input_node].rx_queues.push_back(q);
    w.epoll_dirty_ = true;
  });
}

bool Worker::remove_rx_queue(uint16_t input_node, uint32_t if_index, uint32_t queue_id) {
  bool found = false;
  run_sync([&](Worker& w) {
    auto& v = w.nodes_[input_node].rx_queues;
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].if_index == if_index && v[i].queue_id == queue_id) {
        v.erase(v.begin() + long(i));
        found = true;
        break;
      }
    w.epoll_dirty_ = true;
  });
  return found;
}

void Worker::set_queue_mode(uint16_t input_node, uint32_t if_index, uint32_t queue_id, RxMode mode) {
  run_sync([=](Worker& w) {
    for (auto& q : w.nodes_[input_node].rx_queues)
      if (q.if_index == if_index && q.queue_id == queue_id) q.mode = mode;
    w.epoll_dirty_ = true;
  });
}

std::vector<std::pair<uint16_t, RxQueueRef>> Worker::rx_queues_snapshot() {
  std::vector<std::pair<uint16_t, RxQueueRef>> out;
  run_sync([&](Worker& w) {
    for (uint16_t ni : w.input_nodes_)
      for (auto& q : w.nodes_[ni].rx_queues) out.emplace_back(ni, q);
  });
  return out;
}

// The strictest mode among queues decides: one polling queue keeps the worker awake. A queue
// without an fd (pg) only wakes the worker through kick() or a wake_by() deadline.
// Queue fds are not kept in the epoll set: a socket with a waiter pays a wake-up call for every
// batch the kernel delivers (for AF_XDP on veth ~10 % of the core that receives, measured with
// perf), also while the worker is awake and polling. They join the set only for a sleep.
void Worker::rebuild_epoll() {
  epoll_dirty_ = false;
  close(epoll_fd_);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = ~uint64_t(0);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
  effective_mode_ = RxMode::Interrupt;
  wake_sources_.clear();
  for (uint16_t ni : input_nodes_)
    for (auto& q : nodes_[ni].rx_queues) {
      if (q.mode == RxMode::Polling) effective_mode_ = RxMode::Polling;
      else if (q.mode == RxMode::Adaptive && effective_mode_ == RxMode::Interrupt) effective_mode_ = RxMode::Adaptive;
      if (q.fd >= 0 && q.mode != RxMode::Polling) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = (uint64_t(ni) << 32) | q.if_index;
        wake_sources_.push_back({q.fd, e, 0});
      }
    }
}

uint32_t Worker::overflow(NodeRuntime& to, const uint32_t* bi, uint32_t n) {
  const uint32_t room = kPendingCapacity - to.n_pending;
  worker_counters_[kWorkerPendingOverflow] += n - room;
  free(bi + room, n - room);
  return room;
}

void Worker::run_node(NodeRuntime& n, const uint32_t* bi, uint32_t count) {
  const uint64_t t0 = rdtsc();
  const uint32_t v = (trace_active_ ? n.dispatch_trace : n.dispatch)(*this, n, bi, count);
  const uint64_t t1 = rdtsc();
  if (v || n.type != NodeType::Input) {
    n.counters[kNodeCalls]++;
    n.counters[kNodeVectors] += v;
    n.counters[kNodeClocks] += t1 - t0;
  } else {
    n.counters[kNodeIdleCalls]++;
  }
}

void Worker::run_pending() {
  while (rq_head_ != rq_tail_) {
    NodeRuntime& n = nodes_[run_queue_[rq_head_++ & rq_mask_]];
    n.queued = false;
    uint32_t* vec = n.pending;
    const uint32_t count = n.n_pending;
    // New arrivals for this node during its own run (a cycle through the graph) go to the
    // spare array and requeue it.
    n.pending = n.spare;
    n.spare = vec;
    n.n_pending = 0;
    for (uint32_t off = 0; off < count; off += kFrameSize) {
      const uint32_t k = count - off < kFrameSize ? count - off : kFrameSize;
      run_node(n, vec + off, k);
    }
  }
}

void Worker::maybe_sleep(uint32_t idle_loops) {
  if (effective_mode_ == RxMode::Polling) return;
  if (effective_mode_ == RxMode::Adaptive && idle_loops < engine_.config().adaptive_idle_loops) return;
  uint64_t deadline = wake_by_tsc_;
  for (uint16_t ni : process_nodes_)
    if (nodes_[ni].next_run_tsc < deadline) deadline = nodes_[ni].next_run_tsc;
  const uint64_t now = rdtsc();
  int timeout_ms = 100;
  if (deadline != ~uint64_t(0)) {
    if (deadline <= now) return;
    const double ms = double(deadline - now) * 1000.0 / tsc_hz();
    if (ms < 1.0) return;  // too close to sleep: keep polling
    if (ms < timeout_ms) timeout_ms = int(ms);
  }
  engine_.epochs().offline(id_);
  worker_counters_[kWorkerSleeps]++;
  // Adding an fd reports data that is already there, so nothing that arrived since the last
  // poll is missed.
  for (auto& w : wake_sources_)
    if (w.suspended_until_tsc <= now) epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.fd, &w.event);
  epoll_event evs[32];
  const int n = epoll_wait(epoll_fd_, evs, 32, timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.u64 == ~uint64_t(0)) {
      uint64_t v;
      ssize_t r = read(event_fd_, &v, sizeof v);
      (void)r;
    } else if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
      // A socket whose device went away reports an error on every wait: without this the
      // worker would spin. Its driver notices the loss on its own; the fd is tried again later.
      for (auto& w : wake_sources_)
        if (w.event.data.u64 == evs[i].data.u64) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(w.fd, SOL_SOCKET, SO_ERROR, &err, &len);  // clears a socket's pending error
          w.suspended_until_tsc = rdtsc() + tsc_hz();
        }
    }
  }
  for (auto& w : wake_sources_) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, w.fd, nullptr);
  if (n > 0) worker_counters_[kWorkerWakeups]++;
  engine_.epochs().quiescent(id_);
}

void Worker::loop() {
  tid_.store(int(syscall(SYS_gettid)));
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  char name[16];
  snprintf(name, sizeof name, "quiver-wk%u", id_);
  pthread_setname_np(pthread_self(), name);
  uint32_t idle_loops = 0;
  while (running_.load(std::memory_order_relaxed)) {
    engine_.epochs().quiescent(id_);
    if (has_messages_.load(std::memory_order_acquire)) run_messages();
    if (epoll_dirty_) rebuild_epoll();
    if_table_ = engine_.runtime_table_ptr();
    trace_active_ = trace_requested_.load(std::memory_order_relaxed);
    loop_tsc_ = rdtsc();
    wake_by_tsc_ = ~uint64_t(0);
    uint32_t work = 0;
    for (uint16_t ni : input_nodes_) {
      NodeRuntime& n = nodes_[ni];
      if (n.rx_queues.empty()) continue;
      const uint64_t before = n.counters[kNodeVectors];
      run_node(n, nullptr, 0);
      work += uint32_t(n.counters[kNodeVectors] - before);
    }
    run_pending();
    for (uint16_t ni : process_nodes_) {
      NodeRuntime& n = nodes_[ni];
      if (loop_tsc_ >= n.next_run_tsc) {
        n.next_run_tsc = loop_tsc_ + n.interval_tsc;
        run_node(n, nullptr, 0);
        run_pending();
      }
    }
    worker_counters_[kWorkerLoops]++;
    pool_->publish_cache_count(cache_);
    if (work == 0) {
      worker_counters_[kWorkerIdleLoops]++;
      ++idle_loops;
      maybe_sleep(idle_loops);
    } else {
      idle_loops = 0;
    }
  }
  engine_.epochs().offline(id_);
}

// --- tracing ---

void Worker::set_trace_budget(uint16_t input_node, uint32_t n) {
  trace_budget_[input_node].store(n);
  trace_requested_.store(true);
  kick();
}

void Worker::clear_trace() {
  for (auto& b : trace_budget_) b.store(0);
  trace_requested_.store(false);
  std::lock_guard<std::mutex> g(trace_lock_);
  traces_.clear();
}

std::vector<TraceRecord> Worker::trace_snapshot() {
  std::lock_guard<std::mutex> g(trace_lock_);
  return traces_;
}

void Worker::trace_input(NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  auto& budget = trace_budget_[node.index];
  uint32_t left = budget.load(std::memory_order_relaxed);
  if (!left) return;
  const uint32_t k = n < left ? n : left;
  budget.store(left - k, std::memory_order_relaxed);
  std::lock_guard<std::mutex> g(trace_lock_);
  for (uint32_t i = 0; i < k; ++i) {
    Buffer* b = buffer(bi[i]);
    b->flags |= kBufTraced;
    b->trace_index = uint32_t(traces_.size());
    traces_.push_back(TraceRecord{id_, {}});
  }
}

void Worker::trace_add(NodeRuntime& node, Buffer* b, const void* data, uint32_t len) {
  std::lock_guard<std::mutex> g(trace_lock_);
  if (b->trace_index >= traces_.size()) return;  // cleared meanwhile
  const auto* p = static_cast<const uint8_t*>(data);
  traces_[b->trace_index].entries.push_back(TraceEntry{node.index, rdtsc(), std::vector<uint8_t>(p, p + len)});
}

// --- capture ---

void Worker::capture(uint32_t if_index, bool tx, const uint32_t* bi, uint32_t n) {
  if (__builtin_expect(!(if_table_->entry[if_index].capture & (tx ? 2 : 1)), 1)) return;
  Capture& c = engine_.capture();
  if (!c.active()) return;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = buffer(bi[i]);
    if (c.add(if_index, tx, b->data(), b->length, b->total_length())) {
      c.end();
      return;
    }
  }
}

}  // namespace quiver
