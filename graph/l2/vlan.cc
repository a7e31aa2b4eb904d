// VLAN sub-interfaces on the packet path.
// * vlan-input: ethernet-input sends tagged frames of a parent that has sub-interfaces here.
//   Exact match of (parent, outer TPID kind, outer VID[, inner VID]) gives the sub-interface,
//   which becomes rx_if; then its mode applies: bridge or cross-connect -> l2-input with the
//   tags still on (tag rewrite is l2-input's job), L3 -> tags stripped and ethernet-input
//   again, which sees an untagged frame on the sub-interface. No match: dropped and counted.
// * vlan-output: the tx node of every sub-interface. An untagged frame (an L3 packet, or a
//   bridged frame that entered untagged) gets the sub-interface's tag(s) pushed in the
//   headroom; a tagged frame must already carry them (the egress tag rewrite put them back),
//   else it is dropped as a mismatch. Then it leaves on the parent through interface-output.
#include <algorithm>
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/headers/ethernet.h"
#include "../../native/worker.h"
#include "l2.h"
#include "l2_vtr.h"

namespace quiver {
namespace l2 {
namespace {

enum VinNext : uint16_t { kVinDrop, kVinL2, kVinEthernet };
enum VinError : uint32_t { kVinNoMatch, kVinDown, kVinStopped };

struct VlanTrace {
  uint32_t from, to;
  uint16_t outer, inner;
  uint8_t n_tags;
  uint8_t next;
};
std::string format_vlan_in(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const VlanTrace*>(d);
  static const char* names[] = {"drop", "l2-input", "ethernet-input"};
  char b[128];
  snprintf(b, sizeof b, "parent %u vlan %u%s%s -> sub-interface %d -> %s", t->from, t->outer, t->n_tags > 1 ? "." : "",
           t->n_tags > 1 ? std::to_string(t->inner).c_str() : "", t->next ? int(t->to) : -1, t->next < 3 ? names[t->next] : "?");
  return b;
}

inline uint32_t match(const VlanTable& vt, const Buffer* b) {
  const VlanParent* p = vt.parent[b->rx_if].get();
  if (!p) return 0;
  const uint8_t* d = b->data();
  const bool dot1ad = be16_at(d + 12) != kEtherTypeVlan;
  const uint16_t outer = b->vlan_outer & 0xfff;
  if (b->n_vlan_tags == 1) return dot1ad ? p->dot1ad[outer] : p->dot1q[outer];
  const uint32_t key = VlanParent::qinq_key(dot1ad, outer, b->vlan_inner & 0xfff);
  auto it = std::lower_bound(p->qinq.begin(), p->qinq.end(), std::make_pair(key, 0u));
  return it != p->qinq.end() && it->first == key ? it->second + 1 : 0;
}

inline uint16_t classify(Worker& w, NodeRuntime& node, const VlanTable& vt, const InterfaceTable& it, Buffer* b) {
  const uint32_t m = match(vt, b);
  if (__builtin_expect(!m, 0)) {
    b->error = node.error_code(kVinNoMatch);
    return kVinDrop;
  }
  const uint32_t sub = m - 1;
  const IfRuntime& rt = it.entry[sub];
  if (__builtin_expect(!rt.admin_up, 0)) {
    b->error = node.error_code(kVinDown);
    return kVinDrop;
  }
  b->rx_if = sub;
  w.count_rx(sub, 1, b->total_length());
  if (rt.mode != IfMode::L3) return kVinL2;
  const uint32_t strip = kVlanTagSize * b->n_vlan_tags;
  std::memmove(b->data() + strip, b->data(), 12);
  b->advance(int(strip));
  b->n_vlan_tags = 0;
  return kVinEthernet;
}

template <bool Trace>
uint32_t vlan_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  L2Runtime* rt = runtime();
  if (__builtin_expect(!rt, 0)) {
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kVinStopped);
    w.enqueue(node, kVinDrop, bi, n);
    return n;
  }
  const VlanTable& vt = *rt->vlans.get();
  const InterfaceTable& it = w.interfaces();
  uint32_t from[kFrameSize];
  if constexpr (Trace)
    for (uint32_t i = 0; i < n; ++i) from[i] = b[i]->rx_if;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    for (uint32_t k = 0; k < 4; ++k) next[i + k] = classify(w, node, vt, it, b[i + k]);
  }
  for (; i < n; ++i) next[i] = classify(w, node, vt, it, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      VlanTrace t{from[i], b[i]->rx_if, uint16_t(b[i]->vlan_outer & 0xfff), uint16_t(b[i]->vlan_inner & 0xfff),
                  b[i]->n_vlan_tags, uint8_t(next[i])};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(vlan_input, {
  .name = "vlan-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vlan_input),
  .next_nodes = {"error-drop", "l2-input", "ethernet-input"},
  .errors = {{"no-sub-interface", "tagged frame matches no sub-interface of its parent", Severity::Info},
             {"sub-interface-down", "matching sub-interface is administratively down", Severity::Info},
             {"stopped", "l2 runtime is being torn down", Severity::Error}},
  .format_trace = format_vlan_in,
});

enum VoutNext : uint16_t { kVoutDrop, kVoutOutput };
enum VoutError : uint32_t { kVoutMismatch, kVoutNoHeadroom, kVoutNotSub };

struct VoutTrace {
  uint32_t sub, parent;
  uint8_t pushed;
  uint8_t dropped;
};
std::string format_vlan_out(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const VoutTrace*>(d);
  char b[128];
  snprintf(b, sizeof b, "sub-interface %u -> parent %u%s%s", t->sub, t->parent, t->pushed ? " tags pushed" : "",
           t->dropped ? " dropped" : "");
  return b;
}

// True when the frame's outermost tags are the sub-interface's (TPID and VID).
inline bool carries(const uint8_t* d, uint32_t len, const SubIf& s) {
  if (len < kEthernetHeaderSize + kVlanTagSize * s.n_tags) return false;
  for (uint32_t k = 0; k < s.n_tags; ++k) {
    const uint8_t* have = d + 12 + kVlanTagSize * k;
    const uint8_t* want = s.tags + kVlanTagSize * k;
    if (have[0] != want[0] || have[1] != want[1] || (have[2] & 0x0f) != (want[2] & 0x0f) || have[3] != want[3]) return false;
  }
  return true;
}

inline uint16_t transmit(Worker& w, NodeRuntime& node, const VlanTable& vt, Buffer* b, bool* pushed) {
  const SubIf& s = vt.sub[b->tx_if];
  if (__builtin_expect(!s.n_tags, 0)) {
    b->error = node.error_code(kVoutNotSub);
    return kVoutDrop;
  }
  uint8_t* d = b->data();
  if (!is_vlan_ethertype(be16_at(d + 12))) {
    const uint32_t add = kVlanTagSize * s.n_tags;
    if (__builtin_expect(b->headroom() < add, 0)) {
      b->error = node.error_code(kVoutNoHeadroom);
      return kVoutDrop;
    }
    std::memmove(d - add, d, 12);
    std::memcpy(d - add + 12, s.tags, add);
    b->advance(-int(add));
    *pushed = true;
  } else if (!carries(d, b->length, s)) {
    b->error = node.error_code(kVoutMismatch);
    return kVoutDrop;
  }
  w.count_tx(b->tx_if, 1, b->total_length());
  b->tx_if = s.parent;
  return kVoutOutput;
}

template <bool Trace>
uint32_t vlan_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  L2Runtime* rt = runtime();
  if (__builtin_expect(!rt, 0)) {
    for (uint32_t i = 0; i < n; ++i) b[i]->error = node.error_code(kVoutNotSub);
    w.enqueue(node, kVoutDrop, bi, n);
    return n;
  }
  const VlanTable& vt = *rt->vlans.get();
  for (uint32_t i = 0; i < n; ++i) {
    if (i + 4 < n) {
      __builtin_prefetch(b[i + 4]);
      __builtin_prefetch(b[i + 4]->data());
    }
    const uint32_t sub = b[i]->tx_if;
    bool pushed = false;
    next[i] = transmit(w, node, vt, b[i], &pushed);
    if constexpr (Trace) {
      VoutTrace t{sub, vt.sub[sub].parent, pushed, next[i] == kVoutDrop};
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(vlan_output, {
  .name = "vlan-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vlan_output),
  .next_nodes = {"error-drop", "interface-output"},
  .errors = {{"tag-mismatch", "tagged frame does not carry the sub-interface's tags", Severity::Error},
             {"no-headroom", "no headroom to push the sub-interface's tags", Severity::Error},
             {"not-a-sub-interface", "tx interface is no longer a sub-interface", Severity::Error}},
  .format_trace = format_vlan_out,
});
QUIVER_ARC(vlan_output, "interface-output", "vlan-output");

}  // namespace
}  // namespace l2
}  // namespace quiver
