// vxlan4-encap / vxlan6-encap: the tx nodes of VXLAN tunnel interfaces. A frame sent on a
// tunnel (bridged to it, routed via it) gets the tunnel's precomputed IP/UDP/VXLAN header
// written into its headroom — the payload is never copied — with the per-packet fields filled
// in: lengths, the UDP source port from the inner flow hash, the IPv4 checksum updated
// incrementally from the template's, the IPv6 UDP checksum computed (mandatory over IPv6).
// The outer packet then goes to the underlay: when the lookup of the tunnel's destination,
// done once per run of the tunnel's packets, ends in one resolved adjacency (VPP stacks the
// tunnel on its adjacency for the same reason), encap writes the adjacency's Ethernet header
// too and hands the packet to the underlay interface's tx node (tx_direct), or, when the
// underlay interface has an output feature or the packet exceeds its MTU, to
// ip4/ip6-rewrite; else to the lookup.
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "vxlan.h"
#include "vxlan_underlay.h"

namespace quiver {
namespace vxlan {
namespace {

struct EncapTrace {
  uint32_t tunnel_if;
  uint32_t vni;
  uint16_t src_port;
  uint16_t inner_length;
  uint16_t next;
  uint8_t is_ip6;
};
std::string format_encap(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const EncapTrace*>(d);
  char b[160];
  snprintf(b, sizeof b, "vxlan%c tunnel %u vni %u udp src port %u inner %u bytes next %u", t->is_ip6 ? '6' : '4',
           t->tunnel_if, t->vni, t->src_port, t->inner_length, t->next);
  return b;
}

// IPv4 ID of non-DF outer packets, per worker. A thread_local in a shared object costs a
// __tls_get_addr call: it is read once per vector and written back after.
thread_local uint16_t t_ip_id = 0;

FeatureArcRef g_ip4_output("ip4-output"), g_ip6_output("ip6-output");

// The tunnel of the current run of packets (frames of one tunnel mostly arrive together) and
// its counters, kept in registers and written once per run.
struct TxRun {
  uint32_t if_index = kInvalidIf;
  const EncapTunnel* tunnel = nullptr;  // null: not a tunnel (deleted in flight)
  UnderlayRoute route{kEncapNextDrop, 0};
  UnderlayOutputMasks out;  // read once per vector
  uint32_t max_inner = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  void flush(Worker& w) {
    if (packets) w.count_tx(if_index, packets, bytes);
    packets = bytes = 0;
  }
};

__attribute__((noinline)) void switch_tunnel(Worker& w, const NodeRuntime& node, const VxlanTable& t, const InterfaceTable& it,
                                             TxRun& run, uint32_t tx_if) {
  run.flush(w);
  run.if_index = tx_if;
  const uint32_t ti = t.tunnel_of_if[tx_if];
  run.tunnel = ti == ~0u ? nullptr : &t.tunnels[ti];
  if (run.tunnel) run.route = resolve_underlay(*run.tunnel, it, run.out);
  if (run.route.next == kEncapNextOutput) run.route.tx_next = node.tx_next(it.entry[run.route.tx_if], kEncapNextOutput);
  // The tunnel's MTU is the inner L3 MTU; allow the Ethernet header and one VLAN tag (as
  // Linux's is_skb_forwardable does).
  run.max_inner = uint32_t(it.entry[tx_if].mtu) + kEthernetHeaderSize + kVlanTagSize;
}

template <bool V6>
inline uint16_t encap_one(Worker& w, NodeRuntime& node, const VxlanTable& t, const InterfaceTable& it, Buffer* b,
                          uint32_t* inner_len, uint16_t& ip_id, TxRun& run) {
  if (__builtin_expect(b->tx_if != run.if_index, 0)) switch_tunnel(w, node, t, it, run, b->tx_if);
  if (__builtin_expect(!run.tunnel, 0)) {
    b->error = node.error_code(kErrNoTunnel);
    return kEncapNextDrop;
  }
  const EncapTunnel& et = *run.tunnel;
  const uint32_t inner = b->total_length();
  *inner_len = inner;
  if (__builtin_expect(inner > run.max_inner, 0)) {
    b->error = node.error_code(kErrTooBig);
    return kEncapNextDrop;
  }
  constexpr uint32_t kBytes = V6 ? kEncap6Bytes : kEncap4Bytes;
  if (__builtin_expect(b->headroom() < kBytes, 0)) {
    b->error = node.error_code(kErrNoHeadroom);
    return kEncapNextDrop;
  }
  const uint32_t hash = inner_flow_hash(b->data(), b->length);
  const uint16_t sport_be = htons(source_port(hash));
  uint32_t inner_sum = 0;
  if constexpr (V6) inner_sum = b->flags & kBufNextPresent ? csum_chain(w.pool(), b, 0, inner) : csum_partial(b->data(), b->length);
  b->advance(-int(kBytes));
  uint8_t* p = b->data();
  std::memcpy(p, et.rewrite, kBytes);
  if constexpr (V6) {
    auto* ip = reinterpret_cast<Ip6Header*>(p);
    auto* udp = reinterpret_cast<UdpHeader*>(p + sizeof(Ip6Header));
    const uint16_t udp_len_be = htons(uint16_t(inner + sizeof(UdpHeader) + sizeof(VxlanHeader)));
    ip->payload_length_be = udp_len_be;
    udp->length_be = udp_len_be;
    udp->src_port_be = sport_be;
    // Template sum + UDP length (pseudo header and UDP header) + source port + inner frame.
    uint64_t s = uint64_t(et.v6_sum) + udp_len_be + udp_len_be + sport_be + inner_sum;
    const uint16_t c = csum_fold(uint32_t((s & 0xffffffff) + (s >> 32)));
    udp->checksum = c ? c : 0xffff;  // 0 means "no checksum", forbidden over IPv6
  } else {
    auto* ip = reinterpret_cast<Ip4Header*>(p);
    auto* udp = reinterpret_cast<UdpHeader*>(p + sizeof(Ip4Header));
    const uint16_t total_be = htons(uint16_t(inner + kEncap4Bytes));
    ip->total_length_be = total_be;
    // The template's checksum was computed with length and ID zero: add the new words.
    uint32_t s = uint16_t(~et.ip4_checksum) + uint32_t(total_be);
    if (!et.df) {
      const uint16_t id_be = htons(ip_id++);
      ip->id_be = id_be;
      s += id_be;
    }
    ip->checksum = csum_fold(s);
    udp->src_port_be = sport_be;
    udp->length_be = htons(uint16_t(inner + sizeof(UdpHeader) + sizeof(VxlanHeader)));
  }
  b->flow_hash = hash;
  run.packets++;
  run.bytes += inner;
  b->rx_if = kInvalidIf;  // originated here (ip_common.h)
  b->l3_offset = b->data_offset;
  if (run.route.next == kEncapNextOutput && __builtin_expect(inner + kBytes <= run.route.mtu, 1)) {
    // Straight to the tx node: nothing on the way reads the IP opaque or next_hop, so the
    // opaque's cache line is left alone.
    b->advance(-int(kEthernetHeaderSize));
    std::memcpy(b->data(), run.route.eth, kEthernetHeaderSize);
    b->tx_if = run.route.tx_if;
    b->l2_offset = b->data_offset;
    return run.route.tx_next;
  }
  underlay_opaque(b, et);
  b->next_hop = run.route.adj;  // read by the rewrite nodes only
  if (__builtin_expect(et.next == kEncapNextDrop, 0)) b->error = node.error_code(et.drop_error);
  // An output route whose packet exceeds the underlay MTU: the rewrite drops and counts it.
  if (run.route.next == kEncapNextOutput) return V6 ? kEncapNextRewrite6 : kEncapNextRewrite4;
  return run.route.next;
}

template <bool V6, bool Trace>
uint32_t vxlan_encap(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  const InterfaceTable& it = w.interfaces();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t inner[kFrameSize];
  w.buffers(bi, b, n);
  if (__builtin_expect(!t, 0)) {
    for (uint32_t i = 0; i < n; ++i) {
      b[i]->error = node.error_code(kErrNoTunnel);
      next[i] = kEncapNextDrop;
    }
    w.enqueue(node, kEncapNextDrop, bi, n);
    return n;
  }
  uint16_t ip_id = t_ip_id;
  TxRun run;
  run.out.ip4 = g_ip4_output.get() ? g_ip4_output->masks.get()->mask : nullptr;
  run.out.ip6 = g_ip6_output.get() ? g_ip6_output->masks.get()->mask : nullptr;
  // The tunnel each packet was sent on (encap may set tx_if to the underlay interface).
  uint32_t tunnel_if[Trace ? kFrameSize : 1];
  if constexpr (Trace)
    for (uint32_t k = 0; k < n; ++k) tunnel_if[k] = b[k]->tx_if;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
      // The headers land in the line(s) before the data: prefetch for writing. IPv6's 70
      // bytes (with the underlay Ethernet header) reach into a second line.
      __builtin_prefetch(b[i + k]->data() - 64, 1);
      if constexpr (V6) __builtin_prefetch(b[i + k]->data() - (kEncap6Bytes + kEthernetHeaderSize), 1);
    }
    next[i] = encap_one<V6>(w, node, *t, it, b[i], &inner[i], ip_id, run);
    next[i + 1] = encap_one<V6>(w, node, *t, it, b[i + 1], &inner[i + 1], ip_id, run);
    next[i + 2] = encap_one<V6>(w, node, *t, it, b[i + 2], &inner[i + 2], ip_id, run);
    next[i + 3] = encap_one<V6>(w, node, *t, it, b[i + 3], &inner[i + 3], ip_id, run);
  }
  for (; i < n; ++i) next[i] = encap_one<V6>(w, node, *t, it, b[i], &inner[i], ip_id, run);
  t_ip_id = ip_id;
  run.flush(w);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      const uint32_t ti = tunnel_if[i] < kMaxInterfaces ? t->tunnel_of_if[tunnel_if[i]] : ~0u;
      // The outer IP header is at l3_offset (an Ethernet header may be in front of it).
      const uint8_t* udp = b[i]->at(b[i]->l3_offset) + (V6 ? sizeof(Ip6Header) : sizeof(Ip4Header));
      EncapTrace tr{tunnel_if[i], ti == ~0u ? 0 : t->tunnels[ti].vni,
                    next[i] == kEncapNextDrop ? uint16_t(0) : uint16_t(udp[0] << 8 | udp[1]), uint16_t(inner[i]), next[i],
                    V6};
      w.trace(node, b[i], &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

template <bool Trace>
uint32_t vxlan4_encap(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_encap<false, Trace>(w, node, bi, n);
}
template <bool Trace>
uint32_t vxlan6_encap(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_encap<true, Trace>(w, node, bi, n);
}

const std::vector<ErrorDesc> kEncapErrors = {
    {"no-tunnel", "tx interface is not a VXLAN tunnel (deleted while in flight)", Severity::Error},
    {"inner-too-big", "inner frame exceeds the tunnel MTU", Severity::Error},
    {"no-headroom", "not enough headroom for the outer headers", Severity::Error},
    {"no-underlay", "no underlay lookup to send the outer packet to", Severity::Error},
    {"no-encap-table", "the tunnel's encap table (encapVrf) does not exist", Severity::Error},
};

QUIVER_NODE(vxlan4_encap, {
  .name = "vxlan4-encap",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vxlan4_encap),
  .next_nodes = {"error-drop", "ip4-lookup", "ip6-lookup", "ip4-rewrite", "ip6-rewrite", "interface-output"},
  .errors = kEncapErrors,
  .format_trace = format_encap,
  .tx_direct = true,
});
QUIVER_NODE(vxlan6_encap, {
  .name = "vxlan6-encap",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(vxlan6_encap),
  .next_nodes = {"error-drop", "ip4-lookup", "ip6-lookup", "ip4-rewrite", "ip6-rewrite", "interface-output"},
  .errors = kEncapErrors,
  .format_trace = format_encap,
  .tx_direct = true,
});
QUIVER_ARC(vxlan4_encap, "interface-output", "vxlan4-encap");
QUIVER_ARC(vxlan6_encap, "interface-output", "vxlan6-encap");

}  // namespace
}  // namespace vxlan
}  // namespace quiver
