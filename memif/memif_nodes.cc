// memif-input and memif-tx: the packet path of the memif driver, copy mode in both roles.
// Both read the interface's `live` connection once per burst (acquire); it is swapped and freed
// by the control thread only after an epoch grace period, so a burst never sees it vanish.
// Every violation the peer commits in shared memory is dropped, counted and reported to the
// control thread, which disconnects the peer.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "../native/engine.h"
#include "../native/worker.h"
#include "memif_if.h"

namespace quiver {
namespace {

using memif::Error;
using memif::Role;

enum InNext : uint16_t { kInEthernet, kInIp4, kInIp6, kInXconnect, kInDrop };
enum InError : uint32_t { kInBadDesc, kInBadIndex, kInTooLong, kInNoBuffer, kInBadIp, kInNoIpInput };

struct InTrace {
  uint32_t if_index;
  uint16_t queue;
  uint16_t slot;
  uint32_t length;
  uint8_t head[16];
};
std::string format_input(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const InTrace*>(d);
  char b[160];
  int n = snprintf(b, sizeof b, "memif %u queue %u slot %u, %u bytes\n    ", t->if_index, t->queue, t->slot, t->length);
  for (uint32_t i = 0; i < 16 && i < t->length; ++i) n += snprintf(b + n, sizeof b - n, "%02x", t->head[i]);
  return b;
}

// IP mode: no L2 header; cross-connected interfaces forward as is, others go to IPv4/IPv6 input.
inline uint16_t ip_next(NodeRuntime& node, const IfRuntime& rt, Buffer* b) {
  b->l3_offset = b->data_offset;
  if (rt.mode == IfMode::XConnect) return kInXconnect;
  const uint8_t v = b->data()[0] >> 4;
  const uint16_t next = v == 4 ? kInIp4 : v == 6 ? kInIp6 : kInDrop;
  if (next == kInDrop) {
    b->error = node.error_code(kInBadIp);
    return kInDrop;
  }
  b->ethertype = v == 4 ? 0x0800 : 0x86dd;
  if (!node.info->next_resolved[next]) {
    b->error = node.error_code(kInNoIpInput);
    return kInDrop;
  }
  return next;
}

// Interrupt bookkeeping after a poll. Polling: the peer must not signal (MASK_INT). Otherwise an
// idle queue unmasks, clears the wake-up it may have left, and looks once more because a packet
// published just before the unmask got no signal. Adaptive masks again while busy.
inline void after_poll(Worker& w, const RxQueueRef& rq, memif::RxState& r, Role role, uint32_t avail) {
  if (rq.mode == RxMode::Polling) {
    if (!r.masked) {
      __atomic_store_n(r.v.flags, memif::kRingFlagMaskInt, __ATOMIC_RELAXED);
      r.masked = true;
    }
    return;
  }
  if (avail == 0) {
    if (r.masked) {
      __atomic_store_n(r.v.flags, uint16_t(0), __ATOMIC_RELAXED);
      r.masked = false;
    }
    uint64_t v;
    ssize_t n = read(r.v.int_fd, &v, sizeof v);
    (void)n;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const uint16_t peer = memif::load_acquire(role == Role::Server ? r.v.head : r.v.tail);
    if (peer != r.cursor) w.wake_by(w.now_tsc());
  } else if (rq.mode == RxMode::Adaptive && !r.masked) {
    __atomic_store_n(r.v.flags, memif::kRingFlagMaskInt, __ATOMIC_RELAXED);
    r.masked = true;
  } else if (rq.mode == RxMode::Interrupt && r.masked) {
    __atomic_store_n(r.v.flags, uint16_t(0), __ATOMIC_RELAXED);
    r.masked = false;
  }
}

template <bool Trace>
uint32_t memif_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  uint32_t total = 0;
  uint32_t bi[kFrameSize];
  for (const RxQueueRef& rq : node.rx_queues) {
    auto* q = static_cast<MemifRxQueue*>(rq.ctx);
    MemifLive* l = q->mif->live.load(std::memory_order_acquire);
    // A peer that broke the protocol is not read again while the control thread disconnects it.
    if (!l || q->qid >= l->n_rx || l->fault.load(std::memory_order_relaxed)) continue;
    memif::RxState& r = l->rx[q->qid];
    const uint16_t first_slot = r.cursor;
    memif::RxResult res;
    const uint32_t n = memif::rx_burst(w.pool(), w.cache(), r, l->regions.data(), uint32_t(l->regions.size()), l->role,
                                       rq.if_index, bi, kFrameSize, res);
    if (__builtin_expect(res.bad_desc | res.bad_index | (res.too_long != 0) | (res.no_buffer != 0), 0)) {
      if (res.bad_desc) w.count_error(node, kInBadDesc);
      if (res.bad_index) w.count_error(node, kInBadIndex);
      if (res.bad_desc || res.bad_index) {
        w.count_if(rq.if_index, kIfRxErrors, 1);
        memif_fault(l, res.bad_index ? Error::RingIndex : Error::Descriptor);
      }
      if (res.too_long) {
        w.count_error(node, kInTooLong, res.too_long);
        w.count_if(rq.if_index, kIfDrops, res.too_long);
      }
      if (res.no_buffer) {
        w.count_error(node, kInNoBuffer, res.no_buffer);
        w.count_if(rq.if_index, kIfRxNoBuffer, res.no_buffer);
      }
    }
    after_poll(w, rq, r, l->role, res.avail);
    if (!n) continue;
    w.count_rx(rq.if_index, n, res.bytes);
    w.capture(rq.if_index, false, bi, n);
    if constexpr (Trace) {
      w.trace_input(node, bi, n);
      for (uint32_t i = 0; i < n; ++i) {
        Buffer* b = w.buffer(bi[i]);
        InTrace t{rq.if_index, uint16_t(q->qid), uint16_t(first_slot + i), b->total_length(), {}};
        std::memcpy(t.head, b->data(), b->length < 16 ? b->length : 16);
        w.trace(node, b, &t, sizeof t);
      }
    }
    if (__builtin_expect(l->mode == memif::Mode::Ethernet, 1)) {
      w.enqueue(node, kInEthernet, bi, n);  // every packet to ethernet-input: one bulk enqueue
    } else {
      const IfRuntime& rt = w.interfaces().entry[rq.if_index];
      uint16_t next[kFrameSize];
      for (uint32_t i = 0; i < n; ++i) next[i] = ip_next(node, rt, w.buffer(bi[i]));
      w.enqueue_to_nexts(node, bi, next, n);
    }
    total += n;
  }
  return total;
}

QUIVER_NODE(memif_input, {
  .name = "memif-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(memif_input),
  .next_nodes = {"ethernet-input", "ip4-input", "ip6-input", "l2-xconnect", "error-drop"},
  .errors = {{"bad-descriptor", "descriptor outside the negotiated regions, empty, or an endless chain (peer disconnected)", Severity::Error},
             {"bad-ring-index", "peer moved its ring index further than the ring (peer disconnected)", Severity::Error},
             {"frame-too-long", "packet longer than 65535 bytes or 64 descriptors", Severity::Error},
             {"no-buffer", "buffer pool exhausted: packets left in the ring", Severity::Warning},
             {"bad-ip-version", "IP mode: packet is neither IPv4 nor IPv6", Severity::Error},
             {"no-ip-input", "IP mode: no IP input node compiled in", Severity::Error}},
  .format_trace = format_input,
});

enum TxError : uint32_t { kTxNotConnected, kTxRingFull, kTxEmpty, kTxBadDesc, kTxBadIndex };

struct TxTrace {
  uint32_t if_index;
  uint16_t ring;
  uint32_t length;
};
std::string format_tx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const TxTrace*>(d);
  return "memif " + std::to_string(t->if_index) + " tx ring " + std::to_string(t->ring) + ", " + std::to_string(t->length) + " bytes";
}

// Packets arrive in runs of one tx interface; each run is one burst into one ring.
template <bool Trace>
uint32_t memif_tx(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  uint32_t start = 0;
  while (start < n) {
    const uint32_t tx = w.buffer(bi[start])->tx_if;
    uint32_t end = start + 1;
    while (end < n && w.buffer(bi[end])->tx_if == tx) ++end;
    const uint32_t k = end - start;
    MemifIf* m = tx < kMaxInterfaces ? g_memif[tx] : nullptr;
    MemifLive* l = m ? m->live.load(std::memory_order_acquire) : nullptr;
    if (l && l->fault.load(std::memory_order_relaxed)) l = nullptr;  // being disconnected
    const uint32_t ring = l ? w.id() % l->n_tx : 0;
    if constexpr (Trace) {
      for (uint32_t i = start; i < end; ++i) {
        Buffer* b = w.buffer(bi[i]);
        TxTrace t{tx, uint16_t(ring), b->total_length()};
        w.trace(node, b, &t, sizeof t);
      }
    }
    if (__builtin_expect(!l, 0)) {
      w.count_error(node, kTxNotConnected, k);
      if (tx < kMaxInterfaces) w.count_if(tx, kIfTxErrors, k);
      start = end;
      continue;
    }
    w.capture(tx, true, bi + start, k);
    memif::TxState& t = l->tx[ring];
    memif::TxResult res;
    if (t.shared) t.acquire();
    memif::tx_burst(w.pool(), t, l->regions.data(), uint32_t(l->regions.size()), l->role, bi + start, k, res);
    const bool signal = res.sent && memif::wants_signal(t.v);
    if (t.shared) t.release();
    if (signal) {
      const uint64_t one = 1;
      ssize_t r = write(t.v.int_fd, &one, sizeof one);
      (void)r;
    }
    w.count_tx(tx, res.sent, res.bytes);
    if (__builtin_expect(res.no_space | res.empty | res.aborted, 0)) {
      if (res.no_space) {
        w.count_error(node, kTxRingFull, res.no_space);
        w.count_if(tx, kIfTxNoSpace, res.no_space);
      }
      if (res.empty) w.count_error(node, kTxEmpty, res.empty);
      if (res.aborted) w.count_if(tx, kIfTxErrors, res.aborted);
      if (res.bad_desc || res.bad_index) {
        w.count_error(node, res.bad_index ? kTxBadIndex : kTxBadDesc);
        memif_fault(l, res.bad_index ? Error::RingIndex : Error::Descriptor);
      }
    }
    start = end;
  }
  w.free(bi, n);
  return n;
}

QUIVER_NODE(memif_tx, {
  .name = "memif-tx",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(memif_tx),
  .next_nodes = {},
  .errors = {{"not-connected", "memif not connected: packet dropped", Severity::Warning},
             {"ring-full", "no free slot in the tx ring: packet dropped", Severity::Warning},
             {"empty-packet", "zero-length packet not sent", Severity::Error},
             {"bad-descriptor", "peer offered a buffer outside its regions (peer disconnected)", Severity::Error},
             {"bad-ring-index", "peer moved its ring index further than the ring (peer disconnected)", Severity::Error}},
  .format_trace = format_tx,
});
QUIVER_ARC(memif_tx, "interface-output", "memif-tx");

// Never runs: it owns the control-channel error counters (handshake violations, timeouts) so
// they appear in `show errors` beside the packet-path ones. The control thread counts them.
uint32_t memif_control_node(Worker&, NodeRuntime&, const uint32_t*, uint32_t n) { return n; }

std::vector<ErrorDesc> control_errors() {
  std::vector<ErrorDesc> v;
  for (uint32_t e = 1; e < uint32_t(Error::Count); ++e) {
    const auto err = Error(e);
    const Severity sev = err == Error::PeerDisconnect ? Severity::Info : Severity::Error;
    v.push_back({memif::error_name(err), memif::error_text(err), sev});
  }
  return v;
}

QUIVER_NODE(memif_control, {
  .name = "memif-control",
  .type = NodeType::Internal,
  .dispatch = memif_control_node,
  .dispatch_trace = memif_control_node,
  .next_nodes = {},
  .errors = control_errors(),
  .format_trace = nullptr,
});

}  // namespace
}  // namespace quiver
