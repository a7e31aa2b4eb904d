// af_packet packet path. af-packet-input walks released TPACKET_V3 blocks, copies each frame
// into a Quiver buffer (chained when longer than one buffer; VLAN tags the kernel stripped
// into metadata are put back), and hands a block back once every frame in it is copied.
// af-packet-output copies buffers into tx ring frames and flushes them with one sendto().
#include <emmintrin.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "../engine.h"
#include "../netdev/l4_checksum.h"
#include "../worker.h"
#include "af_packet.h"
#include "../netdev/tx_lock.h"

namespace quiver {
namespace {

enum RxNext : uint16_t { kRxNextEthernet, kRxNextDrop };
enum RxError : uint32_t { kRxErrTruncated, kRxErrNoBuffer, kRxErrAdminDown };

struct RxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint32_t length;
  uint32_t status;
};
std::string format_rx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const RxTrace*>(d);
  char b[160];
  snprintf(b, sizeof b, "af_packet: interface %u queue %u, %u bytes%s%s", t->if_index, t->queue, t->length,
           t->status & TP_STATUS_VLAN_VALID ? ", vlan tag restored" : "",
           t->status & TP_STATUS_CSUMNOTREADY ? ", L4 checksum left to the tx side" : "");
  return b;
}

inline tpacket_block_desc* block_at(AfPacketQueue& q, uint32_t i) {
  return reinterpret_cast<tpacket_block_desc*>(q.rx_ring + size_t(i) * q.block_size);
}

// Copies a frame given as up to two pieces into a chain of buffers starting at head (already
// allocated and reset); false when the pool ran dry (the caller's drop frees the chain).
struct Piece {
  const uint8_t* p;
  uint32_t len;
};
inline bool copy_chain(Worker& w, uint32_t head, const Piece* pieces, uint32_t n_pieces) {
  Buffer* b = w.buffer(head);
  uint32_t total = 0;
  for (uint32_t k = 0; k < n_pieces; ++k) {
    const uint8_t* src = pieces[k].p;
    uint32_t left = pieces[k].len;
    while (left) {
      if (b->length == kDataSize) {
        uint32_t next;
        if (w.alloc(&next, 1) != 1) return false;
        Buffer* nb = w.buffer(next);
        nb->reset();
        b->flags |= kBufNextPresent;
        b->next_buffer = next;
        b = nb;
      }
      const uint32_t k2 = left < kDataSize - b->length ? left : kDataSize - b->length;
      std::memcpy(b->data() + b->length, src, k2);
      b->length = uint16_t(b->length + k2);
      src += k2;
      left -= k2;
      total += k2;
    }
  }
  Buffer* h = w.buffer(head);
  h->total_length_not_including_first = total - h->length;
  return true;
}

template <bool Trace>
uint32_t rx_queue(Worker& w, NodeRuntime& node, AfPacketQueue& q) {
  const uint32_t if_index = q.intf->if_index;
  tpacket3_hdr* frames[kFrameSize];
  uint32_t n = 0;
  uint32_t done_blocks[kFrameSize + 1], n_done = 0;
  // Gather up to a vector of frames; blocks are released only after their frames are copied.
  while (n < kFrameSize) {
    if (q.pkt_left == 0) {
      tpacket_block_desc* bd = block_at(q, q.block);
      if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
      q.pkt_left = bd->hdr.bh1.num_pkts;
      q.pkt = reinterpret_cast<uint8_t*>(bd) + bd->hdr.bh1.offset_to_first_pkt;
      if (q.pkt_left == 0) {
        done_blocks[n_done++] = q.block;
        q.block = (q.block + 1) % q.block_count;
        continue;
      }
    }
    auto* h = reinterpret_cast<tpacket3_hdr*>(q.pkt);
    frames[n++] = h;
    if (--q.pkt_left) {
      q.pkt += h->tp_next_offset;
    } else {
      done_blocks[n_done++] = q.block;
      q.block = (q.block + 1) % q.block_count;
    }
    if (n_done == kFrameSize) break;
  }
  uint32_t produced = 0;
  if (n) {
    uint32_t bi[kFrameSize];
    uint32_t got = w.alloc(bi, n);
    uint32_t out[kFrameSize], n_out = 0, drop[kFrameSize], n_drop = 0;
    uint64_t bytes = 0;
    uint32_t truncated = 0, no_buffer = n - got;
    for (uint32_t i = 0; i < got; ++i) {
      if (i + 2 < n) __builtin_prefetch(reinterpret_cast<uint8_t*>(frames[i + 2]) + frames[i + 2]->tp_mac);
      const tpacket3_hdr* h = frames[i];
      Buffer* b = w.buffer(bi[i]);
      b->reset();
      b->rx_if = if_index;
      if (__builtin_expect(h->tp_snaplen < h->tp_len, 0)) {  // a GSO/GRO aggregate larger than the ring frame
        b->error = node.error_code(kRxErrTruncated);
        drop[n_drop++] = bi[i];
        ++truncated;
        continue;
      }
      const uint8_t* src = reinterpret_cast<const uint8_t*>(h) + h->tp_mac;
      uint32_t len = h->tp_snaplen;
      bool ok;
      if (__builtin_expect((h->tp_status & TP_STATUS_VLAN_VALID) && len >= 12, 0)) {
        // The tag travelled in skb metadata: rebuild the frame as it was on the wire.
        const uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
        uint8_t head[16];
        std::memcpy(head, src, 12);
        head[12] = uint8_t(tpid >> 8);
        head[13] = uint8_t(tpid);
        head[14] = uint8_t(h->hv1.tp_vlan_tci >> 8);
        head[15] = uint8_t(h->hv1.tp_vlan_tci);
        const Piece p[2] = {{head, 16}, {src + 12, len - 12}};
        ok = copy_chain(w, bi[i], p, 2);
        len += 4;
      } else {
        const Piece p[1] = {{src, len}};
        ok = copy_chain(w, bi[i], p, 1);
      }
      if (!ok) {
        b->error = node.error_code(kRxErrNoBuffer);
        drop[n_drop++] = bi[i];
        ++no_buffer;
        continue;
      }
      if (h->tp_status & TP_STATUS_CSUMNOTREADY) b->flags |= kBufOffloadL4Csum;
      else if (h->tp_status & TP_STATUS_CSUM_VALID) b->flags |= kBufL4ChecksumOk;
      bytes += len;
      if constexpr (Trace) {
        RxTrace t{if_index, q.queue_id, len, h->tp_status};
        w.trace_input(node, &bi[i], 1);
        w.trace(node, b, &t, sizeof t);
      }
      out[n_out++] = bi[i];
    }
    for (uint32_t i = 0; i < n_done; ++i) __atomic_store_n(&block_at(q, done_blocks[i])->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    if (no_buffer) {
      w.count_if(if_index, kIfRxNoBuffer, no_buffer);
      w.count_error(node, kRxErrNoBuffer, n - got);
    }
    if (truncated) w.count_if(if_index, kIfRxErrors, truncated);
    if (n_out) {
      w.count_rx(if_index, n_out, bytes);
      w.capture(if_index, false, out, n_out);
      if (__builtin_expect(!w.interfaces().entry[if_index].admin_up, 0)) {
        for (uint32_t i = 0; i < n_out; ++i) w.buffer(out[i])->error = node.error_code(kRxErrAdminDown);
        w.enqueue(node, kRxNextDrop, out, n_out);
      } else {
        w.enqueue(node, kRxNextEthernet, out, n_out);
      }
    }
    if (n_drop) w.enqueue(node, kRxNextDrop, drop, n_drop);
    produced = n_out;
  } else {
    for (uint32_t i = 0; i < n_done; ++i) __atomic_store_n(&block_at(q, done_blocks[i])->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }
  return produced;
}

template <bool Trace>
uint32_t af_packet_input(Worker& w, NodeRuntime& node, const uint32_t*, uint32_t) {
  uint32_t total = 0;
  for (const RxQueueRef& rq : node.rx_queues) total += rx_queue<Trace>(w, node, *static_cast<AfPacketQueue*>(rq.ctx));
  return total;
}

QUIVER_NODE(af_packet_input, {
  .name = "af-packet-input",
  .type = NodeType::Input,
  QUIVER_DISPATCH(af_packet_input),
  .next_nodes = {"ethernet-input", "error-drop"},
  .errors = {{"truncated", "frame longer than the ring slot (GSO/GRO aggregate?)", Severity::Error},
             {"no-buffer", "buffer pool exhausted", Severity::Error},
             {"admin-down", "received on an administratively down interface", Severity::Warning}},
  .format_trace = format_rx,
});

enum TxNext : uint16_t { kTxNextDrop };
enum TxError : uint32_t { kTxErrRingFull, kTxErrTooLong, kTxErrGone, kTxErrSend, kTxErrRejected, kTxCsumCompleted };

struct TxTrace {
  uint32_t if_index;
  uint32_t queue;
  uint32_t length;
  uint8_t csum;
};
std::string format_tx(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const TxTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "af_packet: tx interface %u queue %u, %u bytes%s", t->if_index, t->queue, t->length,
           t->csum ? ", L4 checksum completed" : "");
  return b;
}

template <bool Trace>
void send_run(Worker& w, NodeRuntime& node, uint32_t tx, const uint32_t* bi, uint32_t n, uint32_t* drop, uint32_t* n_drop) {
  AfPacketInterface* pi = g_af_packet[tx];
  if (__builtin_expect(!pi || pi->gone.load(std::memory_order_relaxed), 0)) {
    for (uint32_t i = 0; i < n; ++i) {
      w.buffer(bi[i])->error = node.error_code(kTxErrGone);
      drop[(*n_drop)++] = bi[i];
    }
    w.count_if(tx, kIfTxErrors, n);
    return;
  }
  AfPacketQueue& q = *pi->tx_queue(w.id());
  netdev::TxQueueLock lock(q.tx_lock, pi->tx_shared);
  uint32_t sent = 0, full = 0, too_long = 0, rejected = 0, completed = 0;
  uint32_t sent_idx[kFrameSize];
  uint64_t bytes = 0;
  const uint32_t room = q.frame_size - kTxDataOffset;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (i + 2 < n) __builtin_prefetch(w.buffer(bi[i + 2])->data());
    auto* h = reinterpret_cast<tpacket3_hdr*>(q.tx_ring + size_t(q.tx_head) * q.frame_size);
    const uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (status == TP_STATUS_WRONG_FORMAT) ++rejected;  // the kernel refused it last round
    else if (status != TP_STATUS_AVAILABLE) {
      b->error = node.error_code(kTxErrRingFull);
      drop[(*n_drop)++] = bi[i];
      ++full;
      continue;
    }
    const uint32_t len = b->total_length();
    if (__builtin_expect(len > room, 0)) {
      b->error = node.error_code(kTxErrTooLong);
      drop[(*n_drop)++] = bi[i];
      ++too_long;
      continue;
    }
    uint8_t* dst = reinterpret_cast<uint8_t*>(h) + kTxDataOffset;
    uint32_t at = 0;
    for (Buffer* c = b;; c = w.buffer(c->next_buffer)) {
      std::memcpy(dst + at, c->data(), c->length);
      at += c->length;
      if (!(c->flags & kBufNextPresent)) break;
    }
    const bool csum = b->flags & kBufOffloadL4Csum;
    if (csum) completed += netdev::complete_l4_checksum(dst, len);
    h->tp_len = len;
    h->tp_snaplen = len;
    h->tp_next_offset = 0;
    if constexpr (Trace) {
      TxTrace t{tx, q.queue_id, len, uint8_t(csum)};
      w.trace(node, b, &t, sizeof t);
    }
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    q.tx_head = q.tx_head + 1 == q.frame_count ? 0 : q.tx_head + 1;
    bytes += len;
    sent_idx[sent++] = bi[i];
  }
  if (sent) {
    // One syscall sends every pending frame (qdisc bypass: synchronously, to the driver).
    for (int tries = 0; tries < 8; ++tries) {
      if (sendto(q.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) break;
      if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
        w.count_error(node, kTxErrSend);
        break;
      }
    }
    w.count_tx(tx, sent, bytes);
  }
  // The frames were copied into the ring: their buffers are done with.
  w.capture(tx, true, sent_idx, sent);
  w.free(sent_idx, sent);
  if (full) w.count_if(tx, kIfTxNoSpace, full);
  if (too_long) w.count_if(tx, kIfTxErrors, too_long);
  if (completed) w.count_error(node, kTxCsumCompleted, completed);
  if (rejected) {
    w.count_error(node, kTxErrRejected, rejected);
    w.count_if(tx, kIfTxErrors, rejected);
  }
}

template <bool Trace>
uint32_t af_packet_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
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

QUIVER_NODE(af_packet_output, {
  .name = "af-packet-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(af_packet_output),
  .next_nodes = {"error-drop"},
  .errors = {{"tx-ring-full", "AF_PACKET tx ring full", Severity::Error},
             {"too-long", "frame longer than a tx ring frame", Severity::Error},
             {"interface-gone", "the Linux interface no longer exists", Severity::Error},
             {"send-failed", "sendto() failed: interface down or unbound", Severity::Error},
             {"rejected", "the kernel rejected a tx frame (wrong format)", Severity::Error},
             {"l4-checksum-completed", "TCP/UDP checksum left undone by the sender, computed here", Severity::Info}},
  .format_trace = format_tx,
});
QUIVER_ARC(af_packet_output, "interface-output", "af-packet-output");

}  // namespace
}  // namespace quiver
