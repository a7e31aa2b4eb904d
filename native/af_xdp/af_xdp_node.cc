// af_xdp packet path: af-xdp-input turns rx descriptors into buffers (the data is already in
// the slot: no copy) and keeps the fill ring stocked; af-xdp-output puts buffer data on the tx
// ring in place, kicks the kernel once per vector and returns completed buffers to the pool.
#include <emmintrin.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "../engine.h"
#include "../netdev/l4_checksum.h"
#include "../worker.h"
#include "af_xdp.h"
#include "../netdev/tx_lock.h"

namespace quiver {
namespace {

constexpr uint64_t kAddrMask = (1ull << 48) - 1;  // unaligned mode: offset in the top 16 bits
constexpr uint32_t kFillBatch = 32;

// Unaligned-mode address -> (buffer index, data offset in its slot).
inline bool decode(uint64_t addr, uint32_t total, uint32_t* bi, uint32_t* off) {
  const uint64_t a = (addr & kAddrMask) + (addr >> 48);
  const uint64_t b = a / kSlotSize;
  if (__builtin_expect(b >= total, 0)) return false;
  *bi = uint32_t(b);
  *off = uint32_t(a - b * kSlotSize);
  return true;
}

inline void refill(Worker& w, AfXdpQueue& q) {
  XskRing& f = q.fill;
  uint32_t want = f.free_slots();
  if (want < kFillBatch) return;
  if (want > kFrameSize) want = kFrameSize;
  uint32_t idx[kFrameSize];
  const uint32_t got = w.alloc(idx, want);
  for (uint32_t i = 0; i < got; ++i) {
    f.addrs()[(f.cached_prod + i) & f.mask] = uint64_t(idx[i]) * kSlotSize;
    q.posted.set(idx[i]);
  }
  if (!got) return;
  w.pool().account_held(got);
  f.submit(got);
}

// Completed tx descriptors: their buffers go back to the pool.
inline void reap(Worker& w, AfXdpQueue& q) {
  XskRing& c = q.comp;
  const uint32_t total = w.pool().total();
  for (uint32_t n = c.available(); n;) {
    const uint32_t k = n < kFrameSize ? n : kFrameSize;
    uint32_t idx[kFrameSize], m = 0, bi, off;
    for (uint32_t i = 0; i < k; ++i)
      if (decode(c.addrs()[(c.cached_cons + i) & c.mask], total, &bi, &off) && q.sending.take(bi)) idx[m++] = bi;
    c.release(k);
    w.pool().free_unchained(w.cache(), idx, m);
    w.pool().account_held(-int64_t(m));
    n -= k;
  }
}

enum RxNext : uint16_t { kRxNextEthernet, kRxNextDrop };
enum RxError : uint32_t { kRxErrBadDescriptor, kRxErrAdminDown };

struct RxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint32_t buffer;
  uint16_t length;
  uint16_t data_offset;
};
std::string format_rx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const RxTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "af_xdp: interface %u queue %u, %u bytes in buffer %u at offset %u (zero copy)", t->if_index,
           t->queue, t->length, t->buffer, t->data_offset);
  return b;
}

inline void init_rx(Buffer* b, uint16_t len, uint16_t off, uint32_t if_index) {
  b->reset(len);
  b->data_offset = off;
  b->rx_if = if_index;
}

template <bool Trace>
uint32_t rx_queue(Worker& w, NodeRuntime& node, AfXdpQueue& q) {
  refill(w, q);
  XskRing& r = q.rx;
  uint32_t n = r.available();
  if (!n) return 0;
  if (n > kFrameSize) n = kFrameSize;
  const uint32_t total = w.pool().total();
  const uint32_t if_index = q.intf->if_index;
  uint32_t bi[kFrameSize];
  uint16_t len[kFrameSize], off[kFrameSize];
  uint32_t good = 0, bad = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const xdp_desc& d = r.descs()[(r.cached_cons + i) & r.mask];
    uint32_t b, o;
    if (__builtin_expect(!decode(d.addr, total, &b, &o) || !q.posted.take(b), 0)) {
      ++bad;  // not a buffer this queue posted: never touch it
      continue;
    }
    if (__builtin_expect(o < kXdpFrameHeadroom || o + d.len > kSlotSize, 0)) {
      w.pool().free_unchained(w.cache(), &b, 1);
      w.pool().account_held(-1);
      ++bad;
      continue;
    }
    bi[good] = b;
    len[good] = uint16_t(d.len);
    off[good] = uint16_t(o);
    ++good;
  }
  r.release(n);
  if (bad) {
    w.count_error(node, kRxErrBadDescriptor, bad);
    w.count_if(if_index, kIfRxErrors, bad);
  }
  if (!good) return 0;
  w.pool().account_held(-int64_t(good));
  Buffer* b[kFrameSize];
  w.buffers(bi, b, good);
  uint64_t bytes = 0;
  uint32_t i = 0;
  for (; i + 8 <= good; i += 4) {
    __builtin_prefetch(b[i + 4], 1);
    __builtin_prefetch(b[i + 5], 1);
    __builtin_prefetch(b[i + 6], 1);
    __builtin_prefetch(b[i + 7], 1);
    init_rx(b[i], len[i], off[i], if_index);
    init_rx(b[i + 1], len[i + 1], off[i + 1], if_index);
    init_rx(b[i + 2], len[i + 2], off[i + 2], if_index);
    init_rx(b[i + 3], len[i + 3], off[i + 3], if_index);
    bytes += uint32_t(len[i]) + len[i + 1] + len[i + 2] + len[i + 3];
  }
  for (; i < good; ++i) {
    init_rx(b[i], len[i], off[i], if_index);
    bytes += len[i];
  }
  w.count_rx(if_index, good, bytes);
  w.capture(if_index, false, bi, good);
  if constexpr (Trace) {
    w.trace_input(node, bi, good);
    for (i = 0; i < good; ++i) {
      RxTrace t{if_index, q.queue_id, bi[i], len[i], off[i]};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  if (__builtin_expect(!w.interfaces().entry[if_index].admin_up, 0)) {
    for (i = 0; i < good; ++i) b[i]->error = node.error_code(kRxErrAdminDown);
    w.enqueue(node, kRxNextDrop, bi, good);
  } else {
    w.enqueue(node, kRxNextEthernet, bi, good);
  }
  return good;
}

template <bool Trace>
uint32_t af_xdp_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  uint32_t total = 0;
  for (const RxQueueRef& rq : node.rx_queues) total += rx_queue<Trace>(w, node, *static_cast<AfXdpQueue*>(rq.ctx));
  return total;
}

QUIVER_NODE(af_xdp_input, {
  .name = "af-xdp-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(af_xdp_input),
  .next_nodes = {"ethernet-input", "error-drop"},
  .errors = {{"bad-descriptor", "rx descriptor names no buffer this queue posted", Severity::Error},
             {"admin-down", "received on an administratively down interface", Severity::Warning}},
  .format_trace = format_rx,
});

enum TxNext : uint16_t { kTxNextDrop };
enum TxError : uint32_t { kTxErrRingFull, kTxErrChained, kTxErrGone, kTxErrKick, kTxCsumCompleted };

struct TxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint16_t length;
  uint8_t csum;
};
std::string format_tx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const TxTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "af_xdp: tx interface %u queue %u, %u bytes%s", t->if_index, t->queue, t->length,
           t->csum ? ", L4 checksum completed" : "");
  return b;
}

// Sends one run of packets for one interface; what cannot go is appended to drop[].
template <bool Trace>
void send_run(Worker& w, NodeRuntime& node, uint32_t tx, const uint32_t* bi, uint32_t n, uint32_t* drop, uint32_t* n_drop) {
  AfXdpInterface* xi = g_af_xdp[tx];
  if (__builtin_expect(!xi || xi->gone.load(std::memory_order_relaxed), 0)) {
    for (uint32_t i = 0; i < n; ++i) {
      w.buffer(bi[i])->error = node.error_code(kTxErrGone);
      drop[(*n_drop)++] = bi[i];
    }
    w.count_if(tx, kIfTxErrors, n);
    return;
  }
  AfXdpQueue& q = *xi->tx_queue(w.id());
  netdev::TxQueueLock lock(q.tx_lock, xi->tx_shared);
  reap(w, q);
  XskRing& t = q.tx;
  const uint32_t room = t.free_slots();
  uint32_t sent_idx[kFrameSize];
  uint32_t sent = 0, full = 0, chained = 0, completed = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (i + 4 < n) __builtin_prefetch(w.buffer(bi[i + 4]));
    if (__builtin_expect(b->flags & kBufNextPresent, 0)) {
      b->error = node.error_code(kTxErrChained);  // longer than one UMEM frame
      drop[(*n_drop)++] = bi[i];
      ++chained;
      continue;
    }
    if (__builtin_expect(sent == room, 0)) {
      b->error = node.error_code(kTxErrRingFull);
      drop[(*n_drop)++] = bi[i];
      ++full;
      continue;
    }
    const bool csum = b->flags & kBufOffloadL4Csum;
    if (csum) completed += netdev::complete_l4_checksum(b->data(), b->length);
    xdp_desc& d = t.descs()[(t.cached_prod + sent) & t.mask];
    d.addr = uint64_t(bi[i]) * kSlotSize + b->data_offset;
    d.len = b->length;
    d.options = 0;
    q.sending.set(bi[i]);
    bytes += b->length;
    if constexpr (Trace) {
      TxTrace tr{tx, q.queue_id, b->length, uint8_t(csum)};
      w.trace(node, b, &tr, sizeof tr);
    }
    sent_idx[sent++] = bi[i];
  }
  if (sent) {
    w.capture(tx, true, sent_idx, sent);
    t.submit(sent);
    w.pool().account_held(sent);
    // Copy mode transmits inside sendto(); EAGAIN means "budget or completion ring
    // exhausted": reap and go on until the kernel has taken the whole ring.
    for (int tries = 0; tries < 16 && t.needs_wakeup(); ++tries) {
      if (sendto(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0 || (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)) {
        if (errno == ENETDOWN || errno == ENXIO) w.count_error(node, kTxErrKick);
        break;
      }
      reap(w, q);
      if (__atomic_load_n(t.consumer, __ATOMIC_ACQUIRE) == t.cached_prod) break;
    }
    reap(w, q);
    w.count_tx(tx, sent, bytes);
  }
  if (full) w.count_if(tx, kIfTxNoSpace, full);
  if (chained) w.count_if(tx, kIfTxErrors, chained);
  if (completed) w.count_error(node, kTxCsumCompleted, completed);
}

template <bool Trace>
uint32_t af_xdp_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  uint32_t drop[kFrameSize], n_drop = 0;
  uint32_t start = 0;
  while (start < n) {
    const uint32_t tx = w.buffer(bi[start])->tx_if;
    uint32_t end = start + 1;
    while (end < n && w.buffer(bi[end])->tx_if == tx) ++end;
    send_run<Trace>(w, node, tx, bi + start, end - start, drop, &n_drop);
    start = end;
  }
  if (n_drop) w.enqueue(node, kTxNextDrop, drop, n_drop);
  return n;
}

QUIVER_NODE(af_xdp_output, {
  .name = "af-xdp-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(af_xdp_output),
  .next_nodes = {"error-drop"},
  .errors = {{"tx-ring-full", "AF_XDP tx ring full", Severity::Error},
             {"chained", "frame longer than one AF_XDP frame", Severity::Error},
             {"interface-gone", "the Linux interface no longer exists", Severity::Error},
             {"kick-failed", "sendto() kick failed: interface down or unbound", Severity::Error},
             {"l4-checksum-completed", "TCP/UDP checksum left undone by the sender, computed here", Severity::Info}},
  .format_trace = format_tx,
});
QUIVER_ARC(af_xdp_output, "interface-output", "af-xdp-output");

}  // namespace
}  // namespace quiver
