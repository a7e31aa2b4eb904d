// af_packet: packet sockets on any Linux interface, one per queue (PACKET_FANOUT spreads flows
// over them). Receive: a TPACKET_V3 block ring (the kernel fills blocks of many frames and
// hands a block over when it is full or its timer expires). Transmit: a TPACKET_V3 tx ring
// (fixed-size frames, like V2's) in the same mapping, flushed with one sendto() per vector and
// PACKET_QDISC_BYPASS. Frames are copied between the rings and Quiver buffers: inherent to
// AF_PACKET, whose rings are kernel memory.
#pragma once
#include <linux/if_packet.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../interface.h"
#include "../netdev/netdev.h"

namespace quiver {

struct AfPacketInterface;

struct AfPacketQueue {
  AfPacketInterface* intf = nullptr;
  uint32_t queue_id = 0;
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_len = 0;
  // rx: blocks, and where we are inside the current one
  uint8_t* rx_ring = nullptr;
  uint32_t block_size = 0, block_count = 0;
  uint32_t block = 0;        // current block
  uint32_t pkt_left = 0;     // frames of the current block not yet consumed (0: not opened)
  uint8_t* pkt = nullptr;    // next frame header in the current block
  // tx: fixed frames
  uint8_t* tx_ring = nullptr;
  uint32_t frame_size = 0, frame_count = 0;
  uint32_t tx_head = 0;
  std::atomic_flag tx_lock = ATOMIC_FLAG_INIT;
};

struct AfPacketInterface {
  uint32_t if_index = 0;
  std::string host;
  int host_ifindex = 0;
  int ctl = -1;
  std::vector<AfPacketQueue*> queues;
  bool tx_shared = false;
  uint32_t max_frame = 0;  // longest frame a tx frame holds
  std::string fanout = "hash";
  uint32_t fanout_id = 0;
  std::atomic<bool> gone{false};
  // kernel ring drops (PACKET_STATISTICS resets on read: accumulated here)
  uint64_t kernel_packets = 0, kernel_drops = 0, kernel_freezes = 0;

  AfPacketQueue* tx_queue(uint32_t worker) const { return queues[worker % queues.size()]; }
};

extern AfPacketInterface* g_af_packet[kMaxInterfaces];

// Where frame data starts in a tx frame (after the aligned tpacket3_hdr).
constexpr uint32_t kTxDataOffset = TPACKET_ALIGN(sizeof(tpacket3_hdr));

}  // namespace quiver
