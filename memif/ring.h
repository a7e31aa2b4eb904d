// Shared-memory ring access for the packet path, from either role, with the peer untrusted:
// its index is checked against what it may legally be, each descriptor is read once into a
// local copy (the peer can rewrite shared memory at any time) and its region, offset and
// length are checked against the negotiated regions before a byte is touched. A client uses
// its own slot buffers and never follows a descriptor's region/offset at all.
// Engine-independent: the driver nodes, the quiver/memif library and the fuzz harness use it.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>

#include "proto.h"
#include "session.h"

namespace quiver::memif {

struct RegionView {
  uint8_t* base = nullptr;
  uint64_t size = 0;
};

struct RingView {
  uint16_t* head = nullptr;   // written by the client
  uint16_t* tail = nullptr;   // written by the server
  uint16_t* flags = nullptr;  // MASK_INT, written by the consumer
  Desc* desc = nullptr;
  uint16_t size = 0;
  uint16_t mask = 0;
  int int_fd = -1;
  // Client only: slot j's buffer is own + j * buffer_size (descriptors are not followed).
  uint8_t* own = nullptr;
  uint32_t buffer_size = 0;
};

[[gnu::always_inline]] inline RingView make_ring_view(const Connection& c, const Ring& r, int direction, uint32_t index) {
  RingView v;
  uint8_t* base = c.ring_base(r);
  v.head = reinterpret_cast<uint16_t*>(base + kRingHeadOffset);
  v.tail = reinterpret_cast<uint16_t*>(base + c.layout.tail_offset());
  v.flags = reinterpret_cast<uint16_t*>(base + kRingFlagsOffset);
  v.desc = reinterpret_cast<Desc*>(base + c.layout.desc_offset());
  v.size = uint16_t(1u << r.log2);
  v.mask = uint16_t(v.size - 1);
  v.int_fd = r.int_fd;
  if (c.role == Role::Client) {
    v.own = c.regions[0].base + c.slot_offset(direction, index, 0);
    v.buffer_size = c.buffer_size;
  }
  return v;
}

[[gnu::always_inline]] inline uint16_t load_acquire(const uint16_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
[[gnu::always_inline]] inline void store_release(uint16_t* p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// One read of a descriptor the peer may be rewriting: the checks and the use see the same values.
[[gnu::always_inline]] inline Desc load_desc(const Desc* p) {
  Desc d;
  const uint64_t a = __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
  const uint64_t b = __atomic_load_n(reinterpret_cast<const uint64_t*>(p) + 1, __ATOMIC_RELAXED);
  std::memcpy(&d, &a, 8);
  std::memcpy(reinterpret_cast<uint8_t*>(&d) + 8, &b, 8);
  return d;
}

// Where `len` bytes of slot `slot` live, or nullptr when the peer's descriptor points outside
// the negotiated memory (64-bit sum: offset + length cannot wrap).
[[gnu::always_inline]] inline uint8_t* slot_data(const RingView& v, const RegionView* regions, uint32_t n_regions, uint16_t slot, const Desc& d,
                          uint32_t len) {
  if (v.own) return len <= v.buffer_size ? v.own + uint64_t(slot) * v.buffer_size : nullptr;
  if (d.region >= n_regions || uint64_t(d.offset) + len > regions[d.region].size) return nullptr;
  return regions[d.region].base + d.offset;
}

// Exact copy without overreading either side: packets are mostly small, and a call to memcpy
// costs more than the copy itself below a few hundred bytes.
[[gnu::always_inline]] inline void copy_bytes(uint8_t* dst, const uint8_t* src, uint32_t len) {
  struct Chunk {
    uint8_t b[32];
  };
  if (len >= 32 && len <= 256) {
    Chunk t;
    for (uint32_t off = 0; off + 32 < len; off += 32) {
      __builtin_memcpy(&t, src + off, 32);
      __builtin_memcpy(dst + off, &t, 32);
    }
    __builtin_memcpy(&t, src + len - 32, 32);
    __builtin_memcpy(dst + len - 32, &t, 32);
  } else if (len > 256) {
    std::memcpy(dst, src, len);
  } else if (len >= 16) {
    uint8_t t[16];
    __builtin_memcpy(t, src, 16);
    __builtin_memcpy(dst, t, 16);
    __builtin_memcpy(t, src + len - 16, 16);
    __builtin_memcpy(dst + len - 16, t, 16);
  } else {
    for (uint32_t i = 0; i < len; ++i) dst[i] = src[i];
  }
}

// The peer's index, checked. Receiving: how many slots it published for us to read (from
// `cursor`); at most `limit` (server: the ring size; client: what we posted). Returns -1 when the
// value is impossible, which only a broken or hostile peer produces.
[[gnu::always_inline]] inline int published(uint16_t peer_index, uint16_t cursor, uint32_t limit) {
  const uint16_t n = uint16_t(peer_index - cursor);
  return n <= limit ? int(n) : -1;
}

enum class Scan { Ok, Incomplete, Bad, TooLong };
struct Segment {
  const uint8_t* data;
  uint32_t len;
};
constexpr uint32_t kMaxSegments = 64;    // descriptors per packet we copy
constexpr uint32_t kMaxFrame = 65535;    // bytes per packet we accept

// Walks the packet starting at `cursor` (`avail` slots published): every descriptor validated,
// segments in segs (up to kMaxSegments), *slots = descriptors used, *total = bytes.
// Incomplete: the chain's end is not published yet (wait). Bad: a descriptor points outside the
// regions, is empty, or the chain fills the whole ring without ending. TooLong: valid but more
// than kMaxSegments descriptors or kMaxFrame bytes; *slots tells how many to skip.
[[gnu::visibility("hidden")]] inline Scan scan_packet(const RingView& v, const RegionView* regions, uint32_t n_regions, uint16_t cursor, uint32_t avail,
                        Segment* segs, uint32_t* n_segs, uint32_t* slots, uint32_t* total) {
  uint32_t used = 0, bytes = 0, n = 0;
  bool too_long = false;
  for (;;) {
    if (used == avail) {
      *slots = used;
      return avail >= v.size ? Scan::Bad : Scan::Incomplete;
    }
    const uint16_t slot = uint16_t(cursor + used) & v.mask;
    const Desc d = load_desc(&v.desc[slot]);
    ++used;
    const uint8_t* data = d.length ? slot_data(v, regions, n_regions, slot, d, d.length) : nullptr;
    if (!data) {
      *slots = used;
      return Scan::Bad;
    }
    if (n < kMaxSegments) segs[n++] = Segment{data, d.length};
    else too_long = true;
    bytes = bytes + d.length > kMaxFrame ? kMaxFrame + 1 : bytes + d.length;
    if (!(d.flags & kDescFlagNext)) break;
  }
  *slots = used;
  *n_segs = n;
  *total = bytes;
  return too_long || bytes > kMaxFrame ? Scan::TooLong : Scan::Ok;
}

// Producer side: after publishing, wake the consumer unless it said it polls.
[[gnu::always_inline]] inline bool wants_signal(const RingView& v) {
  return !(__atomic_load_n(v.flags, __ATOMIC_RELAXED) & kRingFlagMaskInt) && v.int_fd >= 0;
}

// One receive ring; only the worker polling the queue touches it.
struct RxState {
  RingView v;
  uint16_t cursor = 0;  // next slot to read
  uint16_t posted = 0;  // client: head we published (slots offered to the server)
  bool masked = false;  // we set MASK_INT (polling)
};

// One transmit ring; workers share it under `lock` when there are fewer rings than workers.
struct alignas(64) TxState {
  RingView v;
  uint16_t cursor = 0;     // server: our tail; client: our head
  uint16_t reclaimed = 0;  // client: the server's tail as last seen
  bool shared = false;
  std::atomic<uint8_t> lock{0};
  void acquire() {
    while (lock.exchange(1, std::memory_order_acquire)) __builtin_ia32_pause();
  }
  void release() { lock.store(0, std::memory_order_release); }
};

// Free slots, from the peer's index checked against ours; -1 on an impossible value.
[[gnu::always_inline]] inline int tx_space(TxState& t, Role role) {
  RingView& v = t.v;
  if (role == Role::Server) return published(load_acquire(v.head), t.cursor, v.size);
  const int back = published(load_acquire(v.tail), t.reclaimed, uint16_t(t.cursor - t.reclaimed));
  if (back < 0) return -1;
  t.reclaimed = uint16_t(t.reclaimed + back);
  return int(v.size - uint16_t(t.cursor - t.reclaimed));
}

// Where slot `slot` can take data and how much: the client's own buffer, or the buffer the client
// offered in the descriptor (server), validated. nullptr: invalid.
[[gnu::always_inline]] inline uint8_t* tx_slot(const RingView& v, const RegionView* regions, uint32_t n_regions, uint16_t slot, uint32_t* capacity) {
  if (v.own) {
    *capacity = v.buffer_size;
    return v.own + uint64_t(slot) * v.buffer_size;
  }
  const Desc d = load_desc(&v.desc[slot]);
  *capacity = d.length;
  return d.length ? slot_data(v, regions, n_regions, slot, d, d.length) : nullptr;
}

[[gnu::always_inline]] inline void put_desc(RingView& v, uint16_t slot, uint32_t length, uint16_t flags) {
  v.desc[slot].length = length;  // region and offset are the client's and stay untouched
  v.desc[slot].flags = flags;
}

}  // namespace quiver::memif
