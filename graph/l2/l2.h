// L2 switching state shared by the l2 nodes and their control side: bridge domains, the
// per-interface L2 configuration (membership, split horizon, learning, tag rewrite), VLAN
// sub-interfaces, the MAC table and the per-worker learn queues.
//
// Everything a worker reads is either a Published<> table (replaced copy-on-write by the
// control side) or the MAC table, which has exactly one writer: worker 0's thread (see
// l2_fib.h). Control-side changes to the MAC table run on worker 0 through run_sync.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../../native/buffer.h"
#include "../../native/epoch.h"
#include "../../native/feature_arc.h"
#include "../../native/interface.h"
#include "l2_fib.h"

namespace quiver {
class Engine;
class Worker;
namespace l2 {

constexpr uint32_t kMaxBridgeDomains = 4096;  // bridge domain indices 1..4095; 0 means "none"
constexpr uint32_t kMaxBridgeDomainId = 16777215;
constexpr uint32_t kDefaultMacAge = 300;       // seconds

enum L2IfFlags : uint8_t {
  kL2Member = 1u << 0,  // in a bridge domain
  kL2Learn = 1u << 1,   // learn source MACs received on it
  kL2Bvi = 1u << 2,     // the bridge domain's BVI
};

// A tag rewrite: pop `pop` tags (0..2), then push `push` tags (0..2) whose wire bytes
// (TPID, TCI; outermost first) are in `tags`. Translations are a pop and a push.
struct TagOp {
  uint8_t pop = 0;
  uint8_t push = 0;
  uint8_t tags[8] = {};
  bool active() const { return (pop | push) != 0; }
};

struct L2If {
  uint16_t bd = 0;     // bridge domain index, 0: not a member
  uint8_t shg = 0;     // split-horizon group, 0: none
  uint8_t flags = 0;   // L2IfFlags
  TagOp in;            // on entry to the bridge domain (l2-input)
  TagOp out;           // on exit (l2-output): the inverse of `in`
  uint8_t pad[4] = {};
};
static_assert(sizeof(L2If) == 28);

struct L2IfTable {
  L2If entry[kMaxInterfaces];
};

struct BdMember {
  uint32_t if_index;
  uint8_t shg;
  uint8_t bvi;
};

struct BdRuntime {
  uint8_t valid = 0;
  uint8_t learn = 1;
  uint8_t forward = 1;
  uint8_t uu_flood = 1;
  uint8_t flood = 1;
  uint32_t id = 0;
  uint32_t bvi_if = kInvalidIf;
  uint32_t mac_limit = 0;   // learned entries allowed, 0: only the table's capacity limits
  uint32_t mac_age = kDefaultMacAge;  // seconds, 0: learned entries never age out
  std::vector<BdMember> members;      // flooding order
};

struct BdTable {
  BdRuntime bd[kMaxBridgeDomains];
};

// A dot1q/dot1ad sub-interface: exact match on its tag(s) on its parent.
struct SubIf {
  uint32_t parent = kInvalidIf;
  uint8_t n_tags = 0;    // 0: not a sub-interface
  uint8_t dot1ad = 0;    // outer TPID 0x88a8 (else 0x8100)
  uint16_t outer = 0;    // VIDs
  uint16_t inner = 0;
  uint8_t tags[8] = {};  // wire bytes of its tag(s), pushed on transmit
};

// Per parent: VID -> sub-interface index + 1 for single-tagged frames, and a sorted list for
// double-tagged ones.
struct VlanParent {
  uint16_t dot1q[4096] = {};
  uint16_t dot1ad[4096] = {};
  std::vector<std::pair<uint32_t, uint32_t>> qinq;  // (dot1ad << 24 | outer << 12 | inner, sub)
  static uint32_t qinq_key(bool dot1ad, uint16_t outer, uint16_t inner) {
    return (uint32_t(dot1ad) << 24) | (uint32_t(outer) << 12) | inner;
  }
};

struct VlanTable {
  SubIf sub[kMaxInterfaces];
  std::shared_ptr<const VlanParent> parent[kMaxInterfaces];
};

// Learn events from workers other than 0 (the MAC table's writer), drained by l2-fib-process.
struct LearnEvent {
  uint64_t key;
  uint32_t if_index;
  uint32_t pad;
};
struct alignas(64) LearnQueue {
  static constexpr uint32_t kSize = 4096;
  static constexpr uint32_t kRecent = 64;
  std::atomic<uint32_t> head{0};  // consumer (worker 0)
  std::atomic<uint32_t> drains{0};  // bumped by the consumer after each drain
  alignas(64) std::atomic<uint32_t> tail{0};  // producer
  // Producer-only filter so a busy new station is queued once per drain, not once per packet.
  uint64_t recent_key[kRecent] = {};
  uint32_t recent_if[kRecent] = {};
  uint32_t recent_drain[kRecent] = {};
  LearnEvent ev[kSize];
};

// What the l2 nodes read. Created at engine start, retired at stop.
struct L2Runtime {
  Published<BdTable> bds;
  Published<L2IfTable> ifs;
  Published<VlanTable> vlans;
  MacTable fib;
  std::unique_ptr<LearnQueue[]> queues;  // one per worker
  uint32_t n_workers = 0;
  // Writer-owned counts per bridge domain index, read by the control side.
  std::atomic<uint32_t> learned[kMaxBridgeDomains] = {};
  std::atomic<uint32_t> statics[kMaxBridgeDomains] = {};
  uint32_t age_cursor = 0;  // writer-only: next bucket the aging sweep visits
  uint32_t age_last = 0;    // writer-only: time of the last sweep step
  uint64_t drain_fast_until = 0;  // writer-only: TSC until which learn queues are drained every 10 ms
  std::atomic<uint32_t> bridge_domains{0};  // how many exist (control side counts)
  uint16_t fwd_node = 0;  // node index of l2-fwd: learn counters are its errors
  double tsc_per_tick = 1;  // TSC ticks per MAC table time unit (10 ms)
  ~L2Runtime() {
    bds.reset_unsafe();
    ifs.reset_unsafe();
    vlans.reset_unsafe();
  }
};

// The live runtime, or null when the engine is stopped.
L2Runtime* runtime();

// l2-fwd's errors; the learning ones are also counted by l2-fib-process for other workers.
enum FwdError : uint32_t {
  kFwdNoBridge,
  kFwdForwardOff,
  kFwdFloodOff,
  kFwdUuFloodOff,
  kFwdReflected,
  kFwdSplitHorizon,
  kFwdNotConnected,
  kFwdLearned,
  kFwdMove,
  kFwdLimit,
  kFwdTableFull,
  kFwdStaticMove,
  kFwdQueueFull,
};

// Learning, on worker 0's thread only. Returns the l2-fwd error to count, or -1 for none.
int learn_on_writer(L2Runtime& rt, const BdTable& bds, const L2IfTable& ifs, uint64_t key, uint32_t if_index,
                    uint32_t now);

// Time in the MAC table's unit (10 ms ticks).
inline uint32_t fib_now(const L2Runtime& rt, uint64_t tsc) { return uint32_t(double(tsc) / rt.tsc_per_tick); }
constexpr uint32_t kTicksPerSecond = 100;

// FeatureArc::start_next with the arc's per-interface masks and next row read once per
// vector instead of once per packet (same result).
struct ArcStart {
  const uint32_t* mask;
  const uint16_t* row;
  uint32_t end;
  explicit ArcStart(const FeatureArc* a)
      : mask(a->masks.get()->mask), row(a->next_of[0].data()), end(uint32_t(a->features.size())) {}
  uint16_t next(uint32_t if_index) const {
    const uint32_t m = mask[if_index];
    return row[m ? uint32_t(__builtin_ctz(m)) : end];
  }
};

// Wire bytes of one tag.
inline void put_tag(uint8_t* p, bool dot1ad, uint16_t vid) {
  const uint16_t tpid = dot1ad ? 0x88a8 : 0x8100;
  p[0] = uint8_t(tpid >> 8);
  p[1] = uint8_t(tpid);
  p[2] = uint8_t(vid >> 8);
  p[3] = uint8_t(vid);
}

}  // namespace l2
}  // namespace quiver
