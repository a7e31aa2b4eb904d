// dpdk-input and dpdk-tx (packet path). An mbuf and a Buffer are two views of one slot, so
// rx rewrites the Buffer's first metadata line from the mbuf (data_offset, length, checksum
// flags, RSS hash) and tx writes the mbuf fields a PMD reads from the Buffer; no data moves.
//
// Invariant kept for DPDK: an mbuf Quiver holds has refcnt 1 and next == NULL unless it is
// part of a chain being transmitted; chains received from a PMD are unlinked into Quiver
// chains (Buffer::next_buffer) at rx, and unsent chains are unlinked before Quiver frees them.
#include "dpdk.h"  // first: it sets the DPDK API level before any rte header

#include <cstdio>
#include <string>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#include <rte_ip.h>
#pragma GCC diagnostic pop

#include "../clock.h"
#include "../engine.h"
#include "../worker.h"

namespace quiver::dpdk {

Port* g_ports[kMaxInterfaces];

namespace {

constexpr uint16_t kRxBurstMin = 32;  // a PMD that returns fewer than this has nothing more now
constexpr int kTxRetries = 3;
constexpr uint64_t kAttached = RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT;

enum InputNext : uint16_t { kInNextEthernet, kInNextDrop };
enum InputError : uint32_t { kInErrForeign, kInErrAttachedTooLong, kInErrIp4Bad, kInErrL4Bad };
enum TxError : uint32_t { kTxErrNoSpace, kTxErrStopped, kTxErrChain };

inline uint32_t buffer_index(const uint8_t* base, const rte_mbuf* m) {
  return uint32_t((reinterpret_cast<const uint8_t*>(m) - base) / kSlotSize);
}

inline uint32_t rx_flags(uint64_t ol) {
  uint32_t f = 0;
  if ((ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD) f |= kBufIp4ChecksumOk;
  if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD) f |= kBufL4ChecksumOk;
  return f;
}

// Metadata line 0 of the slot's Buffer from one segment, as Buffer::reset() would leave it.
inline void segment_to_buffer(const rte_mbuf* m, Buffer* b, uint32_t rx_if, uint32_t flags) {
  std::memset(static_cast<void*>(b), 0, 64);
  b->data_offset = uint16_t(kMbufBufOffset + m->data_off);
  b->length = m->data_len;
  b->flags = flags;
  b->rx_if = rx_if;
  b->tx_if = kInvalidIf;
  b->next_buffer = kInvalidBuffer;
  b->flow_hash = (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) ? m->hash.rss : 0;
}

struct InputTrace {
  uint16_t port, queue;
  uint32_t if_index;
  uint64_t ol_flags;
  uint32_t pkt_len;
  uint16_t data_off, nb_segs;
  uint32_t buffer_flags;
};
std::string format_input(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const InputTrace*>(d);
  char b[256];
  snprintf(b, sizeof b, "dpdk port %u queue %u -> interface %u: %u bytes in %u segment(s), data_off %u, ol_flags 0x%llx%s%s",
           t->port, t->queue, t->if_index, t->pkt_len, t->nb_segs, t->data_off, (unsigned long long)t->ol_flags,
           (t->buffer_flags & kBufIp4ChecksumOk) ? ", ip4-checksum-ok" : "",
           (t->buffer_flags & kBufL4ChecksumOk) ? ", l4-checksum-ok" : "");
  return b;
}

// Data outside our slot (an indirect mbuf or an external buffer, which some NIC PMDs produce):
// copy it home and release the attachment as rte_pktmbuf_detach would, restoring the slot's
// own buf_addr (DPDK's detach would read a mempool object header our slots do not have).
bool adopt_attached(rte_mbuf* m) {
  const bool fits = m->nb_segs == 1 && m->data_len <= kDataSize;
  uint8_t* slot = reinterpret_cast<uint8_t*>(m);
  if (fits) std::memcpy(slot + kDataOffset, rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
  if (RTE_MBUF_HAS_EXTBUF(m)) __rte_pktmbuf_free_extbuf(m);
  else __rte_pktmbuf_free_direct(m);
  m->buf_addr = slot + kMbufBufOffset;
  m->buf_iova = rte_eal_iova_mode() == RTE_IOVA_VA ? rte_iova_t(reinterpret_cast<uintptr_t>(m->buf_addr)) : RTE_BAD_IOVA;
  m->buf_len = kMbufBufLen;
  m->priv_size = kMetaSize;
  m->ol_flags &= ~kAttached;
  m->data_off = uint16_t(kDataOffset - kMbufBufOffset);
  m->shinfo = nullptr;
  return fits;
}

// The uncommon packets of a burst: chains, mbufs that are not ours, attached data, bad
// checksums. Returns how many packets of bi[] remain (dropped ones are removed in place).
__attribute__((noinline)) uint32_t rx_slow_pass(Worker& w, NodeRuntime& node, rte_mempool* mp, rte_mbuf** m, uint32_t* bi,
                                                uint32_t n, uint32_t if_index, uint64_t* bytes, uint32_t* ours) {
  const uint8_t* base = w.pool().base();
  uint32_t out = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* x = m[i];
    if (bi[i] != kInvalidBuffer) {
      bi[out] = bi[i];
      m[out++] = x;
      continue;
    }
    if (x->pool != mp) {  // not a Quiver slot: give it back to whoever owns it
      w.count_error(node, kInErrForeign);
      --*ours;
      rte_pktmbuf_free(x);
      continue;
    }
    if (x->ol_flags & kAttached) {
      if (!adopt_attached(x)) {
        w.count_error(node, kInErrAttachedTooLong);
        const uint32_t idx = buffer_index(base, x);
        w.pool().free_unchained(w.cache(), &idx, 1);  // ours, back from DPDK: still counted in `ours`
        continue;
      }
    }
    Buffer* b = buffer_of(x);
    segment_to_buffer(x, b, if_index, rx_flags(x->ol_flags));
    if ((x->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) w.count_error(node, kInErrIp4Bad);
    if ((x->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) w.count_error(node, kInErrL4Bad);
    *bytes += x->pkt_len;
    if (x->nb_segs > 1) {
      b->total_length_not_including_first = x->pkt_len - x->data_len;
      Buffer* prev = b;
      rte_mbuf* seg = x->next;
      x->next = nullptr;
      x->nb_segs = 1;
      while (seg) {
        rte_mbuf* following = seg->next;
        Buffer* sb = buffer_of(seg);
        segment_to_buffer(seg, sb, if_index, 0);
        prev->flags |= kBufNextPresent;
        prev->next_buffer = buffer_index(base, seg);
        seg->next = nullptr;
        seg->nb_segs = 1;
        ++*ours;
        prev = sb;
        seg = following;
      }
    }
    bi[out] = buffer_index(base, x);
    m[out++] = x;
  }
  return out;
}

uint64_t g_idle_wake_tsc = 0;

template <bool Trace>
uint32_t poll_queue(Worker& w, NodeRuntime& node, const RxQueueRef& q, RxQueue& rq) {
  Port& p = *rq.port;
  rte_mbuf* m[kFrameSize];
  uint32_t n = 0;
  while (n < kFrameSize) {
    const uint16_t k = rte_eth_rx_burst(p.port_id, rq.queue, m + n, uint16_t(kFrameSize - n));
    n += k;
    if (k < kRxBurstMin) break;
  }
  if (n == 0) {
    // Adaptive: no rx interrupts for these ports, so a sleeping worker must come back soon;
    // 2 ms from now makes the engine sleep ~1 ms slices (its epoll granularity) when idle.
    if (q.mode == RxMode::Adaptive) w.wake_by(w.now_tsc() + g_idle_wake_tsc);
    return 0;
  }
  const uint8_t* base = w.pool().base();
  rte_mempool* mp = p.mp;
  uint32_t bi[kFrameSize];
  uint64_t bytes = 0;
  bool uncommon = false;
  auto one = [&](uint32_t i) {
    rte_mbuf* x = m[i];
    const uint64_t ol = x->ol_flags;
    if (__builtin_expect(x->pool != mp || (ol & kAttached) || x->nb_segs != 1 ||
                             (ol & (RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD)),
                         0)) {
      bi[i] = kInvalidBuffer;
      uncommon = true;
      return;
    }
    segment_to_buffer(x, buffer_of(x), p.if_index, rx_flags(ol));
    bytes += x->data_len;
    bi[i] = buffer_index(base, x);
  };
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      rte_prefetch0(m[i + k]);
      __builtin_prefetch(buffer_of(m[i + k]), 1);
    }
    one(i);
    one(i + 1);
    one(i + 2);
    one(i + 3);
  }
  for (; i < n; ++i) one(i);
  uint32_t ours = n;  // slots that came back from DPDK (segments included)
  if (__builtin_expect(uncommon, 0)) n = rx_slow_pass(w, node, mp, m, bi, n, p.if_index, &bytes, &ours);
  w.pool().account_held(-int64_t(ours));
  if (n == 0) return 0;
  w.count_rx(p.if_index, n, bytes);
  w.capture(p.if_index, false, bi, n);
  if constexpr (Trace) {
    w.trace_input(node, bi, n);
    for (uint32_t k = 0; k < n; ++k) {
      Buffer* b = buffer_of(m[k]);
      if (!(b->flags & kBufTraced)) continue;
      uint16_t nsegs = 1;
      for (Buffer* c = b; c->flags & kBufNextPresent; c = w.buffer(c->next_buffer)) ++nsegs;
      InputTrace t{p.port_id, rq.queue, p.if_index, m[k]->ol_flags, b->total_length(), m[k]->data_off, nsegs, b->flags};
      w.trace(node, b, &t, sizeof t);
    }
  }
  w.enqueue(node, kInNextEthernet, bi, n);
  return n;
}

template <bool Trace>
uint32_t dpdk_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  bind_thread_cache(&w.cache());
  uint32_t total = 0;
  for (const RxQueueRef& q : node.rx_queues) {
    auto* rq = static_cast<RxQueue*>(q.ctx);
    if (__builtin_expect(!rq->port->running.load(std::memory_order_acquire), 0)) continue;
    total += poll_queue<Trace>(w, node, q, *rq);
  }
  return total;
}

QUIVER_NODE(dpdk_input, {
  .name = "dpdk-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(dpdk_input),
  .next_nodes = {"ethernet-input", "error-drop"},
  .errors = {{"foreign-mbuf", "mbuf not from Quiver's pool (returned to its owner)", Severity::Error},
             {"attached-too-long", "indirect/external mbuf data too long to bring into the slot", Severity::Error},
             {"ip4-checksum-bad", "port reports a bad IPv4 header checksum (passed on)", Severity::Info},
             {"l4-checksum-bad", "port reports a bad L4 checksum (passed on)", Severity::Info}},
  .format_trace = format_input,
});

struct TxTrace {
  uint16_t port, queue;
  uint32_t if_index;
  uint32_t pkt_len;
  uint16_t data_off, nb_segs;
  uint64_t ol_flags;
};
std::string format_tx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const TxTrace*>(d);
  char b[200];
  snprintf(b, sizeof b, "interface %u -> dpdk port %u queue %u: %u bytes in %u segment(s), data_off %u, ol_flags 0x%llx",
           t->if_index, t->port, t->queue, t->pkt_len, t->nb_segs, t->data_off, (unsigned long long)t->ol_flags);
  return b;
}

// TX L4 checksum the packet still needs (kBufOffloadL4Csum): the port computes it when it
// offers the offload (DPDK wants the pseudo-header sum in the field), else software does.
void tx_l4_checksum(Buffer* b, rte_mbuf* x, const Port& p) {
  uint8_t* l3 = b->at(b->l3_offset);
  uint8_t* l4 = b->at(b->l4_offset);
  const bool v4 = (l3[0] >> 4) == 4;
  const uint8_t proto = v4 ? l3[9] : l3[6];
  if (proto != IPPROTO_UDP && proto != IPPROTO_TCP) return;
  auto* field = reinterpret_cast<uint16_t*>(l4 + (proto == IPPROTO_UDP ? 6 : 16));
  const uint64_t need = proto == IPPROTO_UDP ? RTE_ETH_TX_OFFLOAD_UDP_CKSUM : RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  if (p.tx_csum_offloads & need) {
    x->l2_len = uint16_t(b->l3_offset - b->data_offset);
    x->l3_len = uint16_t(b->l4_offset - b->l3_offset);
    x->ol_flags |= (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) |
                   (proto == IPPROTO_UDP ? RTE_MBUF_F_TX_UDP_CKSUM : RTE_MBUF_F_TX_TCP_CKSUM);
    *field = v4 ? rte_ipv4_phdr_cksum(reinterpret_cast<rte_ipv4_hdr*>(l3), x->ol_flags)
                : rte_ipv6_phdr_cksum(reinterpret_cast<rte_ipv6_hdr*>(l3), x->ol_flags);
    return;
  }
  *field = 0;
  *field = v4 ? rte_ipv4_udptcp_cksum(reinterpret_cast<rte_ipv4_hdr*>(l3), l4)
              : rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(l3), l4);
}

inline void rearm(rte_mbuf* x, const Buffer* b, uint16_t port) {
  x->data_off = uint16_t(b->data_offset - kMbufBufOffset);
  x->refcnt = 1;
  x->nb_segs = 1;
  x->port = port;
  x->ol_flags = 0;
  x->data_len = b->length;
  x->pkt_len = b->length;
}

// Links a Quiver chain into an mbuf chain; returns its segment count.
uint16_t chain_to_mbufs(Worker& w, Buffer* b, rte_mbuf* head, uint16_t port) {
  uint16_t segs = 1;
  rte_mbuf* prev = head;
  for (Buffer* c = b; c->flags & kBufNextPresent;) {
    c = w.buffer(c->next_buffer);
    rte_mbuf* seg = mbuf_of(c);
    rearm(seg, c, port);
    seg->next = nullptr;
    prev->next = seg;
    prev = seg;
    ++segs;
  }
  head->nb_segs = segs;
  head->pkt_len = b->total_length();
  return segs;
}

void unlink_chain(rte_mbuf* head) {
  for (rte_mbuf* s = head; s;) {
    rte_mbuf* next = s->next;
    s->next = nullptr;
    s->nb_segs = 1;
    s = next;
  }
}

template <bool Trace>
void send_run(Worker& w, NodeRuntime& node, uint32_t tx_if, const uint32_t* bi, uint32_t n) {
  Port* p = g_ports[tx_if];
  if (__builtin_expect(!p || !p->running.load(std::memory_order_acquire), 0)) {
    w.count_error(node, kTxErrStopped, n);
    w.count_if(tx_if, kIfTxErrors, n);
    w.free(bi, n);
    return;
  }
  const uint16_t port = p->port_id;
  const uint16_t queue = uint16_t(w.id() % p->n_txq);
  rte_mbuf* m[kFrameSize];
  uint32_t out_bi[kFrameSize];
  uint16_t segs[kFrameSize];
  uint32_t k = 0, dropped = 0;
  uint64_t bytes = 0;
  bool chains = false;
  auto one = [&](uint32_t i) {
    Buffer* b = w.buffer(bi[i]);
    rte_mbuf* x = mbuf_of(b);
    rearm(x, b, port);
    segs[k] = 1;
    if (__builtin_expect(b->flags & (kBufNextPresent | kBufOffloadL4Csum), 0)) {
      if (b->flags & kBufNextPresent) {
        if (!p->multi_seg_tx) {
          w.count_error(node, kTxErrChain);
          w.free(&bi[i], 1);
          ++dropped;
          return;
        }
        segs[k] = chain_to_mbufs(w, b, x, port);
        chains = true;
      }
      if (b->flags & kBufOffloadL4Csum) tx_l4_checksum(b, x, *p);
    }
    bytes += x->pkt_len;
    m[k] = x;
    out_bi[k++] = bi[i];
  };
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t a = 4; a < 8; ++a) {
      Buffer* ahead = w.buffer(bi[i + a]);
      __builtin_prefetch(ahead);
      __builtin_prefetch(mbuf_of(ahead), 1);
    }
    one(i);
    one(i + 1);
    one(i + 2);
    one(i + 3);
  }
  for (; i < n; ++i) one(i);
  if (dropped) w.count_if(tx_if, kIfTxErrors, dropped);
  if (k == 0) return;
  // Trace and capture before the PMD owns the packets: once sent, another thread may reuse them.
  w.capture(tx_if, true, out_bi, k);
  if constexpr (Trace) {
    for (uint32_t j = 0; j < k; ++j) {
      Buffer* b = w.buffer(out_bi[j]);
      TxTrace t{port, queue, tx_if, m[j]->pkt_len, m[j]->data_off, m[j]->nb_segs, m[j]->ol_flags};
      w.trace(node, b, &t, sizeof t);
    }
  }
  TxQueue& tq = p->txq[queue];
  if (p->tx_shared) rte_spinlock_lock(&tq.lock);
  uint32_t sent = 0;
  for (int idle = 0; sent < k;) {
    const uint16_t s = rte_eth_tx_burst(port, queue, m + sent, uint16_t(k - sent));
    sent += s;
    if (s == 0 && ++idle >= kTxRetries) break;
  }
  if (p->tx_shared) rte_spinlock_unlock(&tq.lock);
  uint64_t held = sent;
  if (__builtin_expect(chains, 0)) {
    held = 0;
    for (uint32_t j = 0; j < sent; ++j) held += segs[j];
  }
  w.pool().account_held(int64_t(held));
  if (__builtin_expect(sent < k, 0)) {
    for (uint32_t j = sent; j < k; ++j) {
      bytes -= w.buffer(out_bi[j])->total_length();  // unsent: still ours to read
      if (segs[j] > 1) unlink_chain(m[j]);
    }
    w.count_if(tx_if, kIfTxNoSpace, k - sent);
    w.count_error(node, kTxErrNoSpace, k - sent);
    w.free(out_bi + sent, k - sent);
  }
  w.count_tx(tx_if, sent, bytes);
}

template <bool Trace>
uint32_t dpdk_tx(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  bind_thread_cache(&w.cache());
  uint32_t start = 0;
  while (start < n) {
    const uint32_t tx = w.buffer(bi[start])->tx_if;
    uint32_t end = start + 1;
    while (end < n && w.buffer(bi[end])->tx_if == tx) ++end;
    send_run<Trace>(w, node, tx, bi + start, end - start);
    start = end;
  }
  return n;
}

QUIVER_NODE(dpdk_tx, {
  .name = "dpdk-tx",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(dpdk_tx),
  .next_nodes = {},
  .errors = {{"no-tx-space", "tx queue full after retries (dropped)", Severity::Error},
             {"port-stopped", "port is stopped (admin down or being deleted)", Severity::Error},
             {"chain-unsupported", "chained buffer and the port has no multi-segment tx", Severity::Error}},
  .format_trace = format_tx,
});
QUIVER_ARC(dpdk_tx, "interface-output", "dpdk-tx");

}  // namespace

void set_idle_wake_ns(uint64_t ns) { g_idle_wake_tsc = ns_to_tsc(ns); }

}  // namespace quiver::dpdk
