// vxlan4-input / vxlan6-input: decapsulation. Local delivery hands over UDP packets for a VXLAN
// port with the data at the VXLAN header (l3_offset / l4_offset at the outer IP and UDP
// headers). The header must carry the I flag (every other flag and reserved bit is ignored,
// RFC 7348 §5); (VNI, outer source, outer destination, port) finds the tunnel. The inner
// frame then enters ethernet-input as received on the tunnel interface, so the tunnel's mode
// decides: bridge-domain member (L2 overlay) or L3 (routed overlay).
#include <algorithm>
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/worker.h"
#include "vxlan.h"

namespace quiver {
namespace vxlan {
namespace {

enum DecapNext : uint16_t { kNextDrop, kNextEthernet };
enum DecapError : uint32_t { kErrTruncated, kErrNoIFlag, kErrUnknownVni, kErrUnknownSource, kErrTunnelDown };

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
  if (t->next == kNextEthernet)
    snprintf(b, sizeof b, "vxlan%c from %s vni %u flags 0x%02x -> tunnel %u", t->is_ip6 ? '6' : '4', a, t->vni, t->flags,
             t->tunnel_if);
  else
    snprintf(b, sizeof b, "vxlan%c from %s vni %u flags 0x%02x dropped", t->is_ip6 ? '6' : '4', a, t->vni, t->flags);
  return b;
}

template <bool V6>
inline void key_of(Buffer* b, const VxlanHeader* h, TunnelKey* k) {
  k->family = V6 ? 6 : 4;
  k->port_be = reinterpret_cast<const UdpHeader*>(b->at(b->l4_offset))->dst_port_be;
  k->vni = h->vni();
  if constexpr (V6) {
    const auto* ip = reinterpret_cast<const Ip6Header*>(b->at(b->l3_offset));
    std::memcpy(k->remote, ip->src, 16);
    std::memcpy(k->local, ip->dst, 16);
  } else {
    const auto* ip = reinterpret_cast<const Ip4Header*>(b->at(b->l3_offset));
    std::memcpy(k->remote, &ip->src, 4);
    std::memcpy(k->local, &ip->dst, 4);
  }
}

// One-entry cache of the last tunnel: consecutive packets mostly share one.
struct LastTunnel {
  TunnelKey key;
  uint32_t tunnel = ~0u;
};

template <bool V6>
inline uint16_t decap_one(NodeRuntime& node, const VxlanTable& t, const InterfaceTable& it, LastTunnel& last,
                          Buffer* b) {
  if (__builtin_expect(b->length < sizeof(VxlanHeader) + kEthernetHeaderSize, 0)) {
    b->error = node.error_code(kErrTruncated);
    return kNextDrop;
  }
  const auto* h = reinterpret_cast<const VxlanHeader*>(b->data());
  if (__builtin_expect(!(h->flags & kFlagI), 0)) {
    b->error = node.error_code(kErrNoIFlag);
    return kNextDrop;
  }
  TunnelKey k;
  key_of<V6>(b, h, &k);
  uint32_t ti = last.tunnel;
  if (__builtin_expect(ti == ~0u || !(k == last.key), 0)) {
    ti = t.find(k);
    if (__builtin_expect(ti == ~0u, 0)) {
      b->error = node.error_code(t.has_vni(k.vni) ? kErrUnknownSource : kErrUnknownVni);
      return kNextDrop;
    }
    last.key = k;
    last.tunnel = ti;
  }
  const uint32_t tunnel_if = t.tunnels[ti].if_index;
  if (__builtin_expect(!it.entry[tunnel_if].admin_up, 0)) {
    b->error = node.error_code(kErrTunnelDown);
    return kNextDrop;
  }
  b->advance(sizeof(VxlanHeader));
  b->rx_if = tunnel_if;
  // Checksum offload flags spoke of the outer packet.
  b->flags &= ~(kBufL4ChecksumOk | kBufIp4ChecksumOk | kBufVlanParsed);
  return kNextEthernet;
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
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = decap_one<V6>(node, *t, it, last, b[i]);
    next[i + 1] = decap_one<V6>(node, *t, it, last, b[i + 1]);
    next[i + 2] = decap_one<V6>(node, *t, it, last, b[i + 2]);
    next[i + 3] = decap_one<V6>(node, *t, it, last, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = decap_one<V6>(node, *t, it, last, b[i]);
  // Tunnel rx counters (inner frames), one update per run of the same tunnel.
  uint32_t run_if = kInvalidIf;
  uint64_t pkts = 0, bytes = 0;
  for (i = 0; i < n; ++i) {
    if (next[i] != kNextEthernet) continue;
    if (b[i]->rx_if != run_if) {
      if (pkts) w.count_rx(run_if, pkts, bytes);
      run_if = b[i]->rx_if;
      pkts = bytes = 0;
    }
    ++pkts;
    bytes += b[i]->total_length();
  }
  if (pkts) w.count_rx(run_if, pkts, bytes);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      DecapTrace tr{};
      const uint8_t* vx = next[i] == kNextEthernet ? b[i]->data() - sizeof(VxlanHeader) : b[i]->data();
      if (b[i]->length >= sizeof(VxlanHeader) || next[i] == kNextEthernet) {
        tr.vni = reinterpret_cast<const VxlanHeader*>(vx)->vni();
        tr.flags = vx[0];
      }
      tr.is_ip6 = V6;
      if constexpr (V6) std::memcpy(tr.remote, reinterpret_cast<const Ip6Header*>(b[i]->at(b[i]->l3_offset))->src, 16);
      else std::memcpy(tr.remote, &reinterpret_cast<const Ip4Header*>(b[i]->at(b[i]->l3_offset))->src, 4);
      tr.tunnel_if = next[i] == kNextEthernet ? b[i]->rx_if : kInvalidIf;
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
  .next_nodes = {"error-drop", "ethernet-input"},
  .errors = kDecapErrors,
  .format_trace = format_decap,
});
QUIVER_NODE(vxlan6_input, {
  .name = "vxlan6-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vxlan6_input),
  .next_nodes = {"error-drop", "ethernet-input"},
  .errors = kDecapErrors,
  .format_trace = format_decap,
});

}  // namespace

bool VxlanTable::has_vni(uint32_t vni) const { return std::binary_search(vnis.begin(), vnis.end(), vni); }

}  // namespace vxlan
}  // namespace quiver
