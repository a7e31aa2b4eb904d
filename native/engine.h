// The engine: one per process. Owns the buffer pool, the graph, the stats segment, the
// workers, the interface registry and the published interface table. All methods here are
// control-side: call them with control_lock() held (the N-API layer does).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "epoch.h"
#include "graph.h"
#include "interface.h"
#include "pcap.h"
#include "pool.h"
#include "stats.h"
#include "worker.h"

namespace quiver {

struct EngineConfig {
  uint32_t workers = 1;
  std::vector<int> cores;  // cores[i] pins worker i; empty: not pinned
  PoolConfig pool;
  RxMode default_rx_mode = RxMode::Adaptive;
  uint32_t adaptive_idle_loops = 64;  // idle loops before an adaptive worker sleeps
};

// Feature hooks: a feature registers one to learn about engine start/stop and interface
// deletion (to drop its per-interface state), without the engine knowing the feature.
struct FeatureHooks {
  const char* name;
  void (*on_start)(class Engine&) = nullptr;
  void (*on_stop)(class Engine&) = nullptr;
  void (*on_interface_delete)(class Engine&, uint32_t if_index) = nullptr;
};
std::vector<FeatureHooks>& feature_hooks();
struct FeatureRegistrar {
  explicit FeatureRegistrar(FeatureHooks h) { feature_hooks().push_back(h); }
};
#define QUIVER_FEATURE(id, ...) static ::quiver::FeatureRegistrar QUIVER_CONCAT(feature_registrar_, id)(::quiver::FeatureHooks __VA_ARGS__)

class Engine {
 public:
  static Engine& get();

  void start(const EngineConfig& config);  // throws std::runtime_error naming the field
  void stop();
  bool running() const { return running_; }
  const EngineConfig& config() const { return config_; }

  BufferPool& pool() { return pool_; }
  const Graph& graph() const { return graph_; }
  StatsSegment& stats() { return *stats_; }
  EpochManager& epochs() { return epochs_; }
  Capture& capture() { return capture_; }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }
  std::recursive_mutex& control_lock() { return control_lock_; }
  // A buffer cache for the control thread (inject, pg templates). Guarded by control_lock.
  BufferCache& control_cache() { return control_cache_; }

  // --- interfaces ---
  // Creates the registry entry and its runtime slot (admin down). Throws on a duplicate name.
  Interface& create_interface(const std::string& name, const std::string& tx_node, std::unique_ptr<InterfaceOps> ops,
                              const uint8_t* mac, uint32_t mtu);
  void delete_interface(uint32_t index);
  Interface* find_interface(const std::string& name);
  Interface* interface(uint32_t index);
  std::vector<Interface*> interfaces();
  // Copy-on-write change of one interface's runtime entry, published to workers.
  template <class F> void update_runtime(uint32_t index, F&& change) {
    auto* next = new InterfaceTable(*if_table_.get());
    change(next->entry[index]);
    if_table_.publish(epochs_, next);
  }
  const InterfaceTable& runtime_table() const { return *if_table_.get(); }
  const InterfaceTable* runtime_table_ptr() const { return if_table_.get(); }
  void set_admin(Interface& intf, bool up);
  void set_link(Interface& intf, bool up);
  void set_mtu(Interface& intf, uint32_t mtu);
  void set_mac(Interface& intf, const uint8_t* mac);

  // Places an rx queue on a worker (worker < 0: the least loaded one).
  void add_rx_queue(Interface& intf, uint32_t queue_id, const std::string& input_node, void* ctx, int fd,
                    int worker = -1, int mode = -1);
  void set_rx_placement(Interface& intf, uint32_t queue_id, uint32_t worker);
  void set_rx_mode(Interface& intf, uint32_t queue_id, RxMode mode);

  // Packet capture on interfaces (VPP `pcap trace`).
  void capture_start(const CaptureConfig& c);
  // Stops, writes the file; returns packets written.
  uint32_t capture_stop();

  // Directory of names for the stats segment (nodes, arcs, errors, interfaces, workers).
  void refresh_directory();
  // Flushes every worker's cache to the global pool (leak checks).
  void drain_caches();
  void update_buffer_counters();
  // Worker index that runs process nodes and the default placement for new queues.
  uint32_t pick_worker();

 private:
  Engine() = default;
  void housekeeping();

  EngineConfig config_;
  bool running_ = false;
  BufferPool pool_;
  Graph graph_;
  std::unique_ptr<StatsSegment> stats_;
  std::vector<std::unique_ptr<StatsSegment>> old_stats_;  // never unmapped: JS may hold views
  EpochManager epochs_;
  Capture capture_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::recursive_mutex control_lock_;
  BufferCache control_cache_;
  std::vector<std::unique_ptr<Interface>> interfaces_;  // by index; null when free
  Published<InterfaceTable> if_table_;
  std::thread housekeeper_;
  std::atomic<bool> housekeeping_run_{false};
};

}  // namespace quiver
