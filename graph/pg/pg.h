// pg: the packet generator interface. An input node that replays pcap packets or synthesizes
// Ethernet/IPv4/UDP streams (sizes, rate, per-packet incrementing fields), and a tx node that
// counts what leaves and can keep it for tests (capture). Deterministic by construction.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace quiver {

struct PgField {
  uint16_t offset = 0;  // from the start of the frame
  uint8_t width = 4;    // 1, 2 or 4 bytes, written big endian
  uint32_t start = 0;
  uint32_t step = 1;
  uint32_t count = 1;   // values cycle through start + k*step, k < count
  bool random = false;  // uniformly random in [start, start + count*step)
};

struct PgStream {
  std::string name;
  uint32_t if_index = 0;
  std::vector<std::vector<uint8_t>> packets;  // templates, used round robin
  uint64_t limit = 0;        // packets to send; 0 = until disabled
  double rate_pps = 0;       // 0 = as fast as possible
  uint16_t size_min = 0;     // synthesized: frame size range (without FCS), 0 = template size
  uint16_t size_max = 0;
  std::vector<PgField> fields;
  int32_t ip4_offset = -1;   // >= 0: fix IPv4 length/checksum and UDP length per packet
  // Worker-owned state; atomics so the control side can read progress.
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> enabled{false};
  uint64_t seq = 0;
  double tokens = 0;
  uint64_t last_tsc = 0;
  uint64_t rng = 0x9e3779b97f4a7c15ull;
};

struct PgInterface {
  uint32_t if_index = 0;
  std::vector<PgStream*> streams;  // changed only on the owning worker (run_sync)
  // Test capture of transmitted packets.
  std::atomic<uint32_t> capture_max{0};
  std::mutex capture_lock;
  std::vector<std::vector<uint8_t>> captured;
  std::atomic<uint64_t> captured_total{0};
};

}  // namespace quiver
