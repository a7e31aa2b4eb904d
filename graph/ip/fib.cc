// Tables, routes by source, pathlists and their resolution, the adjacency and load-balance
// pools, and publication to workers.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "../../native/engine.h"
#include "l3.h"

namespace quiver {

L3Dataplane g_l3;

L3& L3::get() {
  static L3* l3 = new L3();  // never destroyed: workers must not race static teardown
  return *l3;
}

std::string ip_str(IpFamily f, const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(f == IpFamily::V4 ? AF_INET : AF_INET6, a.b, buf, sizeof buf);
  return buf;
}
std::string prefix_str(IpFamily f, const IpAddr& a, uint8_t len) { return ip_str(f, a) + "/" + std::to_string(len); }

IpAddr ip_mask(IpFamily f, const IpAddr& a, uint8_t len) {
  IpAddr m;
  const uint32_t bytes = f == IpFamily::V4 ? 4 : 16;
  for (uint32_t i = 0; i < bytes; ++i) {
    const int keep = int(len) - int(i * 8);
    m.b[i] = keep >= 8 ? a.b[i] : keep <= 0 ? 0 : uint8_t(a.b[i] & (0xff00 >> keep));
  }
  return m;
}

// --- lifecycle ---

void L3::start(Engine& e) {
  engine_ = &e;
  g_l3.adjs.reset_unsafe();
  g_l3.lbs.reset_unsafe();
  g_l3.neighbors.reset_unsafe();
  g_l3.ifs.reset_unsafe();
  for (uint32_t i = 0; i < kMaxFibs; ++i) {
    g_l3.fib4[i].store(nullptr);
    g_l3.fib6[i].store(nullptr);
  }
  tables_.clear();
  table_ids_.clear();
  pathlists_.clear();
  free_pathlists_.clear();
  pathlist_by_key_.clear();
  adjs_.clear();
  lbs_.clear();
  lb_owner_.clear();
  free_adjs_.clear();
  pending_adjs_.clear();
  free_lbs_.clear();
  pending_lbs_.clear();
  neighbors_.clear();
  free_neighbors_.clear();
  neighbor_by_key_.clear();
  ifs_.assign(kMaxInterfaces, IfState());
  nbr_config_ = NeighborConfig();
  n_dynamic_ = 0;
  learn_dropped_limit = 0;
  // The special objects: adjacency i and load-balance set i for special i.
  static const AdjKind kinds[kLbSpecialCount] = {AdjKind::Unreachable, AdjKind::Drop, AdjKind::Drop, AdjKind::Drop,
                                                 AdjKind::Local,       AdjKind::Drop, AdjKind::Drop};
  static const uint16_t reasons[kLbSpecialCount] = {0, kDropBlackhole, kDropMulticast, kDropBroadcast, 0, kDropUnresolved,
                                                    kDropReserved};
  for (uint32_t i = 0; i < kLbSpecialCount; ++i) {
    Adjacency a;
    a.kind = kinds[i];
    a.drop_reason = reasons[i];
    adjs_.push_back(a);
    LoadBalance lb;
    for (auto& x : lb.bucket) x = i;
    lbs_.push_back(lb);
    lb_owner_.push_back(~0u);
    special_pl_[i] = ~0u;
  }
  running_ = true;
  adjs_dirty_ = lbs_dirty_ = nbrs_dirty_ = ifs_dirty_ = true;
  add_table(0, false, "default");
  publish();
}

void L3::stop(Engine&) { running_ = false; }

// --- pools: an index freed while workers may still hold it is reused after a grace period ---

void L3::reclaim_after_grace() {
  if (pending_adjs_.empty() && pending_lbs_.empty()) {
    bool plies = false;
    for (auto& t : tables_)
      if (t && t->m4->has_pending_free()) plies = true;
    if (!plies) return;
  }
  engine_->epochs().synchronize();
  free_adjs_.insert(free_adjs_.end(), pending_adjs_.begin(), pending_adjs_.end());
  pending_adjs_.clear();
  free_lbs_.insert(free_lbs_.end(), pending_lbs_.begin(), pending_lbs_.end());
  pending_lbs_.clear();
  for (auto& t : tables_)
    if (t) t->m4->recycle_after_grace();
}

uint32_t L3::alloc_adj() {
  if (free_adjs_.empty() && pending_adjs_.size() > 64) reclaim_after_grace();
  adjs_dirty_ = true;
  if (!free_adjs_.empty()) {
    const uint32_t a = free_adjs_.back();
    free_adjs_.pop_back();
    return a;
  }
  adjs_.emplace_back();
  return uint32_t(adjs_.size() - 1);
}
void L3::free_adj(uint32_t a) {
  adjs_[a] = Adjacency();
  adjs_dirty_ = true;
  pending_adjs_.push_back(a);
}
uint32_t L3::alloc_lb() {
  if (free_lbs_.empty() && pending_lbs_.size() > 64) reclaim_after_grace();
  lbs_dirty_ = true;
  if (!free_lbs_.empty()) {
    const uint32_t l = free_lbs_.back();
    free_lbs_.pop_back();
    return l;
  }
  lbs_.emplace_back();
  lb_owner_.push_back(~0u);
  return uint32_t(lbs_.size() - 1);
}
void L3::free_lb(uint32_t lb) {
  lb_owner_[lb] = ~0u;
  pending_lbs_.push_back(lb);
}

// --- tables ---

FibTable* L3::table_by_id(uint32_t id) {
  auto it = table_ids_.find(id);
  return it == table_ids_.end() ? nullptr : tables_[it->second].get();
}
FibTable& L3::table_or_throw(uint32_t id, const std::string& field) {
  FibTable* t = table_by_id(id);
  if (!t) throw std::runtime_error(field + ": table " + std::to_string(id) + " does not exist");
  return *t;
}
std::vector<FibTable*> L3::tables() {
  std::vector<FibTable*> v;
  for (auto& t : tables_)
    if (t) v.push_back(t.get());
  std::sort(v.begin(), v.end(), [](FibTable* a, FibTable* b) { return a->id < b->id; });
  return v;
}

FibTable& L3::add_table(uint32_t id, bool symmetric, const std::string& name) {
  if (table_by_id(id)) throw std::runtime_error("id: table " + std::to_string(id) + " already exists");
  uint32_t index = 0;
  while (index < tables_.size() && tables_[index]) ++index;
  if (index >= kMaxFibs) throw std::runtime_error("id: at most " + std::to_string(kMaxFibs) + " tables");
  if (index == tables_.size()) tables_.emplace_back();
  auto t = std::make_unique<FibTable>();
  t->id = id;
  t->index = index;
  t->symmetric = symmetric;
  t->name = name;
  t->m4 = std::make_unique<Ip4Mtrie>(kLbUnreachable, 1u << 22);
  t->f6 = std::make_unique<Ip6Fib>(kLbUnreachable, &engine_->epochs());
  FibTable& ref = *t;
  tables_[index] = std::move(t);
  table_ids_[id] = index;
  // Every table: the default falls back to "unreachable"; multicast and reserved space drop;
  // IPv6 link-local and link-scope multicast are delivered locally (ip6-local filters).
  IpAddr any;
  route_special(ref, IpFamily::V4, any, 0, kLbUnreachable);
  route_special(ref, IpFamily::V4, IpAddr::v4(htonl(0xe0000000u)), 4, kLbMulticast);
  route_special(ref, IpFamily::V4, IpAddr::v4(htonl(0xf0000000u)), 4, kLbReserved);
  route_special(ref, IpFamily::V4, IpAddr::v4(0xffffffffu), 32, kLbBroadcast);
  route_special(ref, IpFamily::V6, any, 0, kLbUnreachable);
  IpAddr p;
  p.b[0] = 0xff;
  route_special(ref, IpFamily::V6, p, 8, kLbMulticast);
  p.b[1] = 0x02;
  route_special(ref, IpFamily::V6, p, 16, kLbLocal);
  IpAddr ll;
  ll.b[0] = 0xfe;
  ll.b[1] = 0x80;
  route_special(ref, IpFamily::V6, ll, 10, kLbLocal);
  g_l3.fib4[index].store(ref.m4.get(), std::memory_order_release);
  g_l3.fib6[index].store(ref.f6.get(), std::memory_order_release);
  return ref;
}

void L3::delete_table(uint32_t id) {
  if (id == 0) throw std::runtime_error("id: table 0 cannot be deleted");
  FibTable& t = table_or_throw(id, "id");
  if (t.interfaces) throw std::runtime_error("id: table " + std::to_string(id) + " still has " + std::to_string(t.interfaces) + " interface(s)");
  // Routes of other tables may recurse into nothing here (recursion stays within a table),
  // so only this table's routes and their pathlists go.
  std::vector<std::pair<uint32_t, uint8_t>> v4;
  t.r4.for_each([&](const Ip4Route& r) { v4.push_back({r.prefix, r.len}); });
  for (auto& [p, l] : v4) {
    const IpAddr a = IpAddr::v4(htonl(p));
    route_set(t, IpFamily::V4, a, l, kSourceApi, ~0u);
  }
  std::vector<std::pair<IpAddr, uint8_t>> v6;
  t.f6->for_each([&](const Ip6Slot& s) {
    IpAddr a;
    const uint64_t h = __builtin_bswap64(s.hi), l = __builtin_bswap64(s.lo);
    std::memcpy(a.b, &h, 8);
    std::memcpy(a.b + 8, &l, 8);
    v6.push_back({a, s.len});
  });
  for (auto& [a, l] : v6) route_set(t, IpFamily::V6, a, l, kSourceApi, ~0u);
  const uint32_t index = t.index;
  g_l3.fib4[index].store(nullptr);
  g_l3.fib6[index].store(nullptr);
  FibTable* raw = tables_[index].release();
  table_ids_.erase(id);
  gc();
  publish();
  engine_->epochs().retire([raw] { delete raw; });
}

void L3::set_table_hash(FibTable& t, bool symmetric) {
  if (t.symmetric == symmetric) return;
  t.symmetric = symmetric;
  for (auto& pl : pathlists_)
    if (pl.alive && !pl.paths.empty() && pl.fib == t.index) resolve(pl);
  publish();
}

// --- pathlists ---

std::string L3::path_key(uint32_t fib, IpFamily f, const std::vector<Path>& paths) const {
  std::string k;
  k.reserve(8 + paths.size() * 24);
  k.append(reinterpret_cast<const char*>(&fib), 4);
  k.push_back(char(f));
  for (const Path& p : paths) {
    k.push_back(char(p.type));
    k.push_back(p.dead ? 'd' : 'l');
    k.append(reinterpret_cast<const char*>(&p.if_index), 4);
    k.append(reinterpret_cast<const char*>(p.nh.b), 16);
  }
  return k;
}

uint32_t L3::pathlist(uint32_t fib, IpFamily f, std::vector<Path> paths) {
  std::sort(paths.begin(), paths.end(), [](const Path& a, const Path& b) {
    if (a.type != b.type) return a.type < b.type;
    if (a.if_index != b.if_index) return a.if_index < b.if_index;
    return std::memcmp(a.nh.b, b.nh.b, 16) < 0;
  });
  paths.erase(std::unique(paths.begin(), paths.end(),
                          [](const Path& a, const Path& b) { return a.type == b.type && a.if_index == b.if_index && a.nh == b.nh; }),
              paths.end());
  std::string key = path_key(fib, f, paths);
  auto it = pathlist_by_key_.find(key);
  if (it != pathlist_by_key_.end()) return it->second;
  uint32_t id;
  if (!free_pathlists_.empty()) {
    id = free_pathlists_.back();
    free_pathlists_.pop_back();
  } else {
    id = uint32_t(pathlists_.size());
    pathlists_.emplace_back();
  }
  PathList& pl = pathlists_[id];
  pl = PathList();
  pl.fib = fib;
  pl.family = f;
  pl.paths = std::move(paths);
  pl.key = key;
  pl.alive = true;
  for (auto& p : pl.paths) pl.recursive |= p.type == Path::Via && p.if_index == kInvalidIf && !p.dead;
  pl.lb = alloc_lb();
  lb_owner_[pl.lb] = id;
  pathlist_by_key_[key] = id;
  resolve(pathlists_[id]);
  return id;
}

uint32_t L3::special_pathlist(uint32_t special_lb) {
  if (special_pl_[special_lb] != ~0u) return special_pl_[special_lb];
  uint32_t id = uint32_t(pathlists_.size());
  pathlists_.emplace_back();
  PathList& pl = pathlists_[id];
  pl.lb = special_lb;
  pl.refs = 1;  // never freed
  pl.alive = true;
  pl.key = "special:" + std::to_string(special_lb);
  special_pl_[special_lb] = id;
  return id;
}

void L3::pl_unref(uint32_t id, uint64_t n) {
  PathList& pl = pathlists_[id];
  pl.refs -= n;
  if (pl.refs) return;
  // Every FIB leaf naming this load-balance set is gone; it is reused after a grace period.
  pathlist_by_key_.erase(pl.key);
  free_lb(pl.lb);
  std::vector<uint32_t> nbrs = std::move(pl.neighbors);
  pl = PathList();
  free_pathlists_.push_back(id);
  for (uint32_t n2 : nbrs) neighbor_unref(n2);
}

void L3::gc() {
  for (uint32_t id = 0; id < pathlists_.size(); ++id) {
    PathList& pl = pathlists_[id];
    if (pl.alive && pl.refs == 0) {
      pl.refs = 1;
      pl_unref(id);
    }
  }
}

bool L3::write_lb(uint32_t lb, const std::vector<uint32_t>& members, bool symmetric) {
  LoadBalance n;
  n.n_paths = uint16_t(members.size());
  n.symmetric = symmetric;
  for (uint32_t i = 0; i < kLbBuckets; ++i) n.bucket[i] = members[i % members.size()];
  if (std::memcmp(&n, &lbs_[lb], sizeof n) == 0) return false;
  lbs_[lb] = n;
  lbs_dirty_ = true;
  return true;
}

// Computes members from paths; returns true when the result changed.
bool L3::resolve(PathList& pl) {
  std::vector<uint32_t> members, nbrs;
  auto add = [&](uint32_t adj) {
    if (members.size() < kMaxPaths && std::find(members.begin(), members.end(), adj) == members.end()) members.push_back(adj);
  };
  const FibTable* t = table_at(pl.fib);
  for (const Path& p : pl.paths) {
    if (p.dead) continue;
    if (p.type == Path::Attached) {
      add(glean_adj(p.if_index, pl.family));
    } else if (p.if_index != kInvalidIf) {
      const uint32_t n = neighbor_get(p.if_index, pl.family, p.nh);
      nbrs.push_back(n);
      add(neighbors_[n].adj);
    } else if (t) {
      // Recursive: whatever the covering route resolves to, flattened. A route cannot
      // resolve through itself; drop/local/unreachable covers leave the path unresolved.
      const uint32_t lb = lookup_lb(*t, pl.family, p.nh);
      const uint32_t owner = lb == pl.lb ? ~0u : lb_owner(lb);
      if (owner == ~0u) continue;
      const std::vector<uint32_t> via = pathlists_[owner].members;
      for (uint32_t m : via) {
        const Adjacency a = adjs_[m];  // a copy: neighbor_get may grow adjs_
        if (a.kind == AdjKind::Glean) {
          const uint32_t n = neighbor_get(a.if_index, pl.family, p.nh);
          nbrs.push_back(n);
          add(neighbors_[n].adj);
        } else if (a.kind == AdjKind::Rewrite || a.kind == AdjKind::Incomplete) {
          add(m);
        }
      }
    }
  }
  for (uint32_t n : nbrs) neighbors_[n].refs++;
  for (uint32_t n : pl.neighbors) neighbor_unref(n);
  pl.neighbors = std::move(nbrs);
  const bool changed = members != pl.members;
  pl.members = members;
  const bool lb_changed = write_lb(pl.lb, members.empty() ? std::vector<uint32_t>{kLbUnresolved} : members, t && t->symmetric);
  return changed || lb_changed;
}

void L3::resolve_recursive() {
  for (int round = 0; round < 16; ++round) {
    bool changed = false;
    for (auto& pl : pathlists_)
      if (pl.alive && pl.recursive) changed |= resolve(pl);
    if (!changed) return;
  }
}

// --- routes ---

uint32_t L3::effective_lb(const Ip4Route& r) const {
  if (r.pl_if != ~0u) return pathlists_[r.pl_if].lb;
  if (r.pl_api != ~0u) return pathlists_[r.pl_api].lb;
  if (r.special) return r.special - 1u;
  return ~0u;
}
uint32_t L3::effective_lb6(const Ip6Slot& s) const {
  if (s.pl_if != ~0u) return pathlists_[s.pl_if].lb;
  if (s.pl_api != ~0u) return pathlists_[s.pl_api].lb;
  if (s.special) return s.special - 1u;
  return ~0u;
}

uint32_t L3::lookup_lb(const FibTable& t, IpFamily f, const IpAddr& a) const {
  return f == IpFamily::V4 ? t.m4->lookup(a.v4_host()) : t.f6->lookup(a.hi(), a.lo());
}

bool L3::route_set(FibTable& t, IpFamily f, const IpAddr& prefix, uint8_t len, RouteSource source, uint32_t pl) {
  if (pl != ~0u) pl_ref(pl);
  uint32_t prev = ~0u;
  if (f == IpFamily::V4) {
    const uint32_t p = prefix.v4_host();
    Ip4Route* r = pl == ~0u ? t.r4.find(p, len) : t.r4.get_or_insert(p, len);
    if (!r) return false;
    uint32_t& field = source == kSourceApi ? r->pl_api : r->pl_if;
    if (pl == ~0u && field == ~0u) return false;
    const uint32_t old = effective_lb(*r);
    prev = field;
    field = pl;
    const uint32_t neu = effective_lb(*r);
    if (neu == ~0u) {
      const Ip4Route* c = t.r4.cover(p, len);
      const uint32_t cover_lb = c ? effective_lb(*c) : uint32_t(kLbUnreachable);
      t.m4->unset(p, len, old, cover_lb, c ? c->len : 0);
      t.r4.remove(r);
    } else if (neu != old) {
      t.m4->set(p, len, neu);
    }
  } else {
    const uint64_t hi = prefix.hi(), lo = prefix.lo();
    Ip6Slot* s = t.f6->find(hi, lo, len);
    if (!s) {
      if (pl == ~0u) return false;
      s = t.f6->insert(hi, lo, len);
      (source == kSourceApi ? s->pl_api : s->pl_if) = pl;
      s->lb = effective_lb6(*s);
      t.f6->publish_slot(s);
      return true;
    }
    uint32_t& field = source == kSourceApi ? s->pl_api : s->pl_if;
    if (pl == ~0u && field == ~0u) return false;
    const uint32_t old = s->lb;
    prev = field;
    field = pl;
    const uint32_t neu = effective_lb6(*s);
    if (neu == ~0u) t.f6->remove(s);
    else if (neu != old) t.f6->set_lb(s, neu);
  }
  if (prev != ~0u) pl_unref(prev);
  return true;
}

void L3::route_special(FibTable& t, IpFamily f, const IpAddr& prefix, uint8_t len, uint32_t special_lb) {
  if (f == IpFamily::V4) {
    Ip4Route* r = t.r4.get_or_insert(prefix.v4_host(), len);
    const uint32_t old = effective_lb(*r);
    r->special = uint8_t(special_lb + 1);
    const uint32_t neu = effective_lb(*r);
    if (neu != old) t.m4->set(prefix.v4_host(), len, neu);
  } else {
    Ip6Slot* s = t.f6->find(prefix.hi(), prefix.lo(), len);
    if (!s) {
      s = t.f6->insert(prefix.hi(), prefix.lo(), len);
      s->special = uint8_t(special_lb + 1);
      s->lb = effective_lb6(*s);
      t.f6->publish_slot(s);
      return;
    }
    s->special = uint8_t(special_lb + 1);
    t.f6->set_lb(s, effective_lb6(*s));
  }
}

void L3::reserve_routes(FibTable& t, IpFamily f, uint64_t routes) {
  if (f == IpFamily::V6) {
    t.f6->reserve(routes);
    return;
  }
  t.r4.reserve(routes);
  // A new route creates at most two plies.
  if (t.m4->plies_available() < 2 * routes) throw std::runtime_error("prefixes: table " + std::to_string(t.id) + " has no room for " + std::to_string(routes) + " more IPv4 routes");
  if (t.m4->has_pending_free()) reclaim_after_grace();
}

uint64_t L3::memory_bytes(const FibTable& t, IpFamily f) const {
  return f == IpFamily::V4 ? t.m4->memory_bytes() + t.r4.memory_bytes() : t.f6->memory_bytes();
}

// --- publication ---

void L3::publish() {
  EpochManager& ep = engine_->epochs();
  if (adjs_dirty_) {
    auto* t = new AdjTable();
    t->count = uint32_t(adjs_.size());
    t->adj = new Adjacency[t->count];
    std::copy(adjs_.begin(), adjs_.end(), t->adj);
    g_l3.adjs.publish(ep, t);
    adjs_dirty_ = false;
  }
  if (lbs_dirty_) {
    auto* t = new LbTable();
    t->count = uint32_t(lbs_.size());
    t->lb = new LoadBalance[t->count];
    std::copy(lbs_.begin(), lbs_.end(), t->lb);
    g_l3.lbs.publish(ep, t);
    lbs_dirty_ = false;
  }
  if (nbrs_dirty_) publish_neighbors();
  if (ifs_dirty_) publish_ifs();
}

void L3::publish_neighbors() {
  uint32_t alive = 0;
  for (auto& n : neighbors_) alive += n.alive;
  uint32_t cap = 16;
  while (cap < alive * 2) cap *= 2;
  auto* m = new NeighborMap();
  m->mask = cap - 1;
  m->slot = new NeighborMap::Slot[cap];
  for (auto& n : neighbors_) {
    if (!n.alive) continue;
    for (uint32_t i = NeighborMap::hash(n.if_index, n.addr) & m->mask;; i = (i + 1) & m->mask)
      if (m->slot[i].if_index == kInvalidIf) {
        m->slot[i].if_index = n.if_index;
        m->slot[i].addr = n.addr;
        m->slot[i].adj = n.adj;
        break;
      }
  }
  g_l3.neighbors.publish(engine_->epochs(), m);
  nbrs_dirty_ = false;
}

void L3::publish_ifs() {
  auto* t = new IfL3Table();
  for (uint32_t i = 0; i < kMaxInterfaces; ++i) {
    const IfState& s = ifs_[i];
    IfL3& e = t->entry[i];
    e.fib4 = e.fib6 = s.fib;
    e.glean4 = s.glean4;
    e.glean6 = s.glean6;
    for (const IfAddr& a : s.addrs) {
      if (a.family == IpFamily::V4 && e.n4 < kMaxIfAddrs) e.a4[e.n4++] = Ip4IfAddr{a.addr.v4_net(), a.len};
      if (a.family == IpFamily::V6 && e.n6 < kMaxIfAddrs) {
        std::memcpy(e.a6[e.n6].addr, a.addr.b, 16);
        e.a6[e.n6++].len = a.len;
      }
    }
    e.ip6_enabled = s.ip6_enabled;
    std::memcpy(e.link_local, s.link_local, 16);
  }
  g_l3.ifs.publish(engine_->epochs(), t);
  ifs_dirty_ = false;
}

}  // namespace quiver
