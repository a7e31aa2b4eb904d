// af_xdp: one AF_XDP socket (XSK) per queue of a Linux interface, its UMEM being Quiver's whole
// buffer pool (native/buffer.h): the kernel writes received frames straight into pool slots at
// slot + kDataOffset and transmits from buffer data in place, so nothing is copied between the
// UMEM and the graph. An XDP program redirects every frame of queue q to the XSK of queue q.
#pragma once
#include <linux/if_xdp.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../buffer.h"
#include "../interface.h"
#include "../netdev/netdev.h"

namespace quiver {

// One mmap'ed XSK ring. Producer rings (fill, tx) are written by us, consumer rings (rx,
// completion) by the kernel; the indices are free-running 32-bit counters.
struct XskRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  void* desc = nullptr;
  uint32_t size = 0;
  uint32_t mask = 0;
  uint32_t cached_prod = 0;  // producer rings: our next index
  uint32_t cached_cons = 0;  // consumer rings: our next index
  void* map = nullptr;
  size_t map_len = 0;

  uint64_t* addrs() const { return static_cast<uint64_t*>(desc); }
  xdp_desc* descs() const { return static_cast<xdp_desc*>(desc); }
  // Entries the kernel produced that we have not consumed (rx, completion).
  uint32_t available() const { return __atomic_load_n(producer, __ATOMIC_ACQUIRE) - cached_cons; }
  void release(uint32_t n) {
    cached_cons += n;
    __atomic_store_n(consumer, cached_cons, __ATOMIC_RELEASE);
  }
  // Slots we may fill (fill, tx).
  uint32_t free_slots() const { return size - (cached_prod - __atomic_load_n(consumer, __ATOMIC_ACQUIRE)); }
  void submit(uint32_t n) {
    cached_prod += n;
    __atomic_store_n(producer, cached_prod, __ATOMIC_RELEASE);
  }
  bool needs_wakeup() const { return __atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP; }
};

// Which pool buffers a queue has handed to the kernel: a bit per buffer, so that whatever the
// kernel still holds when the socket closes (fill ring, its own free list, tx not yet
// completed) goes back to the pool exactly once.
class BufferBitmap {
 public:
  void resize(uint32_t buffers) { bits_.assign((buffers + 63) / 64, 0); }
  void set(uint32_t i) { bits_[i >> 6] |= 1ull << (i & 63); }
  // Clears and reports whether the bit was set (a descriptor naming a buffer we never posted
  // is refused, not double-used).
  bool take(uint32_t i) {
    const uint64_t m = 1ull << (i & 63);
    const bool had = bits_[i >> 6] & m;
    bits_[i >> 6] &= ~m;
    return had;
  }
  template <class F> void for_each(F&& f) const {
    for (size_t w = 0; w < bits_.size(); ++w)
      for (uint64_t v = bits_[w]; v; v &= v - 1) f(uint32_t(w * 64 + __builtin_ctzll(v)));
  }

 private:
  std::vector<uint64_t> bits_;
};

struct AfXdpInterface;

struct AfXdpQueue {
  AfXdpInterface* intf = nullptr;
  uint32_t queue_id = 0;
  int fd = -1;
  XskRing fill, comp, rx, tx;
  BufferBitmap posted;   // in the fill ring or inside the kernel's rx path (rx worker only)
  BufferBitmap sending;  // in the tx ring or awaiting completion (tx owner only)
  std::atomic_flag tx_lock = ATOMIC_FLAG_INIT;  // taken only when more workers than tx queues
  uint64_t kernel_drops_seen = 0;  // XDP_STATISTICS rx_dropped + rx_ring_full already counted
};

enum class XdpMode : uint8_t { Native, Generic };
enum class XdpAttach : uint8_t { Link, Netlink };

struct AfXdpInterface {
  uint32_t if_index = 0;  // Quiver's
  std::string host;       // the Linux interface
  int host_ifindex = 0;
  int ctl = -1;           // ioctl socket
  std::vector<AfXdpQueue*> queues;
  uint32_t tx_queues = 1;   // queues usable for tx (queue id < the device's tx queue count)
  bool tx_shared = false;   // more workers than tx queues: tx takes the queue's lock
  uint32_t ring_size = 2048;
  XdpMode mode = XdpMode::Native;
  XdpAttach attach = XdpAttach::Link;
  int prog_fd = -1, map_fd = -1, link_fd = -1;
  uint32_t prog_id = 0;
  std::string replaced;  // what a stale program we replaced was, for details
  std::atomic<bool> gone{false};  // the Linux interface disappeared

  AfXdpQueue* tx_queue(uint32_t worker) const { return queues[worker % tx_queues]; }
};

extern AfXdpInterface* g_af_xdp[kMaxInterfaces];

// af_xdp_bpf.cc: the XSK map, the redirect program and its attachment.
namespace af_xdp_bpf {
constexpr const char* kProgName = "quiver_xsk";
int create_xsk_map(uint32_t entries);
int load_redirect_program(int map_fd);  // throws with the verifier log
uint32_t prog_id(int prog_fd);
void map_set(int map_fd, uint32_t key, int xsk_fd);
// Removes a stale program found on the interface (ours after a crash, or any with replace);
// returns a description of what was replaced ("" if nothing was attached).
std::string clear_stale(int ifindex, const std::string& host, bool replace_foreign);
// Attaches prog_fd; mode in/out (auto: native then generic). Returns the link fd or -1 when
// attached through netlink.
int attach(int ifindex, const std::string& host, int prog_fd, const std::string& mode, XdpAttach how, XdpMode* mode_out);
void detach(AfXdpInterface& xi);
}  // namespace af_xdp_bpf

}  // namespace quiver
