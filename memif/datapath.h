// Copy-mode bursts between Quiver pool buffers and memif rings, for both roles. Header-only
// (hidden visibility: direct calls, no PLT, inside the addon)
// and free of the engine (only the buffer pool) so the fuzz harness drives exactly the code the
// memif-input and memif-tx nodes run. No allocation, lock or syscall here: the nodes add
// interrupts, counters and the tx lock around it.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../native/buffer.h"
#include "../native/pool.h"
#include "ring.h"

namespace quiver::memif {

struct RxResult {
  uint32_t avail = 0;      // slots the peer had published
  uint64_t bytes = 0;
  uint32_t too_long = 0;   // packets skipped: more than kMaxFrame bytes or kMaxSegments descriptors
  uint32_t no_buffer = 0;  // packets left in the ring for lack of pool buffers
  bool bad_desc = false;   // a descriptor outside the regions, empty, or an endless chain
  bool bad_index = false;  // the peer's index moved further than possible
};

[[gnu::always_inline]] inline bool simple_desc(const Desc& d) { return !(d.flags & kDescFlagNext) && d.length - 1 < kDataSize; }

[[gnu::always_inline]] inline void init_rx_buffer(Buffer* b, uint32_t len, uint32_t if_index) {
  b->reset(uint16_t(len));
  b->rx_if = if_index;
}

// Copies one validated multi-descriptor packet into a chain of pool buffers; `head` is already
// allocated. False when the pool has no buffers for the rest of the chain.
[[gnu::visibility("hidden")]] inline bool copy_chain(BufferPool& pool, BufferCache& cache, uint32_t head, const Segment* segs, uint32_t n_segs,
                       uint32_t total, uint32_t if_index) {
  uint32_t more[kMaxFrame / kDataSize + 1];
  const uint32_t n_more = (total - 1) / kDataSize;
  if (n_more && pool.alloc(cache, more, n_more) < n_more) return false;  // alloc is all or nothing here
  Buffer* b = pool.buffer(head);
  init_rx_buffer(b, 0, if_index);
  Buffer* first = b;
  uint32_t k = 0, room = kDataSize;
  for (uint32_t s = 0; s < n_segs; ++s) {
    const uint8_t* src = segs[s].data;
    uint32_t left = segs[s].len;
    while (left) {
      if (!room) {
        Buffer* next = pool.buffer(more[k]);
        init_rx_buffer(next, 0, if_index);
        b->flags |= kBufNextPresent;
        b->next_buffer = more[k++];
        b = next;
        room = kDataSize;
      }
      const uint32_t c = std::min(left, room);
      copy_bytes(b->data() + b->length, src, c);
      b->length = uint16_t(b->length + c);
      src += c;
      left -= c;
      room -= c;
    }
  }
  first->total_length_not_including_first = total - first->length;
  return true;
}

// Receives up to `max` packets into freshly allocated buffers (indices in bi). Stops before a
// packet whose chain is not fully published, or at the first invalid descriptor (which the
// caller treats as a protocol violation). Returns the number of packets.
[[gnu::visibility("hidden")]] inline uint32_t rx_burst(BufferPool& pool, BufferCache& cache, RxState& r, const RegionView* regions, uint32_t n_regions,
                         Role role, uint32_t if_index, uint32_t* bi, uint32_t max, RxResult& res) {
  RingView& v = r.v;
  const uint16_t peer = load_acquire(role == Role::Server ? v.head : v.tail);
  const int pub = published(peer, r.cursor, role == Role::Server ? v.size : uint16_t(r.posted - r.cursor));
  if (__builtin_expect(pub < 0, 0)) {
    res.bad_index = true;
    return 0;
  }
  res.avail = uint32_t(pub);
  if (!pub) return 0;
  uint32_t left = uint32_t(pub);
  const uint32_t want = std::min(left, max);
  const uint32_t got = pool.alloc(cache, bi, want);
  if (got < want) res.no_buffer = want - got;
  uint16_t cur = r.cursor;
  uint32_t out = 0;
  while (out < got && left) {
    if (out + 8 <= got && left >= 8) {
      const Desc d0 = load_desc(&v.desc[cur & v.mask]), d1 = load_desc(&v.desc[uint16_t(cur + 1) & v.mask]);
      const Desc d2 = load_desc(&v.desc[uint16_t(cur + 2) & v.mask]), d3 = load_desc(&v.desc[uint16_t(cur + 3) & v.mask]);
      for (uint32_t k = 4; k < 8; ++k) {
        // Descriptors two rounds ahead; packet data (the peer's last write: another core's cache)
        // and our buffers' metadata and data lines one round ahead. An unvalidated address is
        // only prefetched here, never read.
        const uint16_t ahead = uint16_t(cur + k) & v.mask;
        __builtin_prefetch(&v.desc[uint16_t(cur + k + 4) & v.mask]);
        const Desc dk = load_desc(&v.desc[ahead]);
        __builtin_prefetch(v.own ? v.own + uint64_t(ahead) * v.buffer_size
                                 : dk.region < n_regions ? regions[dk.region].base + dk.offset : nullptr);
        Buffer* bk = pool.buffer(bi[out + k]);
        __builtin_prefetch(bk, 1);
        __builtin_prefetch(reinterpret_cast<uint8_t*>(bk) - kMetaOffset + kDataOffset, 1);
      }
      if (simple_desc(d0) && simple_desc(d1) && simple_desc(d2) && simple_desc(d3)) {
        const uint8_t* s0 = slot_data(v, regions, n_regions, cur & v.mask, d0, d0.length);
        const uint8_t* s1 = slot_data(v, regions, n_regions, uint16_t(cur + 1) & v.mask, d1, d1.length);
        const uint8_t* s2 = slot_data(v, regions, n_regions, uint16_t(cur + 2) & v.mask, d2, d2.length);
        const uint8_t* s3 = slot_data(v, regions, n_regions, uint16_t(cur + 3) & v.mask, d3, d3.length);
        if (__builtin_expect(s0 && s1 && s2 && s3, 1)) {
          Buffer* b0 = pool.buffer(bi[out]);
          Buffer* b1 = pool.buffer(bi[out + 1]);
          Buffer* b2 = pool.buffer(bi[out + 2]);
          Buffer* b3 = pool.buffer(bi[out + 3]);
          init_rx_buffer(b0, d0.length, if_index);
          init_rx_buffer(b1, d1.length, if_index);
          init_rx_buffer(b2, d2.length, if_index);
          init_rx_buffer(b3, d3.length, if_index);
          copy_bytes(b0->data(), s0, d0.length);
          copy_bytes(b1->data(), s1, d1.length);
          copy_bytes(b2->data(), s2, d2.length);
          copy_bytes(b3->data(), s3, d3.length);
          res.bytes += uint64_t(d0.length) + d1.length + d2.length + d3.length;
          out += 4;
          cur = uint16_t(cur + 4);
          left -= 4;
          continue;
        }
      }
    }
    const uint16_t slot = cur & v.mask;
    const Desc d = load_desc(&v.desc[slot]);
    if (__builtin_expect(simple_desc(d), 1)) {
      const uint8_t* src = slot_data(v, regions, n_regions, slot, d, d.length);
      if (__builtin_expect(!src, 0)) {
        res.bad_desc = true;
        break;
      }
      Buffer* b = pool.buffer(bi[out]);
      init_rx_buffer(b, d.length, if_index);
      copy_bytes(b->data(), src, d.length);
      res.bytes += d.length;
      ++out;
      ++cur;
      --left;
      continue;
    }
    // Chained, or one descriptor larger than a pool buffer.
    Segment segs[kMaxSegments];
    uint32_t n_segs = 0, slots = 0, total = 0;
    const Scan s = scan_packet(v, regions, n_regions, cur, left, segs, &n_segs, &slots, &total);
    if (s == Scan::Incomplete) break;
    if (s == Scan::Bad) {
      res.bad_desc = true;
      break;
    }
    if (s == Scan::TooLong) {
      res.too_long++;
    } else if (!copy_chain(pool, cache, bi[out], segs, n_segs, total, if_index)) {
      res.no_buffer++;
      break;
    } else {
      res.bytes += total;
      ++out;
    }
    cur = uint16_t(cur + slots);
    left -= slots;
  }
  if (out < got) pool.free_unchained(cache, bi + out, got - out);
  if (cur != r.cursor) {
    r.cursor = cur;
    if (role == Role::Server) {
      store_release(v.tail, cur);  // slots go back to the client
    } else {
      // Offer the consumed slots again (region/offset were set once; the server only writes data).
      for (uint16_t s = r.posted; s != uint16_t(cur + v.size); ++s) {
        Desc& d = v.desc[s & v.mask];
        d.flags = 0;
        d.length = v.buffer_size;
      }
      r.posted = uint16_t(cur + v.size);
      store_release(v.head, r.posted);
    }
  }
  return out;
}

struct TxResult {
  uint32_t sent = 0;      // packets written to the ring
  uint64_t bytes = 0;
  uint32_t no_space = 0;  // packets that did not fit
  uint32_t empty = 0;     // zero-length packets (a receiver would reject the descriptor)
  uint32_t aborted = 0;   // packets not sent because the ring turned out invalid
  bool bad_desc = false;  // server: a slot the client offered lies outside its regions
  bool bad_index = false;
};

// Writes packets (pool buffers, maybe chained) into the ring until it is full; a packet larger
// than one slot is chained over several with NEXT, all or nothing. The caller frees every
// buffer afterwards and signals the peer.
[[gnu::visibility("hidden")]] inline uint32_t tx_burst(BufferPool& pool, TxState& t, const RegionView* regions, uint32_t n_regions, Role role,
                         const uint32_t* bi, uint32_t n, TxResult& res) {
  RingView& v = t.v;
  const int sp = tx_space(t, role);
  if (__builtin_expect(sp < 0, 0)) {
    res.bad_index = true;
    res.aborted = n;
    return 0;
  }
  uint32_t space = uint32_t(sp);
  uint16_t cur = t.cursor;
  uint32_t i = 0;
  for (; i < n && space; ++i) {
    if (i + 4 < n) {
      Buffer* ahead = pool.buffer(bi[i + 4]);
      __builtin_prefetch(ahead);
      __builtin_prefetch(reinterpret_cast<uint8_t*>(ahead) - kMetaOffset + kDataOffset);
      if (v.own) __builtin_prefetch(v.own + uint64_t(uint16_t(cur + 4) & v.mask) * v.buffer_size, 1);
      else __builtin_prefetch(&v.desc[uint16_t(cur + 8) & v.mask]);
    }
    Buffer* b = pool.buffer(bi[i]);
    const uint32_t total = b->total_length();
    if (__builtin_expect(total == 0, 0)) {
      res.empty++;
      continue;
    }
    uint16_t slot = cur & v.mask;
    uint32_t cap;
    uint8_t* dst = tx_slot(v, regions, n_regions, slot, &cap);
    if (__builtin_expect(!dst, 0)) {
      res.bad_desc = true;
      break;
    }
    if (__builtin_expect(!(b->flags & kBufNextPresent) && total <= cap, 1)) {
      copy_bytes(dst, b->data(), total);
      put_desc(v, slot, total, 0);
      ++cur;
      --space;
      res.bytes += total;
      res.sent++;
      continue;
    }
    // Spread the buffer chain over as many slots as it takes.
    uint32_t used = 0, filled = 0;
    const uint8_t* src = b->data();
    uint32_t src_left = b->length;
    Buffer* sb = b;
    bool ok = true;
    uint32_t remaining = total;
    for (;;) {
      const uint32_t c = std::min(src_left, cap - filled);
      copy_bytes(dst + filled, src, c);
      filled += c;
      src += c;
      src_left -= c;
      remaining -= c;
      while (!src_left && (sb->flags & kBufNextPresent)) {
        sb = pool.buffer(sb->next_buffer);
        src = sb->data();
        src_left = sb->length;
      }
      if (!remaining) {
        put_desc(v, slot, filled, 0);
        ++used;
        break;
      }
      if (filled == cap) {
        put_desc(v, slot, filled, kDescFlagNext);
        ++used;
        if (used == space) {
          ok = false;  // the chain does not fit: roll back (nothing published yet)
          break;
        }
        slot = uint16_t(cur + used) & v.mask;
        dst = tx_slot(v, regions, n_regions, slot, &cap);
        if (!dst) {
          res.bad_desc = true;
          ok = false;
          break;
        }
        filled = 0;
      }
    }
    if (!ok) break;
    cur = uint16_t(cur + used);
    space -= used;
    res.bytes += total;
    res.sent++;
  }
  if (res.bad_desc) res.aborted = n - i;
  else res.no_space = n - i;
  if (cur != t.cursor) {
    t.cursor = cur;
    store_release(role == Role::Server ? v.tail : v.head, cur);
  }
  return res.sent;
}

}  // namespace quiver::memif
