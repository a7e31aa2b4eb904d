// tap: a Linux TAP device owned by Quiver (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, multi-queue),
// optionally living in another network namespace (created in Quiver's namespace, then moved
// and renamed there, so Quiver holds no reference that would keep that namespace alive).
// Every frame crosses the tun fd with one read()/write(): no shared ring as with vhost-net.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../interface.h"
#include "../netdev/netdev.h"

namespace quiver {

// struct virtio_net_hdr (linux/virtio_net.h cannot be included from C++: a member is named
// `class`). Little-endian fields: the host's order on x86.
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VirtioNetHdr) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
constexpr uint8_t kVnetGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE

struct TapInterface;

struct TapQueue {
  TapInterface* intf = nullptr;
  uint32_t queue_id = 0;
  int fd = -1;
  // Buffers kept ready for the next read() (counted as held by the pool).
  static constexpr uint32_t kSpareMax = 64;
  uint32_t spare[kSpareMax];
  uint32_t n_spare = 0;
  std::atomic_flag tx_lock = ATOMIC_FLAG_INIT;
};

struct TapInterface {
  uint32_t if_index = 0;
  std::string host_name;   // the device's name (in its namespace)
  std::string netns;       // "" = Quiver's namespace
  int host_ifindex = 0;    // in its namespace
  std::vector<TapQueue*> queues;
  bool tx_shared = false;
  bool csum_offload = false;   // TUN_F_CSUM: the kernel may hand us partial checksums
  std::atomic<uint32_t> bufs_per_frame{1};  // buffers one read() may need (MTU dependent)
  std::atomic<bool> gone{false};

  TapQueue* tx_queue(uint32_t worker) const { return queues[worker % queues.size()]; }
};

extern TapInterface* g_tap[kMaxInterfaces];

}  // namespace quiver
