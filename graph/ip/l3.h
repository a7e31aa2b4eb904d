// The L3 control side: tables (VRFs), routes by source, pathlists and their resolution
// (recursive next hops flattened to adjacencies), load-balance and adjacency pools, neighbors,
// interface addresses. Everything here runs under the engine's control lock (N-API calls, the
// neighbor thread); workers only see what publish() hands them (dpo.h).
//
// A route names a pathlist (its set of next hops); routes with the same next hops share one
// pathlist and so one load-balance set, which is what a FIB leaf holds. 1M routes via two next
// hops cost two load-balance sets. When resolution changes (an ARP reply, a more specific
// route to a recursive next hop), only load-balance contents change, never FIB leaves.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dpo.h"
#include "ip4_mtrie.h"
#include "ip4_routes.h"
#include "ip6_fib.h"

namespace quiver {

class Engine;

struct Path {
  enum Type : uint8_t { Via, Attached };
  Type type = Via;
  bool dead = false;               // its interface was deleted: never resolves
  uint32_t if_index = kInvalidIf;  // Via without interface: resolved recursively
  IpAddr nh;
};

struct PathList {
  uint32_t fib = 0;
  IpFamily family = IpFamily::V4;
  std::vector<Path> paths;
  uint32_t lb = 0;
  uint64_t refs = 0;
  bool recursive = false;
  std::vector<uint32_t> members;   // resolved adjacencies
  std::vector<uint32_t> neighbors; // neighbor ids this resolution references
  std::string key;
  bool alive = false;
};

struct Neighbor {
  enum State : uint8_t { Incomplete, Reachable, Static };
  uint32_t if_index = kInvalidIf;
  IpFamily family = IpFamily::V4;
  IpAddr addr;
  uint8_t mac[6] = {};
  State state = Incomplete;
  uint32_t adj = 0;
  uint64_t refs = 0;       // pathlists resolving through it
  uint64_t updated_ns = 0;
  bool alive = false;
};

enum RouteSource : uint8_t { kSourceApi, kSourceInterface };

struct FibTable {
  uint32_t id = 0;
  uint32_t index = 0;
  bool symmetric = false;
  std::string name;
  std::unique_ptr<Ip4Mtrie> m4;
  Ip4Routes r4;
  std::unique_ptr<Ip6Fib> f6;
  uint32_t interfaces = 0;  // bound to it
};

struct IfAddr {
  IpFamily family;
  IpAddr addr;
  uint8_t len;
};
struct IfState {
  uint32_t fib = 0;
  std::vector<IfAddr> addrs;
  bool ip6_enabled = false;
  uint8_t link_local[16] = {};
  uint32_t glean4 = ~0u, glean6 = ~0u;
};

struct NeighborConfig {
  uint32_t limit = 50000;
  uint64_t age_ns = 300ull * 1000000000ull;
};

class L3 {
 public:
  static L3& get();
  void start(Engine& e);
  void stop(Engine& e);
  bool running() const { return running_; }

  // --- tables ---
  FibTable* table_by_id(uint32_t id);
  FibTable& table_or_throw(uint32_t id, const std::string& field);
  FibTable& add_table(uint32_t id, bool symmetric, const std::string& name);
  void delete_table(uint32_t id);
  void set_table_hash(FibTable& t, bool symmetric);
  std::vector<FibTable*> tables();
  FibTable* table_at(uint32_t fib) { return fib < tables_.size() ? tables_[fib].get() : nullptr; }

  // --- pathlists ---
  // Interns a pathlist (validated by the caller) and returns its id; ref'd by the caller.
  uint32_t pathlist(uint32_t fib, IpFamily f, std::vector<Path> paths);
  // The shared pathlist of a special load-balance set (kLbBlackhole, kLbLocal, ...).
  uint32_t special_pathlist(uint32_t special_lb);
  void pl_ref(uint32_t pl, uint64_t n = 1) { pathlists_[pl].refs += n; }
  void pl_unref(uint32_t pl, uint64_t n = 1);
  // Frees pathlists nothing references (created for a request that then failed validation).
  void gc();
  const PathList& pathlist_at(uint32_t pl) const { return pathlists_[pl]; }

  // --- routes ---
  // Sets (pl != ~0u) or clears the route of `source` for prefix/len. Returns false when
  // clearing a route that does not exist.
  bool route_set(FibTable& t, IpFamily f, const IpAddr& prefix, uint8_t len, RouteSource source, uint32_t pl);
  void route_special(FibTable& t, IpFamily f, const IpAddr& prefix, uint8_t len, uint32_t special_lb);
  // Free plies/slots to hold `routes` more routes without failing half way.
  void reserve_routes(FibTable& t, IpFamily f, uint64_t routes);
  uint32_t lookup_lb(const FibTable& t, IpFamily f, const IpAddr& a) const;
  // Re-resolves recursive pathlists until nothing changes (call after route changes).
  void resolve_recursive();

  // --- neighbors ---
  uint32_t neighbor_find(uint32_t if_index, IpFamily f, const IpAddr& a) const;
  uint32_t neighbor_get(uint32_t if_index, IpFamily f, const IpAddr& a);  // creates Incomplete
  void neighbor_set(uint32_t if_index, IpFamily f, const IpAddr& a, const uint8_t* mac, bool is_static,
                    bool update_only, bool* resolved);
  bool neighbor_delete(uint32_t if_index, IpFamily f, const IpAddr& a);
  void neighbors_age(uint64_t now_ns);
  std::vector<const Neighbor*> neighbors(IpFamily f) const;
  NeighborConfig& neighbor_config() { return nbr_config_; }
  uint64_t learn_dropped_limit = 0;

  // --- interfaces ---
  IfState& if_state(uint32_t if_index);
  void add_address(uint32_t if_index, IpFamily f, const IpAddr& a, uint8_t len, bool announce);
  void delete_address(uint32_t if_index, IpFamily f, const IpAddr& a, uint8_t len);
  void set_interface_table(uint32_t if_index, uint32_t table_id);
  void interface_deleted(uint32_t if_index);
  uint32_t glean_adj(uint32_t if_index, IpFamily f);

  // --- publication ---
  // Hands workers whatever changed (adjacencies before load-balance sets before FIB leaves).
  void publish();
  const std::vector<Adjacency>& adjs() const { return adjs_; }
  const std::vector<LoadBalance>& lbs() const { return lbs_; }
  uint32_t lb_owner(uint32_t lb) const { return lb < lb_owner_.size() ? lb_owner_[lb] : ~0u; }
  uint64_t memory_bytes(const FibTable& t, IpFamily f) const;

 private:
  L3() = default;
  uint32_t alloc_adj();
  void free_adj(uint32_t a);
  uint32_t alloc_lb();
  void free_lb(uint32_t lb);
  void reclaim_after_grace();
  bool resolve(PathList& pl);
  bool write_lb(uint32_t lb, const std::vector<uint32_t>& members, bool symmetric);
  uint32_t effective_lb(const Ip4Route& r) const;
  uint32_t effective_lb6(const Ip6Slot& s) const;
  void neighbor_unref(uint32_t id);
  void neighbor_free(uint32_t id);
  void publish_neighbors();
  void publish_ifs();
  std::string path_key(uint32_t fib, IpFamily f, const std::vector<Path>& paths) const;

  bool running_ = false;
  Engine* engine_ = nullptr;
  std::vector<std::unique_ptr<FibTable>> tables_;  // by fib index
  std::unordered_map<uint32_t, uint32_t> table_ids_;  // table id -> fib index
  std::vector<PathList> pathlists_;
  std::vector<uint32_t> free_pathlists_;
  std::unordered_map<std::string, uint32_t> pathlist_by_key_;
  uint32_t special_pl_[kLbSpecialCount] = {};
  std::vector<Adjacency> adjs_;
  std::vector<LoadBalance> lbs_;
  std::vector<uint32_t> lb_owner_;  // lb -> pathlist (~0u special/free)
  std::vector<uint32_t> free_adjs_, pending_adjs_, free_lbs_, pending_lbs_;
  std::vector<Neighbor> neighbors_;
  std::vector<uint32_t> free_neighbors_;
  std::unordered_map<std::string, uint32_t> neighbor_by_key_;
  NeighborConfig nbr_config_;
  uint32_t n_dynamic_ = 0;  // Reachable (learned) neighbors, against the limit
  std::vector<IfState> ifs_;
  bool adjs_dirty_ = false, lbs_dirty_ = false, nbrs_dirty_ = false, ifs_dirty_ = false;
};

// Interface the dataplane sources packets from on the control side (gratuitous ARP, ping):
// posted to a worker, which allocates the buffer and sends it.
void l3_send_frame(uint32_t if_index, const std::vector<uint8_t>& frame);
// An IP packet (no Ethernet header) looked up in `fib` as if the dataplane originated it.
void l3_send_ip(uint32_t fib, IpFamily f, uint32_t origin_if, const std::vector<uint8_t>& packet);
// Asks every worker to release packets held for neighbors that are now resolved.
void l3_kick_held();

std::string ip_str(IpFamily f, const IpAddr& a);
std::string prefix_str(IpFamily f, const IpAddr& a, uint8_t len);
// Host bits beyond len cleared.
IpAddr ip_mask(IpFamily f, const IpAddr& a, uint8_t len);

}  // namespace quiver
