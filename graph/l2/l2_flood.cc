// l2-flood: replicates broadcast, multicast and unknown-unicast frames to every member of the
// bridge domain except the rx interface, members of the rx interface's split-horizon group
// and members that are administratively down. Each member but the last gets a copy (a new
// buffer: both metadata lines and the frame); the last gets the original. The BVI's copy goes
// up to L3 through bvi-input. Chained (jumbo) frames are refused when they would need a copy.
#include <cstdio>
#include <cstring>
#include <string>

#include "../../native/engine.h"
#include "../../native/worker.h"
#include "l2.h"

namespace quiver {
namespace l2 {
namespace {

enum FloodNext : uint16_t { kNextDrop, kNextOutput, kNextBvi };
enum FloodError : uint32_t { kErrNoMembers, kErrNoBuffer, kErrChained, kErrNoBridge };

struct FloodTrace {
  uint32_t rx_if;
  uint16_t bd;
  uint16_t copies;
};
std::string format_flood(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const FloodTrace*>(d);
  char b[96];
  snprintf(b, sizeof b, "bd index %u rx %u flooded to %u members", t->bd, t->rx_if, t->copies);
  return b;
}

// Frames leave in batches: one flood can produce many buffers.
struct Out {
  Worker& w;
  NodeRuntime& node;
  uint32_t bi[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t n = 0;
  void add(uint32_t buffer, uint16_t nx) {
    if (n == kFrameSize) flush();
    bi[n] = buffer;
    next[n++] = nx;
  }
  void flush() {
    w.enqueue_to_nexts(node, bi, next, n);
    n = 0;
  }
};

inline bool eligible(const BdMember& m, uint32_t rx, uint8_t rx_shg, const InterfaceTable& it) {
  return m.if_index != rx && !(rx_shg && m.shg == rx_shg) && it.entry[m.if_index].admin_up;
}

inline void clone(Buffer* to, const Buffer* from) {
  std::memcpy(static_cast<void*>(to), from, sizeof(Buffer));
  to->flags &= ~kBufTraced;  // the trace follows the original
  std::memcpy(to->data(), from->data(), from->length);
}

template <bool Trace>
uint32_t l2_flood(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Out out{w, node, {}, {}, 0};
  L2Runtime* rt = runtime();
  const BdTable* bds = rt ? rt->bds.get() : nullptr;
  const L2IfTable* ifs = rt ? rt->ifs.get() : nullptr;
  const InterfaceTable& it = w.interfaces();
  uint32_t copies[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    if (i + 1 < n) __builtin_prefetch(w.buffer(bi[i + 1]));
    Buffer* b = w.buffer(bi[i]);
    const uint32_t rx = b->rx_if;
    const BdRuntime* bdr = bds ? &bds->bd[b->l2_bridge] : nullptr;
    if (!bdr || !bdr->valid) {
      b->error = node.error_code(kErrNoBridge);
      out.add(bi[i], kNextDrop);
      continue;
    }
    const uint8_t rx_shg = ifs->entry[rx].shg;
    uint32_t targets = 0;
    for (const BdMember& m : bdr->members) targets += eligible(m, rx, rx_shg, it);
    if (targets == 0) {
      b->error = node.error_code(kErrNoMembers);
      out.add(bi[i], kNextDrop);
      continue;
    }
    if (targets > 1 && (b->flags & kBufNextPresent)) {
      b->error = node.error_code(kErrChained);
      out.add(bi[i], kNextDrop);
      continue;
    }
    uint32_t want = targets - 1;
    if (want > kFrameSize) want = kFrameSize;
    const uint32_t got = want ? w.alloc(copies, want) : 0;
    if (got < targets - 1) w.count_error(node, kErrNoBuffer, targets - 1 - got);
    // Copies first, to the first members; the original to the last member served.
    uint32_t used = 0;
    const BdMember* last = nullptr;
    for (const BdMember& m : bdr->members) {
      if (!eligible(m, rx, rx_shg, it)) continue;
      if (last) {
        if (used == got) break;
        Buffer* c = w.buffer(copies[used]);
        clone(c, b);
        c->tx_if = last->if_index;
        out.add(copies[used++], last->bvi ? kNextBvi : kNextOutput);
      }
      last = &m;
    }
    b->tx_if = last->if_index;
    out.add(bi[i], last->bvi ? kNextBvi : kNextOutput);
    if constexpr (Trace) {
      FloodTrace t{rx, uint16_t(b->l2_bridge), uint16_t(used + 1)};
      w.trace(node, b, &t, sizeof t);
    }
  }
  out.flush();
  return n;
}

QUIVER_NODE(l2_flood, {
  .name = "l2-flood",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(l2_flood),
  .next_nodes = {"error-drop", "l2-output", "bvi-input"},
  .errors = {{"no-members", "flooded to nobody: no other eligible member", Severity::Info},
             {"no-buffer", "flood copies not made: buffer pool exhausted", Severity::Error},
             {"chained-not-flooded", "chained (jumbo) frame refused: flood copies need a single buffer", Severity::Error},
             {"no-bridge-domain", "bridge domain was deleted", Severity::Error}},
  .format_trace = format_flood,
});

}  // namespace
}  // namespace l2
}  // namespace quiver
