// The mbuf pool: an rte_mempool whose objects are Quiver's buffer slots. DPDK never lays the
// objects out; the "quiver" mempool ops take and return slots through Quiver's own per-worker
// buffer caches, so a buffer allocated by a PMD can leave through any Quiver interface and a
// buffer from any Quiver driver can be handed to a PMD, without a copy.
//
// Accounting: every slot DPDK owns (in a PMD ring, in a DPDK per-lcore mempool cache, queued
// in a net_ring) is counted as `held` in Quiver's pool: +n when the ops hand slots to DPDK or
// dpdk-tx hands packets to a PMD, -n when the ops get slots back or dpdk-input takes packets
// from a PMD. So free + cached + held == total holds exactly at any quiet point.
#include "dpdk.h"  // first: it sets the DPDK API level before any rte header

#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <stdexcept>

#include "../engine.h"
#include "../worker.h"

namespace quiver::dpdk {

void unregister_workers(Engine& e);  // dpdk_eal.cc

namespace {

constexpr uint32_t kMempoolCacheMax = 512;  // VPP uses 512 per lcore too
constexpr uint32_t kOpsChunk = 1024;         // slots converted per step inside one ops call

struct OpsState {
  BufferPool* pool = nullptr;
  uint8_t* base = nullptr;
};

struct PoolState {
  rte_mempool* mp = nullptr;
  OpsState ops;
  uint8_t* extmem_base = nullptr;
  size_t extmem_len = 0;
  uint32_t generation = 0;
  uint32_t cache_size = 0;
};

PoolState g_pool;  // control side, under the engine's control lock
thread_local BufferCache* t_cache = nullptr;
// Threads that are not workers (the control thread, EAL's interrupt thread) share this cache;
// it is emptied after every call so its contents never hide from the accounting.
std::mutex g_fallback_lock;
BufferCache g_fallback;
std::atomic<uint64_t> g_dequeued{0}, g_enqueued{0}, g_dequeue_failures{0};

inline OpsState& ops_of(const rte_mempool* mp) { return *static_cast<OpsState*>(mp->pool_data); }

int ops_alloc(rte_mempool* mp) {
  mp->pool_data = mp->pool_config;
  return 0;
}
void ops_free(rte_mempool*) {}

void return_indices(OpsState& s, const uint32_t* idx, uint32_t n) {
  if (BufferCache* c = t_cache) {
    s.pool->free_unchained(*c, idx, n);
    return;
  }
  std::lock_guard<std::mutex> g(g_fallback_lock);
  s.pool->free_unchained(g_fallback, idx, n);
  s.pool->drain(g_fallback);
}

int ops_enqueue(rte_mempool* mp, void* const* objs, unsigned n) {
  OpsState& s = ops_of(mp);
  uint32_t idx[kOpsChunk];
  for (unsigned done = 0; done < n;) {
    const unsigned k = n - done < kOpsChunk ? n - done : kOpsChunk;
    for (unsigned i = 0; i < k; ++i)
      idx[i] = uint32_t((static_cast<uint8_t*>(objs[done + i]) - s.base) / kSlotSize);
    return_indices(s, idx, k);
    done += k;
  }
  s.pool->account_held(-int64_t(n));
  g_enqueued.fetch_add(n, std::memory_order_relaxed);
  return 0;
}

uint32_t take_indices(OpsState& s, uint32_t* idx, uint32_t n) {
  if (BufferCache* c = t_cache) return s.pool->alloc(*c, idx, n);
  std::lock_guard<std::mutex> g(g_fallback_lock);
  const uint32_t got = s.pool->alloc(g_fallback, idx, n);
  s.pool->drain(g_fallback);
  return got;
}

// All or nothing, as the mempool API requires.
int ops_dequeue(rte_mempool* mp, void** objs, unsigned n) {
  OpsState& s = ops_of(mp);
  uint32_t idx[kOpsChunk];
  unsigned done = 0;
  while (done < n) {
    const unsigned want = n - done < kOpsChunk ? n - done : kOpsChunk;
    const uint32_t got = take_indices(s, idx, want);
    for (uint32_t i = 0; i < got; ++i) objs[done + i] = s.base + uint64_t(idx[i]) * kSlotSize;
    done += got;
    if (got < want) {
      for (unsigned off = 0; off < done; off += kOpsChunk) {
        const unsigned k = done - off < kOpsChunk ? done - off : kOpsChunk;
        for (unsigned i = 0; i < k; ++i) idx[i] = uint32_t((static_cast<uint8_t*>(objs[off + i]) - s.base) / kSlotSize);
        return_indices(s, idx, k);
      }
      g_dequeue_failures.fetch_add(1, std::memory_order_relaxed);
      return -ENOBUFS;
    }
  }
  s.pool->account_held(int64_t(n));
  g_dequeued.fetch_add(n, std::memory_order_relaxed);
  return 0;
}

unsigned ops_get_count(const rte_mempool* mp) { return ops_of(mp).pool->free_count(); }

// The memory chunk is registered (rte_mempool_mem_iter finds it, PMDs that register memory
// regions see one chunk) but no object header is written: the slots are already laid out.
int ops_populate(rte_mempool* mp, unsigned max_objs, void*, rte_iova_t, size_t, rte_mempool_populate_obj_cb_t*, void*) {
  mp->populated_size = mp->size;
  return int(max_objs);
}

rte_mempool_ops g_ops = {
    .name = "quiver",
    .alloc = ops_alloc,
    .free = ops_free,
    .enqueue = ops_enqueue,
    .dequeue = ops_dequeue,
    .get_count = ops_get_count,
    .calc_mem_size = nullptr,
    .populate = ops_populate,
    .get_info = nullptr,
    .dequeue_contig_blocks = nullptr,
};
RTE_MEMPOOL_REGISTER_OPS(g_ops);

size_t page_size_of(const BufferPool& p) { return p.hugepages() ? (2u << 20) : size_t(sysconf(_SC_PAGESIZE)); }

// Writes the constant part of every slot's mbuf header. Fields that change per packet
// (data_off, lengths, nb_segs, port, ol_flags) are set by dpdk-input/dpdk-tx and the PMDs.
void init_mbuf_headers(rte_mempool* mp, const BufferPool& p, bool iova_va) {
  for (uint32_t i = 0; i < p.total(); ++i) {
    uint8_t* slot = p.base() + uint64_t(i) * kSlotSize;
    auto* m = reinterpret_cast<rte_mbuf*>(slot);
    std::memset(static_cast<void*>(m), 0, sizeof *m);
    m->buf_addr = slot + kMbufBufOffset;
    m->buf_iova = iova_va ? rte_iova_t(reinterpret_cast<uintptr_t>(slot + kMbufBufOffset)) : RTE_BAD_IOVA;
    m->buf_len = kMbufBufLen;
    m->data_off = uint16_t(kDataOffset - kMbufBufOffset);
    m->refcnt = 1;
    m->nb_segs = 1;
    m->port = RTE_MBUF_PORT_INVALID;
    m->pool = mp;
    m->priv_size = kMetaSize;
    m->next = nullptr;
  }
}

void destroy_pool() {
  if (!g_pool.mp) return;
  rte_mempool_free(g_pool.mp);
  if (g_pool.extmem_base) rte_extmem_unregister(g_pool.extmem_base, g_pool.extmem_len);
  const uint32_t gen = g_pool.generation;
  g_pool = PoolState{};
  g_pool.generation = gen;
}

void on_engine_stop(Engine& e) {
  if (g_pool.mp) {
    for (auto& w : e.workers()) w->run_sync([](Worker&) { flush_thread_mempool_cache(); });
    flush_thread_mempool_cache();
  }
  unregister_workers(e);
  destroy_pool();
}

}  // namespace

QUIVER_FEATURE(dpdk_mempool, {.name = "dpdk-mempool", .on_start = nullptr, .on_stop = on_engine_stop, .on_interface_delete = nullptr});

void bind_thread_cache(BufferCache* cache) { t_cache = cache; }

rte_mempool* mbuf_pool_if_exists() { return g_pool.mp; }

rte_mempool* mbuf_pool(Engine& e) {
  if (g_pool.mp) return g_pool.mp;
  if (!eal_ready()) throw std::runtime_error("dpdk: EAL is not initialised; call the dpdk init first");
  BufferPool& p = e.pool();
  const uint32_t total = p.total();
  uint32_t cache = kMempoolCacheMax;
  while (cache > 32 && cache * 3 / 2 > total / 4) cache /= 2;  // leave most buffers outside DPDK caches
  const std::string name = "quiver_mbuf_" + std::to_string(++g_pool.generation);
  rte_mempool* mp = rte_mempool_create_empty(name.c_str(), total, kSlotSize, cache, sizeof(rte_pktmbuf_pool_private),
                                             SOCKET_ID_ANY, 0);
  if (!mp) throw std::runtime_error(std::string("dpdk: cannot create the mbuf pool: ") + rte_strerror(rte_errno));
  g_pool.ops.pool = &p;
  g_pool.ops.base = p.base();
  if (rte_mempool_set_ops_byname(mp, "quiver", &g_pool.ops) != 0) {
    rte_mempool_free(mp);
    throw std::runtime_error("dpdk: the 'quiver' mempool ops are not registered");
  }
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = kMbufBufLen;
  priv.mbuf_priv_size = kMetaSize;
  rte_pktmbuf_pool_init(mp, &priv);
  const bool iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
  const size_t page = page_size_of(p);
  const size_t len = (p.size_bytes() + page - 1) / page * page;
  // External memory: lets DPDK translate addresses in the pool (rte_mem_virt2memseg) and is
  // what rte_dev_dma_map needs for devices behind an IOMMU. vdevs work without it.
  if (rte_extmem_register(p.base(), len, nullptr, 0, page) == 0) {
    g_pool.extmem_base = p.base();
    g_pool.extmem_len = len;
  } else {
    RTE_LOG(WARNING, USER1, "quiver: rte_extmem_register of the buffer pool failed: %s\n", rte_strerror(rte_errno));
  }
  const rte_iova_t iova = iova_va ? rte_iova_t(reinterpret_cast<uintptr_t>(p.base())) : RTE_BAD_IOVA;
  const int r = rte_mempool_populate_iova(mp, reinterpret_cast<char*>(p.base()), iova, len, nullptr, nullptr);
  if (r < 0) {
    g_pool.mp = mp;
    destroy_pool();
    throw std::runtime_error(std::string("dpdk: cannot attach the buffer pool to the mempool: ") + rte_strerror(-r));
  }
  init_mbuf_headers(mp, p, iova_va);
  g_pool.mp = mp;
  g_pool.cache_size = cache;
  return mp;
}

void flush_thread_mempool_cache() {
  rte_mempool* mp = g_pool.mp;
  const unsigned lcore = rte_lcore_id();
  if (!mp || lcore == LCORE_ID_ANY) return;
  if (rte_mempool_cache* c = rte_mempool_default_cache(mp, lcore)) rte_mempool_cache_flush(c, mp);
}

MempoolCounters mempool_counters() {
  return {g_dequeued.load(std::memory_order_relaxed), g_enqueued.load(std::memory_order_relaxed),
          g_dequeue_failures.load(std::memory_order_relaxed)};
}
uint32_t mempool_cache_size() { return g_pool.cache_size; }
bool extmem_registered() { return g_pool.extmem_base != nullptr; }

}  // namespace quiver::dpdk
