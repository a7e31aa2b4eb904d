// vxlan4-input / vxlan6-input: decapsulation (the packet work is vxlan_decap.h's, shared with
// ip4/ip6-vxlan-bypass, which sends here what it cannot decapsulate cleanly). Local delivery
// hands over UDP packets for a VXLAN port with the data at the VXLAN header (l3_offset / l4_offset at the outer IP and UDP
// headers). The header must carry the I flag (every other flag and reserved bit is ignored,
// RFC 7348 §5); (VNI, outer source, outer destination, port) finds the tunnel. The inner
// frame then enters ethernet-input as received on the tunnel interface, so the tunnel's mode
// decides: bridge-domain member (L2 overlay) or L3 (routed overlay). An untagged frame of a
// bridged tunnel goes straight to l2-input with what ethernet-input would have recorded (as
// VPP's vxlan4-input does), or on to l2-fwd when the tunnel is a plain member (as
// ethernet-input does, see graph/ethernet/ethernet.h); tagged frames still meet
// ethernet-input and its sub-interfaces.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "vxlan.h"
#include "vxlan_decap.h"

namespace quiver {
namespace vxlan {
namespace {

enum DecapNext : uint16_t { kNextDrop, kNextEthernet, kNextL2Input, kNextL2Fwd };
enum DecapError : uint32_t { kErrTruncated, kErrNoIFlag, kErrUnknownVni, kErrUnknownSource, kErrTunnelDown };

FeatureArcRef g_l2_input_arc("l2-input-features");

struct DecapTrace {
  uint32_t vni;
  uint32_t tunnel_if;
  uint8_t remote[16];
  uint8_t flags;
  uint8_t is_ip6;
  uint16_t next;
  uint16_t error;
};
std::string format_decap(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const DecapTrace*>(d);
  char a[INET6_ADDRSTRLEN], b[200];
  inet_ntop(t->is_ip6 ? AF_INET6 : AF_INET, t->remote, a, sizeof a);
  if (t->next != kNextDrop)
    snprintf(b, sizeof b, "vxlan%c from %s vni %u flags 0x%02x -> tunnel %u", t->is_ip6 ? '6' : '4', a, t->vni, t->flags,
             t->tunnel_if);
  else
    snprintf(b, sizeof b, "vxlan%c from %s vni %u flags 0x%02x dropped", t->is_ip6 ? '6' : '4', a, t->vni, t->flags);
  return b;
}

// vxlan4-input's next and error for each outcome (errors in kDecapErrors order).
template <bool V6>
inline uint16_t decap_one(Worker& w, NodeRuntime& node, const VxlanTable& t, const InterfaceTable& it,
                          LastTunnel& last, CounterRun& run, Buffer* b) {
  static constexpr uint32_t kErrorOf[] = {0, 0, kErrTruncated, kErrNoIFlag, kErrUnknownVni, kErrUnknownSource, kErrTunnelDown, 0};
  const Decap d = decap<V6>(w, t, it, last, run, b);
  if (__builtin_expect(d == Decap::ToL2Fwd, 1)) return kNextL2Fwd;
  if (d == Decap::ToL2Input) return kNextL2Input;
  if (d == Decap::ToEthernet) return kNextEthernet;
  b->error = node.error_code(kErrorOf[uint8_t(d)]);
  return kNextDrop;
}

template <bool V6, bool Trace>
uint32_t vxlan_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  const InterfaceTable& it = w.interfaces();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  if (__builtin_expect(!t, 0)) {  // engine stopping: no table
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kErrUnknownVni);
    w.enqueue(node, kNextDrop, bi, n);
    return n;
  }
  LastTunnel last;
  last.l2_input_masks = g_l2_input_arc->masks.get()->mask;
  CounterRun run;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = decap_one<V6>(w, node, *t, it, last, run, b[i]);
    next[i + 1] = decap_one<V6>(w, node, *t, it, last, run, b[i + 1]);
    next[i + 2] = decap_one<V6>(w, node, *t, it, last, run, b[i + 2]);
    next[i + 3] = decap_one<V6>(w, node, *t, it, last, run, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = decap_one<V6>(w, node, *t, it, last, run, b[i]);
  if (run.packets) w.count_rx(run.if_index, run.packets, run.bytes);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      DecapTrace tr{};
      const bool decapsulated = next[i] != kNextDrop;
      const uint8_t* vx = decapsulated ? b[i]->data() - sizeof(VxlanHeader) : b[i]->data();
      if (b[i]->length >= sizeof(VxlanHeader) || decapsulated) {
        tr.vni = reinterpret_cast<const VxlanHeader*>(vx)->vni();
        tr.flags = vx[0];
      }
      tr.is_ip6 = V6;
      if constexpr (V6) std::memcpy(tr.remote, reinterpret_cast<const Ip6Header*>(b[i]->at(b[i]->l3_offset))->src, 16);
      else std::memcpy(tr.remote, &reinterpret_cast<const Ip4Header*>(b[i]->at(b[i]->l3_offset))->src, 4);
      tr.tunnel_if = decapsulated ? b[i]->rx_if : kInvalidIf;
      tr.next = next[i];
      tr.error = b[i]->error;
      w.trace(node, b[i], &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

template <bool Trace>
uint32_t vxlan4_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_input<false, Trace>(w, node, bi, n);
}
template <bool Trace>
uint32_t vxlan6_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_input<true, Trace>(w, node, bi, n);
}

const std::vector<ErrorDesc> kDecapErrors = {
    {"truncated", "shorter than a VXLAN header and an inner Ethernet header", Severity::Error},
    {"no-i-flag", "VXLAN header without the I (valid VNI) flag", Severity::Error},
    {"unknown-vni", "no tunnel has this VNI", Severity::Error},
    {"unknown-source", "no tunnel with this VNI from this outer source/destination/port", Severity::Error},
    {"tunnel-down", "tunnel interface is administratively down", Severity::Info},
};

QUIVER_NODE(vxlan4_input, {
  .name = "vxlan4-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vxlan4_input),
  .next_nodes = {"error-drop", "ethernet-input", "l2-input", "l2-fwd"},
  .errors = kDecapErrors,
  .format_trace = format_decap,
});
QUIVER_NODE(vxlan6_input, {
  .name = "vxlan6-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vxlan6_input),
  .next_nodes = {"error-drop", "ethernet-input", "l2-input", "l2-fwd"},
  .errors = kDecapErrors,
  .format_trace = format_decap,
});

}  // namespace

bool VxlanTable::has_vni(uint32_t vni) const { return std::binary_search(vnis.begin(), vnis.end(), vni); }

}  // namespace vxlan
}  // namespace quiver
