// memif v2.0 wire format: control messages (exactly 128 bytes, host byte order), the ring
// header and the 16-byte descriptor. Written from /work/shared/memif-protocol.md and checked
// field by field against DPDK drivers/net/memif/memif.h and VPP src/plugins/memif/memif.h;
// the static_asserts pin every offset so a layout slip fails the build, not the interop.
// Engine-independent: used by the driver, the quiver/memif library and the fuzz harness.
#pragma once
#include <cstddef>
#include <cstdint>

namespace quiver::memif {

constexpr uint16_t kVersion = 0x0200;          // (2 << 8) | 0; INIT.version must equal it
constexpr uint32_t kCookie = 0x3E31F20;        // v1 used 0x3E31F10: a v1 peer fails the cookie check
constexpr uint32_t kMsgSize = 128;
constexpr uint32_t kNameSize = 32;
constexpr uint32_t kSecretSize = 24;
constexpr uint32_t kDisconnectStringSize = 96;
constexpr uint8_t kMaxLog2RingSize = 14;
constexpr uint32_t kMaxRegions = 256;          // we accept region indices 0..255
constexpr uint32_t kMaxQueues = 256;           // rings per direction we can accept
constexpr uint16_t kDescFlagNext = 1;          // packet continues in the next descriptor
constexpr uint16_t kRingFlagMaskInt = 1;       // consumer polls: producer must not signal
constexpr uint16_t kAddRingFlagC2S = 1;        // VPP: MEMIF_MSG_ADD_RING_FLAG_S2M

enum class MsgType : uint16_t { None, Ack, Hello, Init, AddRegion, AddRing, Connect, Connected, Disconnect };
enum class Mode : uint8_t { Ethernet = 0, Ip = 1, PuntInject = 2 };
enum class Role : uint8_t { Server, Client };  // VPP: master / slave

#pragma pack(push, 1)
struct MsgHello {
  uint8_t name[kNameSize];
  uint16_t min_version;
  uint16_t max_version;
  uint16_t max_region;        // highest region index
  uint16_t max_m2s_ring;      // highest server->client ring index
  uint16_t max_s2m_ring;      // highest client->server ring index
  uint8_t max_log2_ring_size;
};
struct MsgInit {
  uint16_t version;
  uint32_t id;
  uint8_t mode;
  uint8_t secret[kSecretSize];
  uint8_t name[kNameSize];
};
struct MsgAddRegion {
  uint16_t index;
  uint64_t size;
};
struct MsgAddRing {
  uint16_t flags;
  uint16_t index;
  uint16_t region;
  uint32_t offset;
  uint8_t log2_ring_size;
  uint16_t private_hdr_size;
};
struct MsgConnect {
  uint8_t if_name[kNameSize];
};
struct MsgDisconnect {
  uint32_t code;
  uint8_t string[kDisconnectStringSize];
};
struct Msg {
  uint16_t type;
  union {
    MsgHello hello;
    MsgInit init;
    MsgAddRegion add_region;
    MsgAddRing add_ring;
    MsgConnect connect;
    MsgConnect connected;
    MsgDisconnect disconnect;
    uint8_t raw[kMsgSize - 2];
  };
};
struct Desc {
  uint16_t flags;
  uint16_t region;
  uint32_t length;  // filled slot: data bytes; empty slot posted by the client: buffer size
  uint32_t offset;  // from the region start; data begins exactly there (no headroom)
  uint32_t metadata;
};
#pragma pack(pop)

static_assert(sizeof(Msg) == kMsgSize, "memif message must be 128 bytes");
static_assert(offsetof(Msg, hello.min_version) == 34 && offsetof(Msg, hello.max_log2_ring_size) == 44, "HELLO layout");
static_assert(offsetof(Msg, init.id) == 4 && offsetof(Msg, init.mode) == 8 && offsetof(Msg, init.secret) == 9 &&
                  offsetof(Msg, init.name) == 33, "INIT layout");
static_assert(offsetof(Msg, add_region.size) == 4, "ADD_REGION layout");
static_assert(offsetof(Msg, add_ring.region) == 6 && offsetof(Msg, add_ring.offset) == 8 &&
                  offsetof(Msg, add_ring.log2_ring_size) == 12 && offsetof(Msg, add_ring.private_hdr_size) == 13,
              "ADD_RING layout");
static_assert(offsetof(Msg, disconnect.string) == 6, "DISCONNECT layout");
static_assert(sizeof(Desc) == 16 && offsetof(Desc, offset) == 8, "descriptor layout");

// Ring header: cookie @0, flags @4, head @6 (client writes), tail on its own cache line (server
// writes), descriptors after a second line. The line size is a build choice of each peer and is
// not negotiated: 64 on x86-64 (VPP, DPDK, libmemif), 128 on some Arm builds.
struct RingLayout {
  uint32_t cache_line = 64;
  uint32_t tail_offset() const { return cache_line; }
  uint32_t desc_offset() const { return 2 * cache_line; }
  uint64_t bytes(uint8_t log2) const { return desc_offset() + (uint64_t(sizeof(Desc)) << log2); }
};
constexpr uint32_t kRingCookieOffset = 0;
constexpr uint32_t kRingFlagsOffset = 4;
constexpr uint32_t kRingHeadOffset = 6;

}  // namespace quiver::memif
