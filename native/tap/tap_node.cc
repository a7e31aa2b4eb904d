// tap packet path. tap-input: one readv() per frame (virtio-net header + straight into Quiver
// buffers, chained when the MTU needs more than one), until the fd is empty or a vector is
// full. tap-output: one writev() per frame; a checksum left undone is passed on to the kernel
// (kVnetNeedsCsum) instead of being computed here.
#include <emmintrin.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "../engine.h"
#include "../netdev/l4_checksum.h"
#include "../worker.h"
#include "tap.h"
#include "../netdev/tx_lock.h"

namespace quiver {
namespace {

constexpr uint32_t kMaxChain = 5;  // 9216-byte MTU over 2112-byte buffers

enum RxNext : uint16_t { kRxNextEthernet, kRxNextDrop };
enum RxError : uint32_t { kRxErrReadFailed, kRxErrGso, kRxErrNoBuffer, kRxErrAdminDown };

struct RxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint32_t length;
  uint8_t vnet_flags;
};
std::string format_rx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const RxTrace*>(d);
  char b[160];
  snprintf(b, sizeof b, "tap: interface %u queue %u, %u bytes%s%s", t->if_index, t->queue, t->length,
           t->vnet_flags & kVnetNeedsCsum ? ", checksum left undone by the sender" : "",
           t->vnet_flags & kVnetDataValid ? ", checksum verified by the kernel" : "");
  return b;
}

template <bool Trace>
uint32_t rx_queue(Worker& w, NodeRuntime& node, TapQueue& q) {
  TapInterface* ti = q.intf;
  if (__builtin_expect(ti->gone.load(std::memory_order_relaxed), 0)) return 0;
  const uint32_t if_index = ti->if_index;
  const uint32_t need = ti->bufs_per_frame.load(std::memory_order_relaxed);
  uint32_t out[kFrameSize], n = 0, drop[kFrameSize], n_drop = 0;
  uint64_t bytes = 0;
  uint32_t taken = 0, failed = 0;
  VirtioNetHdr vh;
  iovec iov[1 + kMaxChain];
  iov[0] = {&vh, sizeof vh};
  while (n + n_drop < kFrameSize) {
    if (q.n_spare < need) {
      const uint32_t got = w.alloc(q.spare + q.n_spare, TapQueue::kSpareMax - q.n_spare);
      q.n_spare += got;
      w.pool().account_held(got);
      if (q.n_spare < need) {
        w.count_error(node, kRxErrNoBuffer);
        w.count_if(if_index, kIfRxNoBuffer, 1);
        break;
      }
    }
    for (uint32_t k = 0; k < need; ++k)
      iov[1 + k] = {w.buffer(q.spare[q.n_spare - 1 - k])->slot() + kDataOffset, kDataSize};
    const ssize_t r = readv(q.fd, iov, int(1 + need));
    if (r < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != EBADFD) ++failed;
      break;
    }
    if (__builtin_expect(size_t(r) <= sizeof vh, 0)) {
      ++failed;
      continue;
    }
    const uint32_t len = uint32_t(r - sizeof vh);
    const uint32_t used = (len + kDataSize - 1) / kDataSize;
    const uint32_t head = q.spare[q.n_spare - 1];
    Buffer* prev = nullptr;
    for (uint32_t k = 0; k < used; ++k) {
      Buffer* b = w.buffer(q.spare[q.n_spare - 1 - k]);
      b->reset(uint16_t(len - k * kDataSize < kDataSize ? len - k * kDataSize : kDataSize));
      if (prev) {
        prev->flags |= kBufNextPresent;
        prev->next_buffer = q.spare[q.n_spare - 1 - k];
      }
      prev = b;
    }
    q.n_spare -= used;
    taken += used;
    Buffer* b = w.buffer(head);
    b->rx_if = if_index;
    b->total_length_not_including_first = len - b->length;
    if (vh.flags & kVnetNeedsCsum) b->flags |= kBufOffloadL4Csum;
    else if (vh.flags & kVnetDataValid) b->flags |= kBufL4ChecksumOk;
    if (__builtin_expect(vh.gso_type != kVnetGsoNone, 0)) {
      b->error = node.error_code(kRxErrGso);  // never negotiated (no TUN_F_TSO*): refuse
      drop[n_drop++] = head;
      continue;
    }
    if constexpr (Trace) {
      RxTrace t{if_index, q.queue_id, len, vh.flags};
      w.trace_input(node, &head, 1);
      w.trace(node, b, &t, sizeof t);
    }
    bytes += len;
    out[n++] = head;
  }
  if (taken) w.pool().account_held(-int64_t(taken));
  if (failed) {
    w.count_error(node, kRxErrReadFailed, failed);
    w.count_if(if_index, kIfRxErrors, failed);
  }
  if (n) {
    w.count_rx(if_index, n, bytes);
    w.capture(if_index, false, out, n);
    if (__builtin_expect(!w.interfaces().entry[if_index].admin_up, 0)) {
      for (uint32_t i = 0; i < n; ++i) w.buffer(out[i])->error = node.error_code(kRxErrAdminDown);
      w.enqueue(node, kRxNextDrop, out, n);
    } else {
      w.enqueue(node, kRxNextEthernet, out, n);
    }
  }
  if (n_drop) {
    w.count_if(if_index, kIfRxErrors, n_drop);
    w.enqueue(node, kRxNextDrop, drop, n_drop);
  }
  return n;
}

template <bool Trace>
uint32_t tap_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  uint32_t total = 0;
  for (const RxQueueRef& rq : node.rx_queues) total += rx_queue<Trace>(w, node, *static_cast<TapQueue*>(rq.ctx));
  return total;
}

QUIVER_NODE(tap_input, {
  .name = "tap-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(tap_input),
  .next_nodes = {"ethernet-input", "error-drop"},
  .errors = {{"read-failed", "read() on the tap fd failed", Severity::Error},
             {"gso", "GSO frame from the kernel (never negotiated)", Severity::Error},
             {"no-buffer", "buffer pool exhausted", Severity::Error},
             {"admin-down", "received on an administratively down interface", Severity::Warning}},
  .format_trace = format_rx,
});

enum TxNext : uint16_t { kTxNextDrop };
enum TxError : uint32_t { kTxErrGone, kTxErrHostDown, kTxErrWriteFailed, kTxErrTooLong, kTxCsumToKernel };

struct TxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint32_t length;
  uint8_t needs_csum;
};
std::string format_tx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const TxTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "tap: tx interface %u queue %u, %u bytes%s", t->if_index, t->queue, t->length,
           t->needs_csum ? ", checksum left to the kernel (NEEDS_CSUM)" : "");
  return b;
}

template <bool Trace>
void send_run(Worker& w, NodeRuntime& node, uint32_t tx, const uint32_t* bi, uint32_t n, uint32_t* drop, uint32_t* n_drop) {
  TapInterface* ti = g_tap[tx];
  if (__builtin_expect(!ti || ti->gone.load(std::memory_order_relaxed), 0)) {
    for (uint32_t i = 0; i < n; ++i) {
      w.buffer(bi[i])->error = node.error_code(kTxErrGone);
      drop[(*n_drop)++] = bi[i];
    }
    w.count_if(tx, kIfTxErrors, n);
    return;
  }
  TapQueue& q = *ti->tx_queue(w.id());
  netdev::TxQueueLock lock(q.tx_lock, ti->tx_shared);
  uint32_t sent_idx[kFrameSize], sent = 0, errors = 0, to_kernel = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (i + 2 < n) __builtin_prefetch(w.buffer(bi[i + 2])->data());
    VirtioNetHdr vh{};
    const uint32_t len = b->total_length();
    if (b->flags & kBufOffloadL4Csum) {
      netdev::L4Location l;
      if (netdev::locate_l4(b->data(), len, &l) && l.field + 2 <= b->length) {
        const uint16_t pseudo = uint16_t(l.pseudo);  // what CHECKSUM_PARTIAL expects in the field
        std::memcpy(b->data() + l.field, &pseudo, 2);
        vh.flags = kVnetNeedsCsum;
        vh.csum_start = uint16_t(l.l4);
        vh.csum_offset = uint16_t(l.field - l.l4);
        ++to_kernel;
      }
    }
    iovec iov[1 + kMaxChain];
    iov[0] = {&vh, sizeof vh};
    int cnt = 1;
    Buffer* c = b;
    for (;;) {
      if (cnt == 1 + int(kMaxChain)) break;
      iov[cnt++] = {c->data(), c->length};
      if (!(c->flags & kBufNextPresent)) {
        c = nullptr;
        break;
      }
      c = w.buffer(c->next_buffer);
    }
    if (__builtin_expect(c != nullptr, 0)) {
      b->error = node.error_code(kTxErrTooLong);
      drop[(*n_drop)++] = bi[i];
      ++errors;
      continue;
    }
    if (__builtin_expect(writev(q.fd, iov, cnt) < 0, 0)) {
      // EIO: the device is down in its namespace; EBADFD: it is gone.
      b->error = node.error_code(errno == EIO ? kTxErrHostDown : errno == EBADFD ? kTxErrGone : kTxErrWriteFailed);
      drop[(*n_drop)++] = bi[i];
      ++errors;
      continue;
    }
    if constexpr (Trace) {
      TxTrace t{tx, q.queue_id, len, uint8_t(vh.flags != 0)};
      w.trace(node, b, &t, sizeof t);
    }
    bytes += len;
    sent_idx[sent++] = bi[i];
  }
  if (errors) w.count_if(tx, kIfTxErrors, errors);
  if (to_kernel) w.count_error(node, kTxCsumToKernel, to_kernel);
  if (sent) {
    w.count_tx(tx, sent, bytes);
    w.capture(tx, true, sent_idx, sent);
    w.free(sent_idx, sent);  // the kernel copied them
  }
}

template <bool Trace>
uint32_t tap_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
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

QUIVER_NODE(tap_output, {
  .name = "tap-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(tap_output),
  .next_nodes = {"error-drop"},
  .errors = {{"interface-gone", "the tap device no longer exists", Severity::Error},
             {"host-down", "the tap device is down in its namespace", Severity::Error},
             {"write-failed", "write() on the tap fd failed", Severity::Error},
             {"too-long", "frame spans more buffers than a write takes", Severity::Error},
             {"checksum-to-kernel", "TCP/UDP checksum left undone, passed on (NEEDS_CSUM)", Severity::Info}},
  .format_trace = format_tx,
});
QUIVER_ARC(tap_output, "interface-output", "tap-output");

}  // namespace
}  // namespace quiver
