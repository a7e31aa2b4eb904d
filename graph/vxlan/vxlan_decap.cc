// vxlan4-input / vxlan6-input: decapsulation. Local delivery hands over UDP packets for a VXLAN
// port with the data at the VXLAN header (l3_offset / l4_offset at the outer IP and UDP
// headers). The header must carry the I flag (every other flag and reserved bit is ignored,
// RFC 7348 §5); (VNI, outer source, outer destination, port) finds the tunnel. The inner
// frame then enters ethernet-input as received on the tunnel interface, so the tunnel's mode
// decides: bridge-domain member (L2 overlay) or L3 (routed overlay).
#include <algorithm>
#include <cstddef>
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

// The last tunnel found, and the outer fields that found it, as plain words: consecutive
// packets mostly share one tunnel, and comparing words read straight from the packet avoids
// building a key in memory (narrow stores read back wide stall store forwarding).
struct LastTunnel {
  uint32_t vni_word = 0;  // the VXLAN header's second word with the reserved byte cleared
  uint16_t port_be = 0;
  uint64_t addr[4] = {};  // IPv4: addr[0] = source and destination; IPv6: source, destination
  uint32_t tunnel = ~0u;
  uint32_t tunnel_if = kInvalidIf;
  bool tunnel_up = false;
};

template <bool V6>
inline void outer_words(Buffer* b, uint64_t* addr) {
  const uint8_t* ip = b->at(b->l3_offset);
  if constexpr (V6) std::memcpy(addr, ip + offsetof(Ip6Header, src), 32);
  else std::memcpy(addr, ip + offsetof(Ip4Header, src), 8);  // source and destination are adjacent
}

inline void count_rx(Worker& w, CounterRun& run, uint32_t if_index, uint32_t bytes) {
  if (__builtin_expect(if_index != run.if_index, 0)) {
    if (run.packets) w.count_rx(run.if_index, run.packets, run.bytes);
    run = CounterRun{if_index, 0, 0};
  }
  run.packets++;
  run.bytes += bytes;
}

// The slow path: a hash lookup, then the cache takes the result.
template <bool V6>
__attribute__((noinline)) bool lookup(const VxlanTable& t, const InterfaceTable& it, LastTunnel& last, uint32_t vni_word,
                                      uint16_t port_be, const uint64_t* addr, uint32_t* miss_vni) {
  TunnelKey k;
  k.family = V6 ? 6 : 4;
  k.port_be = port_be;
  k.vni = ntohl(vni_word) >> 8;
  if constexpr (V6) {
    std::memcpy(k.remote, addr, 16);
    std::memcpy(k.local, addr + 2, 16);
  } else {
    std::memcpy(k.remote, addr, 4);
    std::memcpy(k.local, reinterpret_cast<const uint8_t*>(addr) + 4, 4);
  }
  const uint32_t ti = t.find(k);
  if (ti == ~0u) {
    *miss_vni = k.vni;
    return false;
  }
  last.vni_word = vni_word;
  last.port_be = port_be;
  std::memcpy(last.addr, addr, V6 ? 32 : 8);
  last.tunnel = ti;
  last.tunnel_if = t.tunnels[ti].if_index;
  last.tunnel_up = it.entry[last.tunnel_if].admin_up;
  return true;
}

template <bool V6>
inline uint16_t decap_one(Worker& w, NodeRuntime& node, const VxlanTable& t, const InterfaceTable& it,
                          LastTunnel& last, CounterRun& run, Buffer* b) {
  if (__builtin_expect(b->length < sizeof(VxlanHeader) + kEthernetHeaderSize, 0)) {
    b->error = node.error_code(kErrTruncated);
    return kNextDrop;
  }
  const auto* h = reinterpret_cast<const VxlanHeader*>(b->data());
  if (__builtin_expect(!(h->flags & kFlagI), 0)) {
    b->error = node.error_code(kErrNoIFlag);
    return kNextDrop;
  }
  const uint32_t vni_word = h->vni_be & htonl(0xffffff00u);
  const uint16_t port_be = reinterpret_cast<const UdpHeader*>(b->at(b->l4_offset))->dst_port_be;
  uint64_t addr[V6 ? 4 : 1];
  outer_words<V6>(b, addr);
  bool hit = last.tunnel != ~0u && vni_word == last.vni_word && port_be == last.port_be && addr[0] == last.addr[0];
  if constexpr (V6) hit = hit && addr[1] == last.addr[1] && addr[2] == last.addr[2] && addr[3] == last.addr[3];
  if (__builtin_expect(!hit, 0)) {
    uint32_t vni;
    if (!lookup<V6>(t, it, last, vni_word, port_be, addr, &vni)) {
      b->error = node.error_code(t.has_vni(vni) ? kErrUnknownSource : kErrUnknownVni);
      return kNextDrop;
    }
  }
  if (__builtin_expect(!last.tunnel_up, 0)) {
    b->error = node.error_code(kErrTunnelDown);
    return kNextDrop;
  }
  b->advance(sizeof(VxlanHeader));
  b->rx_if = last.tunnel_if;
  // Checksum offload flags spoke of the outer packet.
  b->flags &= ~(kBufL4ChecksumOk | kBufIp4ChecksumOk | kBufVlanParsed);
  count_rx(w, run, last.tunnel_if, b->total_length());
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
