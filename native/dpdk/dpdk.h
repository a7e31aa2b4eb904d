// The DPDK driver's shared declarations: EAL state, the mbuf pool that IS Quiver's buffer pool,
// and the per-port state the dpdk-input / dpdk-tx nodes read.
//
// Zero-copy mapping (see buffer.h): slot i of Quiver's pool is mbuf i of one rte_mempool.
//   slot + 0    struct rte_mbuf (128 bytes, both cache lines)
//   slot + 128  Quiver Buffer metadata  == rte_mbuf_to_priv(m)  (priv_size 128)
//   slot + 256  mbuf buf_addr, buf_len = kSlotSize - 256
//   packet data at buf_addr + data_off, i.e. Buffer::data_offset == 256 + data_off
// The mempool's objects are never laid out by DPDK: its ops ("quiver") hand out slots from
// Quiver's per-worker caches, so DPDK and every other Quiver driver share one set of buffers.
#pragma once
// rte_thread_register, rte_dev_dma_map and rte_extmem_* are still "experimental" in 22.11.
#ifndef ALLOW_EXPERIMENTAL_API
#define ALLOW_EXPERIMENTAL_API
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_spinlock.h>
#include <rte_version.h>
#pragma GCC diagnostic pop

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../buffer.h"
#include "../interface.h"
#include "../pool.h"

namespace quiver {
class Engine;
class Worker;
}

namespace quiver::dpdk {

static_assert(sizeof(rte_mbuf) == kMbufRoom, "struct rte_mbuf must fill the room buffer.h reserves for it");
constexpr uint32_t kMbufBufOffset = kMbufRoom + kMetaSize;  // buf_addr = slot + 256
constexpr uint16_t kMbufBufLen = kSlotSize - kMbufBufOffset;

// --- EAL (dpdk_eal.cc) ---
bool eal_ready();
// Recent DPDK log lines (the EAL log stream is captured: nothing goes to syslog).
std::string recent_log(size_t max_lines);
// Makes the calling worker thread an EAL thread (lcore id, mempool cache) and points the
// mempool ops at its buffer cache. Idempotent.
void register_worker_thread(Worker& w);
// Registers every worker of the running engine (run_sync on each).
void register_workers(Engine& e);

// --- mbuf pool (dpdk_mempool.cc) ---
// The mempool over the running engine's buffer pool; created on first use, freed at engine stop.
rte_mempool* mbuf_pool(Engine& e);
rte_mempool* mbuf_pool_if_exists();
// Which buffer cache the mempool ops use on this thread (a worker's own cache, or null: a
// locked fallback that is drained after every call so accounting stays exact).
void bind_thread_cache(BufferCache* cache);
// Returns to Quiver's pool whatever DPDK's per-lcore cache of this thread holds.
void flush_thread_mempool_cache();
struct MempoolCounters {
  uint64_t dequeued, enqueued, dequeue_failures;
};
MempoolCounters mempool_counters();
uint32_t mempool_cache_size();
bool extmem_registered();

inline rte_mbuf* mbuf_of(Buffer* b) { return reinterpret_cast<rte_mbuf*>(b->slot()); }
inline Buffer* buffer_of(rte_mbuf* m) { return reinterpret_cast<Buffer*>(reinterpret_cast<uint8_t*>(m) + kMetaOffset); }

// --- ports (dpdk_port.cc) ---
struct Port;

struct RxQueue {
  Port* port;
  uint16_t queue;
};

struct alignas(64) TxQueue {
  rte_spinlock_t lock;  // taken per burst, only when workers outnumber tx queues
};

struct Port {
  uint16_t port_id = 0;
  uint32_t if_index = 0;
  std::atomic<bool> running{false};  // started and polled; cleared before rte_eth_dev_stop
  uint16_t n_rxq = 1, n_txq = 1;
  bool tx_shared = false;            // more workers than tx queues: lock per burst
  bool multi_seg_tx = false;
  uint64_t tx_csum_offloads = 0;     // RTE_ETH_TX_OFFLOAD_{IPV4,UDP,TCP}_CKSUM enabled
  rte_mempool* mp = nullptr;
  std::vector<RxQueue> rxq;
  std::vector<TxQueue> txq;
};

// Per-interface port state for the tx node; written on the control side, read by workers
// after the interface table that routes to it was published.
extern Port* g_ports[kMaxInterfaces];

}  // namespace quiver::dpdk
