// ethernet-input: parses Ethernet and up to two VLAN tags (802.1Q, 802.1ad), records header
// offsets and the inner ethertype, and dispatches by the rx interface's mode: cross-connect,
// bridge, or L3 by ethertype. Frames too short for what they claim are dropped and counted.
// A plain bridge member (kIfL2Direct, no l2-input feature on) skips l2-input: its only work
// would be tagging the frame with the bridge domain.
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/headers/ethernet.h"
#include "../../native/worker.h"
#include "ethernet.h"

namespace quiver {
namespace {

enum EthNext : uint16_t { kNextDrop, kNextXconnect, kNextL2Input, kNextIp4, kNextIp6, kNextArp, kNextVlan, kNextL2Fwd, kNextCount };
enum EthError : uint32_t { kErrRunt, kErrTruncatedVlan, kErrTooManyTags, kErrUnknownType, kErrNotForUs, kErrNoL3 };

struct EthTrace {
  uint8_t dst[6], src[6];
  uint16_t type;
  uint16_t vlan[2];
  uint8_t n_tags;
  uint8_t next;
  uint32_t rx_if;
};
std::string format_eth(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const EthTrace*>(d);
  static const char* names[] = {"error-drop", "l2-xconnect", "l2-input", "ip4-input", "ip6-input", "arp-input", "vlan-input", "l2-fwd"};
  char b[200];
  int n = snprintf(b, sizeof b, "%s: %02x:%02x:%02x:%02x:%02x:%02x -> %02x:%02x:%02x:%02x:%02x:%02x",
                   t->type == kEtherTypeIp4 ? "IP4" : t->type == kEtherTypeIp6 ? "IP6" : t->type == kEtherTypeArp ? "ARP" : "0x",
                   t->src[0], t->src[1], t->src[2], t->src[3], t->src[4], t->src[5], t->dst[0], t->dst[1], t->dst[2], t->dst[3],
                   t->dst[4], t->dst[5]);
  if (t->type != kEtherTypeIp4 && t->type != kEtherTypeIp6 && t->type != kEtherTypeArp)
    n += snprintf(b + n, sizeof b - n, " type 0x%04x", t->type);
  for (int i = 0; i < t->n_tags && i < 2; ++i) n += snprintf(b + n, sizeof b - n, " vlan %u", t->vlan[i]);
  snprintf(b + n, sizeof b - n, " rx %u -> %s", t->rx_if, t->next < kNextCount ? names[t->next] : "?");
  return b;
}

FeatureArcRef g_l2_input_arc("l2-input-features");

// Per vector: the l2-input-features masks (an interface with a feature on needs l2-input).
struct L2InputMasks {
  const uint32_t* mask;
  L2InputMasks() {
    const FeatureArc* a = g_l2_input_arc.get();
    mask = a ? a->masks.get()->mask : nullptr;
  }
};

// Parses one packet and returns its next. Common case first: untagged, long enough.
inline uint16_t eth_classify(NodeRuntime& node, const InterfaceTable& t, const L2InputMasks& l2in, Buffer* b) {
  const uint8_t* d = b->data();
  const uint16_t len = b->length;
  if (__builtin_expect(len < kEthernetHeaderSize, 0)) {
    b->error = node.error_code(kErrRunt);
    return kNextDrop;
  }
  const auto* eth = reinterpret_cast<const EthernetHeader*>(d);
  uint16_t type = eth->type();
  uint16_t hdr = kEthernetHeaderSize;
  b->l2_offset = b->data_offset;
  b->n_vlan_tags = 0;
  if (__builtin_expect(is_vlan_ethertype(type), 0)) {
    if (len < hdr + kVlanTagSize) {
      b->error = node.error_code(kErrTruncatedVlan);
      return kNextDrop;
    }
    const auto* tag = reinterpret_cast<const VlanTag*>(d + hdr);
    b->vlan_outer = ntohs(tag->tci_be);
    type = tag->type();
    hdr += kVlanTagSize;
    b->n_vlan_tags = 1;
    if (is_vlan_ethertype(type)) {
      if (len < hdr + kVlanTagSize) {
        b->error = node.error_code(kErrTruncatedVlan);
        return kNextDrop;
      }
      tag = reinterpret_cast<const VlanTag*>(d + hdr);
      b->vlan_inner = ntohs(tag->tci_be);
      type = tag->type();
      hdr += kVlanTagSize;
      b->n_vlan_tags = 2;
      if (is_vlan_ethertype(type)) {
        b->error = node.error_code(kErrTooManyTags);
        return kNextDrop;
      }
    }
    b->flags |= kBufVlanParsed;
  }
  b->ethertype = type;
  b->l3_offset = uint16_t(b->data_offset + hdr);
  const IfRuntime& rt = t.entry[b->rx_if];
  // Sub-interfaces (VLAN) are matched before the parent's mode applies.
  if (b->n_vlan_tags && (rt.flags & kIfHasSubInterfaces)) return kNextVlan;
  switch (rt.mode) {
    case IfMode::XConnect: return kNextXconnect;
    case IfMode::Bridge:
      if ((rt.flags & kIfL2Direct) && l2in.mask && !l2in.mask[b->rx_if]) {
        b->l2_bridge = rt.bridge_domain;
        return kNextL2Fwd;
      }
      return kNextL2Input;
    case IfMode::L3: break;
  }
  if (b->n_vlan_tags) {
    b->error = node.error_code(kErrUnknownType);
    return kNextDrop;
  }
  if (!mac_is_multicast(eth->dst) && !mac_equal(eth->dst, rt.mac)) {
    b->error = node.error_code(kErrNotForUs);
    return kNextDrop;
  }
  uint16_t next;
  if (type == kEtherTypeIp4) next = kNextIp4;
  else if (type == kEtherTypeIp6) next = kNextIp6;
  else if (type == kEtherTypeArp) next = kNextArp;
  else {
    b->error = node.error_code(kErrUnknownType);
    return kNextDrop;
  }
  if (!node.info->next_resolved[next]) {
    b->error = node.error_code(kErrNoL3);
    return kNextDrop;
  }
  b->advance(hdr);  // L3 nodes see the packet from their header on
  return next;
}

template <bool Trace>
uint32_t ethernet_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const InterfaceTable& t = w.interfaces();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  const L2InputMasks l2in;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = eth_classify(node, t, l2in, b[i]);
    next[i + 1] = eth_classify(node, t, l2in, b[i + 1]);
    next[i + 2] = eth_classify(node, t, l2in, b[i + 2]);
    next[i + 3] = eth_classify(node, t, l2in, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = eth_classify(node, t, l2in, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      EthTrace tr{};
      const uint8_t* d = b[i]->at(b[i]->l2_offset ? b[i]->l2_offset : b[i]->data_offset);
      if (b[i]->length >= 14 || b[i]->l2_offset) {
        std::memcpy(tr.dst, d, 6);
        std::memcpy(tr.src, d + 6, 6);
      }
      tr.type = b[i]->ethertype;
      tr.n_tags = b[i]->n_vlan_tags;
      tr.vlan[0] = b[i]->vlan_outer & 0xfff;
      tr.vlan[1] = b[i]->vlan_inner & 0xfff;
      tr.next = uint8_t(next[i]);
      tr.rx_if = b[i]->rx_if;
      w.trace(node, b[i], &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ethernet_input, {
  .name = "ethernet-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ethernet_input),
  .next_nodes = {"error-drop", "l2-xconnect", "l2-input", "ip4-input", "ip6-input", "arp-input", "vlan-input", "l2-fwd"},
  .errors = {{"runt", "frame shorter than an Ethernet header", Severity::Error},
             {"truncated-vlan", "frame ends inside a VLAN tag", Severity::Error},
             {"too-many-tags", "more than two VLAN tags", Severity::Error},
             {"unknown-ethertype", "no handler for this ethertype or tag on an L3 interface", Severity::Error},
             {"l3-mac-mismatch", "unicast destination MAC is not the interface's", Severity::Info},
             {"no-l3", "ethertype has no L3 feature compiled in", Severity::Error}},
  .format_trace = format_eth,
});

}  // namespace
}  // namespace quiver
