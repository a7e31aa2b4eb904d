// Buffer layout shared by every driver. Decided once, here.
//
// One slot per buffer, kSlotSize bytes, slot i at pool_base + i * kSlotSize:
//
//   0          128          256                 512                          2624
//   | rte_mbuf  | Buffer meta | XDP headroom       | packet data (2112 bytes)    |
//   | (DPDK)    | (Quiver)    | (encap room)       |                             |
//   ^ slot      ^ Buffer*     ^ mbuf buf_addr      ^ default data start
//
// * Slot size: 2624 bytes = 41 cache lines. An odd number of lines matters: with 4096-byte
//   slots every buffer's metadata falls into the same two L1 sets and a 256-packet vector
//   thrashes L1 (measured: l2-xconnect 24 -> 3 clocks/packet, ethernet-input 23 -> 4.5).
// * AF_XDP: the UMEM is the pool, registered in unaligned-chunk mode (XDP_UMEM_UNALIGNED_CHUNK_FLAG)
//   because 2624 is not a power of two; frame_headroom = kXdpFrameHeadroom (256) and the
//   kernel writes data at slot + 256 + XDP_PACKET_HEADROOM (256) = kDataOffset. Fill-ring
//   addresses are slot addresses; the kernel never touches the first 256 bytes.
// * DPDK: the mbuf header lives in the first 128 bytes, priv_size = 128 holds our metadata
//   (rte_mbuf_to_priv() == Buffer*), buf_addr = slot + 256, data_off = 256: the NIC writes
//   where every other driver does.
// * memif zero-copy: offsets inside the pool memfd, data at slot + kDataOffset.
// Frames longer than kDataSize are chained (next_buffer).
//
// Buffers are named by 32-bit index on the packet path; the pointer is base + index * slot.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace quiver {

constexpr uint32_t kSlotSize = 2624;  // 41 cache lines: odd, so metadata of consecutive buffers spreads over every L1 set
constexpr uint32_t kMbufRoom = 128;
constexpr uint32_t kMetaOffset = kMbufRoom;
constexpr uint32_t kMetaSize = 128;
constexpr uint32_t kXdpFrameHeadroom = kMbufRoom + kMetaSize;  // 256
constexpr uint32_t kHeadroom = 256;                             // room in front of data
constexpr uint32_t kDataOffset = kXdpFrameHeadroom + kHeadroom; // 512
constexpr uint32_t kDataSize = kSlotSize - kDataOffset;          // 2112 bytes per buffer
constexpr uint32_t kInvalidBuffer = 0xffffffffu;
constexpr uint32_t kInvalidIf = 0xffffffffu;

enum BufferFlags : uint32_t {
  kBufTraced = 1u << 0,        // a trace record follows this packet
  kBufNextPresent = 1u << 1,   // chained: next_buffer is valid
  kBufL4ChecksumOk = 1u << 2,  // driver/NIC verified the L4 checksum
  kBufIp4ChecksumOk = 1u << 3, // driver/NIC verified the IPv4 header checksum
  kBufVlanParsed = 1u << 4,
  kBufOffloadL4Csum = 1u << 5, // TX: L4 checksum still to be computed
};

// The metadata header. Line 0 is what nearly every node touches; line 1 is per-feature
// scratch (VPP's opaque): a feature defines a struct that fits and reads it with opaque<T>().
struct alignas(64) Buffer {
  uint16_t data_offset;  // from the slot start, so header offsets stay valid across push/pop
  uint16_t length;       // bytes of packet data in this buffer
  uint32_t flags;
  uint32_t rx_if;        // interface the packet arrived on
  uint32_t tx_if;        // interface the packet leaves on (set before interface-output)
  uint32_t next_buffer;  // chain, valid when kBufNextPresent
  uint32_t total_length_not_including_first;
  uint16_t error;        // global error index when sent to error-drop / error-punt
  uint16_t l2_offset;    // header offsets from the slot start
  uint16_t l3_offset;
  uint16_t l4_offset;
  uint32_t flow_hash;
  uint32_t trace_index;  // valid when kBufTraced
  uint16_t ethertype;    // innermost ethertype after VLAN tags, host order
  uint8_t n_vlan_tags;
  uint8_t feature_arc_state;
  uint16_t vlan_outer;   // TCI host order, when tags were parsed
  uint16_t vlan_inner;
  uint32_t l2_bridge;    // bridge domain / feature use
  uint32_t next_hop;     // adjacency or next-hop index
  uint32_t reserved[2];
  uint8_t opaque[64];

  uint8_t* slot() { return reinterpret_cast<uint8_t*>(this) - kMetaOffset; }
  uint8_t* data() { return slot() + data_offset; }
  const uint8_t* data() const { return const_cast<Buffer*>(this)->data(); }
  uint8_t* at(uint16_t offset_from_slot) { return slot() + offset_from_slot; }
  // Move the start of data: negative grows the packet in front (encap), positive strips.
  void advance(int delta) {
    data_offset = static_cast<uint16_t>(data_offset + delta);
    length = static_cast<uint16_t>(length - delta);
  }
  uint32_t headroom() const { return data_offset - kXdpFrameHeadroom; }
  uint32_t tailroom() const { return kSlotSize - data_offset - length; }
  uint32_t total_length() const {
    return (flags & kBufNextPresent) ? length + total_length_not_including_first : length;
  }
  template <class T> T& opaque_as() {
    static_assert(sizeof(T) <= sizeof(opaque), "feature scratch exceeds 64 bytes");
    return *reinterpret_cast<T*>(opaque);
  }
  // Reset for a fresh packet written at the default data start.
  void reset(uint16_t len = 0) {
    std::memset(static_cast<void*>(this), 0, 64);
    data_offset = kDataOffset;
    length = len;
    rx_if = tx_if = kInvalidIf;
    next_buffer = kInvalidBuffer;
  }
};
static_assert(sizeof(Buffer) == kMetaSize, "Buffer metadata must be exactly two cache lines");
static_assert(offsetof(Buffer, opaque) == 64, "opaque scratch must be line 1");

}  // namespace quiver
