// Echo replies for pings the dataplane itself sends (`ping` in the TypeScript API): a few
// sessions, each an ICMP identifier, and per sequence number the TSC at which the reply came
// back. Workers write with relaxed atomics; the control side reads and clears.
#pragma once
#include <atomic>
#include <cstdint>

#include "ip_common.h"

namespace quiver {

constexpr uint32_t kPingSessions = 16;
constexpr uint32_t kPingSeqs = 1024;

struct PingSessions {
  std::atomic<uint32_t> id[kPingSessions];  // 0: free, else 0x10000 | identifier
  std::atomic<uint64_t> reply_tsc[kPingSessions][kPingSeqs];
};
extern PingSessions g_ping;

// Records an echo reply; false when no session waits for this identifier.
inline bool ping_record(uint16_t ident, uint16_t seq, uint64_t tsc) {
  const uint32_t want = 0x10000u | ident;
  for (uint32_t s = 0; s < kPingSessions; ++s) {
    if (g_ping.id[s].load(std::memory_order_relaxed) != want) continue;
    g_ping.reply_tsc[s][seq % kPingSeqs].store(tsc, std::memory_order_relaxed);
    return true;
  }
  return false;
}

}  // namespace quiver
