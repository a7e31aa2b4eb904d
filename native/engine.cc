#include "engine.h"

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "clock.h"
#include "feature_arc.h"
#include "json.h"

namespace quiver {

std::vector<FeatureHooks>& feature_hooks() {
  static std::vector<FeatureHooks> h;
  return h;
}

const char* rx_mode_name(RxMode m) {
  switch (m) {
    case RxMode::Polling: return "polling";
    case RxMode::Interrupt: return "interrupt";
    case RxMode::Adaptive: return "adaptive";
  }
  return "?";
}
bool parse_rx_mode(const std::string& s, RxMode* out) {
  if (s == "polling") *out = RxMode::Polling;
  else if (s == "interrupt") *out = RxMode::Interrupt;
  else if (s == "adaptive") *out = RxMode::Adaptive;
  else return false;
  return true;
}

Engine& Engine::get() {
  static Engine* e = new Engine();  // never destroyed: workers must not race static teardown
  return *e;
}

void Engine::start(const EngineConfig& config) {
  if (running_) throw std::runtime_error("engine: already running");
  if (config.workers < 1 || config.workers > kMaxWorkers)
    throw std::runtime_error("workers.count: must be between 1 and " + std::to_string(kMaxWorkers));
  if (!config.cores.empty() && config.cores.size() != config.workers)
    throw std::runtime_error("workers.cores: lists " + std::to_string(config.cores.size()) + " cores for " +
                             std::to_string(config.workers) + " workers");
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  for (size_t i = 0; i < config.cores.size(); ++i)
    if (config.cores[i] < 0 || config.cores[i] >= ncpu)
      throw std::runtime_error("workers.cores[" + std::to_string(i) + "]: core " + std::to_string(config.cores[i]) +
                               " does not exist (this machine has " + std::to_string(ncpu) + ")");
  config_ = config;
  graph_.build();
  StatsLimits limits;
  limits.workers = config.workers;
  if (graph_.nodes().size() > limits.max_nodes || graph_.arc_count() > limits.max_arcs || graph_.error_count() > limits.max_errors)
    throw std::runtime_error("engine: graph exceeds stats segment limits");
  if (stats_) old_stats_.push_back(std::move(stats_));
  stats_ = std::make_unique<StatsSegment>();
  stats_->create(limits);
  pool_.create(config.pool);
  control_cache_.count = 0;
  epochs_.set_workers(config.workers);
  interfaces_.clear();
  if_table_.publish(epochs_, new InterfaceTable());
  build_feature_arcs(*this);
  for (uint32_t i = 0; i < config.workers; ++i)
    workers_.push_back(std::make_unique<Worker>(*this, i, config.cores.empty() ? -1 : config.cores[i]));
  running_ = true;
  for (auto& h : feature_hooks())
    if (h.on_start) h.on_start(*this);
  for (auto& w : workers_) w->start();
  refresh_directory();
  update_buffer_counters();
  housekeeping_run_ = true;
  housekeeper_ = std::thread([this] { housekeeping(); });
}

void Engine::stop() {
  if (!running_) return;
  // Interfaces first, newest first (sub-interfaces and tunnels before their parents).
  for (size_t i = interfaces_.size(); i-- > 0;)
    if (interfaces_[i]) delete_interface(uint32_t(i));
  for (auto& h : feature_hooks())
    if (h.on_stop) h.on_stop(*this);
  housekeeping_run_ = false;
  if (housekeeper_.joinable()) housekeeper_.join();
  for (auto& w : workers_) w->stop();
  workers_.clear();
  epochs_.set_workers(0);
  epochs_.reclaim();
  if_table_.reset_unsafe();
  for (auto& a : feature_arcs()) a.masks.reset_unsafe();
  capture_.end();
  pool_.destroy();
  running_ = false;
}

Interface& Engine::create_interface(const std::string& name, const std::string& tx_node, std::unique_ptr<InterfaceOps> ops,
                                    const uint8_t* mac, uint32_t mtu) {
  if (!running_) throw std::runtime_error("engine: not running");
  if (name.empty()) throw std::runtime_error("name: must not be empty");
  if (find_interface(name)) throw std::runtime_error("name: interface '" + name + "' already exists");
  const int tx_next = graph_.next_index("interface-output", tx_node);
  if (tx_next < 0) throw std::runtime_error("engine: tx node '" + tx_node + "' is not a next of interface-output");
  uint32_t index = 0;
  while (index < interfaces_.size() && interfaces_[index]) ++index;
  if (index >= kMaxInterfaces) throw std::runtime_error("interfaces: limit of " + std::to_string(kMaxInterfaces) + " reached");
  if (index == interfaces_.size()) interfaces_.emplace_back();
  auto intf = std::make_unique<Interface>();
  intf->index = index;
  intf->name = name;
  intf->tx_node = tx_node;
  intf->mtu = mtu;
  if (mac) std::memcpy(intf->mac, mac, 6);
  intf->ops = std::move(ops);
  stats_->clear_interface(index);
  update_runtime(index, [&](IfRuntime& r) {
    r = IfRuntime();
    r.valid = 1;
    r.tx_next = uint16_t(tx_next);
    r.mtu = uint16_t(mtu);
    std::memcpy(r.mac, intf->mac, 6);
  });
  interfaces_[index] = std::move(intf);
  refresh_directory();
  return *interfaces_[index];
}

void Engine::delete_interface(uint32_t index) {
  Interface* intf = interface(index);
  if (!intf) throw std::runtime_error("interface: no interface with index " + std::to_string(index));
  for (auto& h : feature_hooks())
    if (h.on_interface_delete) h.on_interface_delete(*this, index);
  // Nothing may be forwarded to it any more, and nobody may poll it.
  update_runtime(index, [](IfRuntime& r) { r = IfRuntime(); });
  for (auto& q : intf->rx_queues) workers_[q.worker]->remove_rx_queue(q.input_node, index, q.queue_id);
  // Packets already in flight towards it are dropped by interface-output (entry invalid);
  // after this grace period no worker holds a reference to the driver's state.
  epochs_.synchronize();
  for (auto& w : workers_) w->run_sync([](Worker&) {});
  intf->ops->destroy(*intf);
  interfaces_[index].reset();
  refresh_directory();
}

Interface* Engine::find_interface(const std::string& name) {
  for (auto& i : interfaces_)
    if (i && i->name == name) return i.get();
  return nullptr;
}
Interface* Engine::interface(uint32_t index) { return index < interfaces_.size() ? interfaces_[index].get() : nullptr; }
std::vector<Interface*> Engine::interfaces() {
  std::vector<Interface*> v;
  for (auto& i : interfaces_)
    if (i) v.push_back(i.get());
  return v;
}

void Engine::set_admin(Interface& intf, bool up) {
  intf.ops->set_admin(intf, up);
  intf.admin_up = up;
  update_runtime(intf.index, [&](IfRuntime& r) { r.admin_up = up; });
}
void Engine::set_link(Interface& intf, bool up) {
  if (intf.link_up == up) return;
  intf.link_up = up;
  intf.link_changes++;
  update_runtime(intf.index, [&](IfRuntime& r) { r.link_up = up; });
}
void Engine::set_mtu(Interface& intf, uint32_t mtu) {
  if (mtu < 68 || mtu > 9216) throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68..9216");
  intf.ops->set_mtu(intf, mtu);
  intf.mtu = mtu;
  update_runtime(intf.index, [&](IfRuntime& r) { r.mtu = uint16_t(mtu); });
}
void Engine::set_mac(Interface& intf, const uint8_t* mac) {
  if (mac[0] & 1) throw std::runtime_error("mac: " + mac_str(mac) + " is a multicast address");
  intf.ops->set_mac(intf, mac);
  std::memcpy(intf.mac, mac, 6);
  update_runtime(intf.index, [&](IfRuntime& r) { std::memcpy(r.mac, mac, 6); });
}

uint32_t Engine::pick_worker() {
  std::vector<uint32_t> load(workers_.size(), 0);
  for (auto& i : interfaces_)
    if (i)
      for (auto& q : i->rx_queues) load[q.worker]++;
  uint32_t best = 0;
  for (uint32_t w = 1; w < load.size(); ++w)
    if (load[w] < load[best]) best = w;
  return best;
}

void Engine::add_rx_queue(Interface& intf, uint32_t queue_id, const std::string& input_node, void* ctx, int fd, int worker,
                          int mode) {
  const int node = graph_.node_index(input_node);
  if (node < 0) throw std::runtime_error("engine: no input node '" + input_node + "'");
  if (worker >= int(workers_.size())) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  RxQueue q;
  q.queue_id = queue_id;
  q.worker = worker < 0 ? pick_worker() : uint32_t(worker);
  q.mode = mode < 0 ? config_.default_rx_mode : RxMode(mode);
  q.fd = fd;
  q.ctx = ctx;
  q.input_node = uint16_t(node);
  intf.ops->set_rx_mode(intf, queue_id, q.mode);
  intf.rx_queues.push_back(q);
  workers_[q.worker]->add_rx_queue(q.input_node, RxQueueRef{intf.index, queue_id, q.mode, fd, ctx});
}

void Engine::set_rx_placement(Interface& intf, uint32_t queue_id, uint32_t worker) {
  if (worker >= workers_.size()) throw std::runtime_error("worker: " + std::to_string(worker) + " does not exist");
  for (auto& q : intf.rx_queues) {
    if (q.queue_id != queue_id) continue;
    if (q.worker == worker) return;
    workers_[q.worker]->remove_rx_queue(q.input_node, intf.index, queue_id);
    q.worker = worker;
    workers_[worker]->add_rx_queue(q.input_node, RxQueueRef{intf.index, queue_id, q.mode, q.fd, q.ctx});
    return;
  }
  throw std::runtime_error("queue: interface '" + intf.name + "' has no rx queue " + std::to_string(queue_id));
}

void Engine::set_rx_mode(Interface& intf, uint32_t queue_id, RxMode mode) {
  for (auto& q : intf.rx_queues) {
    if (q.queue_id != queue_id) continue;
    if (!intf.ops->set_rx_mode(intf, queue_id, mode))
      throw std::runtime_error("mode: driver " + std::string(intf.ops->driver()) + " does not support " + rx_mode_name(mode));
    q.mode = mode;
    workers_[q.worker]->set_queue_mode(q.input_node, intf.index, queue_id, mode);
    return;
  }
  throw std::runtime_error("queue: interface '" + intf.name + "' has no rx queue " + std::to_string(queue_id));
}

void Engine::capture_start(const CaptureConfig& c) {
  if (capture_.active()) throw std::runtime_error("pcap: a capture is already running; stop it first");
  if (c.file.empty()) throw std::runtime_error("file: a capture needs a file name");
  if (c.max_packets == 0) throw std::runtime_error("max: must be at least 1");
  if (c.if_index >= 0 && !interface(uint32_t(c.if_index))) throw std::runtime_error("interface: does not exist");
  capture_.begin(c);
  auto* next = new InterfaceTable(*if_table_.get());
  for (uint32_t i = 0; i < kMaxInterfaces; ++i) {
    const bool match = next->entry[i].valid && (c.if_index < 0 || uint32_t(c.if_index) == i);
    next->entry[i].capture = match ? uint8_t((c.rx ? 1 : 0) | (c.tx ? 2 : 0)) : 0;
  }
  if_table_.publish(epochs_, next);
}

uint32_t Engine::capture_stop() {
  if (!capture_.active() && capture_.config().file.empty()) throw std::runtime_error("pcap: no capture is running");
  capture_.end();
  auto* next = new InterfaceTable(*if_table_.get());
  for (uint32_t i = 0; i < kMaxInterfaces; ++i) next->entry[i].capture = 0;
  if_table_.publish(epochs_, next);
  epochs_.synchronize();  // no worker is still appending
  auto packets = capture_.take();
  const std::string file = capture_.config().file;
  write_pcap(file, packets);
  capture_.begin(CaptureConfig{});
  capture_.end();
  return uint32_t(packets.size());
}

void Engine::refresh_directory() {
  std::string j = "{\"nodes\":[";
  const auto& nodes = graph_.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (i) j += ",";
    const char* type = n.reg->type == NodeType::Input ? "input" : n.reg->type == NodeType::Process ? "process" : "internal";
    j += "{\"name\":" + json_str(n.name) + ",\"type\":\"" + type + "\",\"arcBase\":" + std::to_string(n.arc_base) +
         ",\"errorBase\":" + std::to_string(n.error_base) + ",\"next\":[";
    for (size_t k = 0; k < n.next_name.size(); ++k) {
      if (k) j += ",";
      j += "{\"name\":" + json_str(n.next_name[k]) + ",\"resolved\":" + (n.next_resolved[k] ? "true" : "false") + "}";
    }
    j += "],\"errors\":[";
    for (size_t k = 0; k < n.reg->errors.size(); ++k) {
      const auto& e = n.reg->errors[k];
      if (k) j += ",";
      const char* sev = e.severity == Severity::Info ? "info" : e.severity == Severity::Warning ? "warn" : "error";
      j += "{\"name\":" + json_str(e.name) + ",\"text\":" + json_str(e.text) + ",\"severity\":\"" + sev + "\"}";
    }
    j += "]}";
  }
  j += "],\"interfaces\":[";
  bool first = true;
  for (auto& i : interfaces_) {
    if (!i) continue;
    if (!first) j += ",";
    first = false;
    j += "{\"index\":" + std::to_string(i->index) + ",\"name\":" + json_str(i->name) + ",\"driver\":" + json_str(i->ops->driver()) + "}";
  }
  j += "],\"workers\":[";
  for (size_t w = 0; w < workers_.size(); ++w) {
    if (w) j += ",";
    j += "{\"id\":" + std::to_string(w) + ",\"cpu\":" + std::to_string(workers_[w]->cpu()) + "}";
  }
  j += "]}";
  stats_->write_directory(j);
}

void Engine::drain_caches() {
  for (auto& w : workers_) w->run_sync([](Worker& wk) { wk.pool().drain(wk.cache()); });
  pool_.drain(control_cache_);
  update_buffer_counters();
}

void Engine::update_buffer_counters() {
  uint64_t* c = stats_->buffer_counters();
  c[kBufTotal] = pool_.total();
  c[kBufFree] = pool_.free_count();
  c[kBufHeld] = uint64_t(pool_.held());
  c[kBufAllocFailures] = pool_.alloc_failures();
  c[kBufHugepages] = pool_.hugepages();
  c[kBufCachedMain] = control_cache_.count;
}

void Engine::housekeeping() {
  uint64_t tick = 0;
  while (housekeeping_run_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    epochs_.reclaim();
    stats_->header()[kHdrHeartbeatNs] = monotonic_ns();
    if (++tick % 5 == 0) {
      std::unique_lock<std::recursive_mutex> g(control_lock_, std::try_to_lock);
      if (!g.owns_lock()) continue;
      update_buffer_counters();
      for (auto& i : interfaces_)
        if (i) i->ops->poll_control(*i);
    }
  }
}

}  // namespace quiver
