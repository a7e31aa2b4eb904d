// ip4-vxlan-bypass / ip6-vxlan-bypass: features on the ip4-unicast / ip6-unicast input arcs
// (after the input ACL) that decapsulate VXLAN packets for one of our tunnel endpoints, skipping
// ip-lookup and ip-local (VPP's ip4-vxlan-bypass). The clean case (I flag, a known tunnel that
// is up) is decapsulated here, inline, to l2-fwd, l2-input or ethernet-input (vxlan_decap.h); anything
// else taken goes to vxlan4-input / vxlan6-input, which drops it under its named errors. A
// packet is taken only when it is exactly what local delivery would hand to decap: UDP without
// fragmentation or extension headers, in one buffer, a consistent UDP length, a correct UDP
// checksum (IPv4: or none; IPv6: mandatory), to the address and port of some tunnel's local
// end in the FIB of the interface it arrived on. Everything else continues on the arc to the
// lookup, where local delivery drops and counts what is wrong, as without the bypass.
//
// A fast path (FastDecap): once a packet has been decapsulated, the next ones from
// the same interface whose outer headers agree with it in every field these checks read are
// decapsulated after one masked compare; the rest take the full path.
//
// The control side (vxlan_tunnel.cc) enables the feature on every interface while a tunnel of
// the family exists. One difference from the lookup path, as in VPP: a tunnel's source address
// is taken as ours even when no interface carries it.
#include <immintrin.h>

#include <cstddef>
#include <cstdio>
#include <string>

#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "vxlan.h"
#include "vxlan_decap.h"

namespace quiver {
namespace vxlan {
namespace {

enum BypassNext : uint16_t { kNextDrop, kNextDecapNode, kNextEthernet, kNextL2Input, kNextL2Fwd };  // arc nexts follow

FeatureArcRef g_arc4("ip4-unicast"), g_arc6("ip6-unicast");
FeatureArcRef g_l2_input_arc("l2-input-features");

struct BypassTrace {
  uint16_t next;
  uint8_t taken;  // 0: no; 1: decapsulated here; 2: to vxlan-input; 3: decapsulated, fast path
};
std::string format_bypass(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const BypassTrace*>(d);
  char b[80];
  static const char* what[] = {"not taken", "vxlan for a local tunnel endpoint: decapsulated",
                               "vxlan for a local tunnel endpoint: to vxlan-input (not decapsulated here)",
                               "vxlan for a local tunnel endpoint: decapsulated (outer headers as the previous packet's)"};
  snprintf(b, sizeof b, "%s next %u", what[t->taken < 4 ? t->taken : 0], t->next);
  return b;
}

// What the previous packet of the vector settled: the FIB of its rx interface, and the tunnel
// endpoint (FIB, address, port) it matched. Consecutive packets mostly share both.
template <bool V6>
struct TakeCache {
  uint32_t rx_if = kInvalidIf;
  uint32_t fib = 0;
  uint32_t vtep_fib = ~0u;
  uint16_t vtep_port_be = 0;
  uint64_t vtep_addr[V6 ? 2 : 1] = {};
};

template <bool V6>
__attribute__((noinline)) bool is_vtep_slow(const VxlanTable& t, TakeCache<V6>& c, uint16_t port_be, const uint8_t* dst, uint64_t a0,
                                            uint64_t a1) {
  for (const Vtep& v : V6 ? t.vteps6 : t.vteps4)
    if (v.fib_index == c.fib && v.port_be == port_be && std::memcmp(v.addr, dst, V6 ? 16 : 4) == 0) {
      c.vtep_fib = c.fib;
      c.vtep_port_be = port_be;
      c.vtep_addr[0] = a0;
      if constexpr (V6) c.vtep_addr[1] = a1;
      return true;
    }
  return false;
}

template <bool V6>
inline bool is_vtep(const VxlanTable& t, TakeCache<V6>& c, uint16_t port_be, const uint8_t* dst) {
  // The address as words in registers (a copy into a local array can cost a store-forwarding
  // stall, as ip4_header_checksum_ok found). IPv4: zero-extended.
  uint64_t a0, a1 = 0;
  if constexpr (V6) {
    std::memcpy(&a0, dst, 8);
    std::memcpy(&a1, dst + 8, 8);
  } else {
    uint32_t v4;
    std::memcpy(&v4, dst, 4);
    a0 = v4;
  }
  bool hit = c.vtep_fib == c.fib && c.vtep_port_be == port_be && a0 == c.vtep_addr[0];
  if constexpr (V6) hit = hit && a1 == c.vtep_addr[1];
  return __builtin_expect(hit, 1) || is_vtep_slow<V6>(t, c, port_be, dst, a0, a1);
}

// True when b was advanced to its VXLAN header for decap.
template <bool V6>
inline bool take(const VxlanTable& t, const IfL3Table* ifs, TakeCache<V6>& c, Buffer* b) {
  if (__builtin_expect(b->rx_if != c.rx_if, 0)) {
    if (__builtin_expect(b->rx_if >= kMaxInterfaces, 0)) return false;
    c.rx_if = b->rx_if;
    c.fib = V6 ? ifs->entry[b->rx_if].fib6 : ifs->entry[b->rx_if].fib4;
  }
  uint8_t* d = b->data();
  uint32_t ihl, total;
  const uint8_t* dst;
  UdpHeader* udp;
  if constexpr (V6) {
    auto* ip = reinterpret_cast<Ip6Header*>(d);
    if (ip->next_header != kIpProtoUdp) return false;
    ihl = sizeof(Ip6Header);
    total = ihl + ntohs(ip->payload_length_be);
    dst = ip->dst;
  } else {
    auto* ip = reinterpret_cast<Ip4Header*>(d);
    if (ip->protocol != kIpProtoUdp || ip->is_fragment()) return false;
    ihl = ip->header_bytes();
    total = ip->total_length();
    dst = reinterpret_cast<const uint8_t*>(&ip->dst);
  }
  if (total > b->length || total < ihl + sizeof(UdpHeader)) return false;  // chained or short
  udp = reinterpret_cast<UdpHeader*>(d + ihl);
  if (!is_vtep<V6>(t, c, udp->dst_port_be, dst)) return false;
  const uint32_t ulen = ntohs(udp->length_be);
  if (ulen < sizeof(UdpHeader) || ihl + ulen > total) return false;
  if (!(b->flags & kBufL4ChecksumOk)) {
    if constexpr (V6) {
      const auto* ip = reinterpret_cast<const Ip6Header*>(d);
      if (udp->checksum == 0 || csum_fold(csum_partial(udp, ulen, ip6_pseudo_sum(ip, ulen, kIpProtoUdp))) != 0) return false;
    } else {
      const auto* ip = reinterpret_cast<const Ip4Header*>(d);
      if (udp->checksum && csum_fold(csum_partial(udp, ulen, ip4_pseudo_sum(ip, ulen))) != 0) return false;
    }
  }
  b->l3_offset = b->data_offset;
  b->l4_offset = uint16_t(b->data_offset + ihl);
  b->advance(int(ihl + sizeof(UdpHeader)));
  return true;
}

// Fast path: a packet whose outer headers match those of the last packet decapsulated from
// this rx interface, in every field that decides take() and decap(), goes to the same tunnel
// and next. A masked compare of the headers (IPv4: bytes 4..35, identification to VNI, one
// 32-byte compare; IPv6: bytes 0..63, two) replaces the field-by-field checks; the lengths,
// the IPv6 UDP checksum and the inner ethertype are checked apart. Anything else (IPv4
// options, an IPv4 UDP checksum to verify, another tunnel, a chain) takes the full path,
// which then relearns.
alignas(32) constexpr uint8_t kFastMask4[32] = {
    0,    0,    0x3f, 0xff,  // identification; MF and fragment offset must be 0 (DF ignored)
    0,    0xff, 0,    0,     // TTL; protocol; header checksum (ip4-input verified it)
    0xff, 0xff, 0xff, 0xff,  // source: the tunnel's remote end
    0xff, 0xff, 0xff, 0xff,  // destination: its local end
    0,    0,    0xff, 0xff,  // UDP source port; destination port
    0,    0,    0xff, 0xff,  // UDP length (checked apart); checksum must be 0
    kFlagI, 0,  0,    0,     // VXLAN I flag; reserved bits ignored
    0xff, 0xff, 0xff, 0,     // VNI; reserved
};
alignas(32) constexpr uint8_t kFastMask6[64] = {
    0xf0, 0,    0,    0,     // version; traffic class and flow label
    0,    0,    0xff, 0,     // payload length (checked apart); next header: UDP; hop limit
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // source
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // destination
    0,    0,    0xff, 0xff,  // UDP source port; destination port
    0,    0,    0,    0,     // UDP length and checksum (both checked apart)
    kFlagI, 0,  0,    0,     // VXLAN I flag; reserved bits ignored
    0xff, 0xff, 0xff, 0,     // VNI; reserved
    0,    0,    0,    0,    0, 0, 0, 0,  // the inner frame's first bytes
};
template <bool V6> constexpr uint32_t kFastFrom = V6 ? 0 : 4;  // first header byte compared
template <bool V6> constexpr uint32_t kFastSpan = V6 ? 64 : 32;
template <bool V6> constexpr const uint8_t* kFastMask = V6 ? kFastMask6 : kFastMask4;
template <bool V6> constexpr uint32_t kOuterBytes = V6 ? kEncap6Bytes : kEncap4Bytes;
template <bool V6> constexpr uint32_t kIpBytes = V6 ? sizeof(Ip6Header) : sizeof(Ip4Header);

template <bool V6>
struct FastDecap {
  alignas(32) uint8_t want[kFastSpan<V6>];
  uint32_t rx_if = kInvalidIf;
  uint32_t tunnel_if = kInvalidIf;
  uint32_t bridge = 0;
  uint32_t addr_sum = 0;  // IPv6: ones-complement sum of both addresses (pseudo header)
  uint16_t next = 0;      // for an untagged inner frame: kNextEthernet, kNextL2Input or kNextL2Fwd

  // b was just decapsulated by the full path; its outer IP header was at outer_ip.
  void learn(Buffer* b, uint16_t outer_ip, uint32_t outer_rx_if, const LastTunnel& last) {
    const uint8_t* ip = b->at(outer_ip);
    if (!V6 && ip[0] != 0x45) {  // options: the offsets below would be wrong
      rx_if = kInvalidIf;
      return;
    }
    for (uint32_t k = 0; k < kFastSpan<V6>; ++k) want[k] = ip[kFastFrom<V6> + k] & kFastMask<V6>[k];
    if constexpr (V6) addr_sum = csum_partial(ip + offsetof(Ip6Header, src), 32);
    else want[22] = want[23] = 0;  // a packet with a UDP checksum needs it verified: full path
    rx_if = outer_rx_if;
    tunnel_if = last.tunnel_if;
    bridge = last.bridge;
    // What an untagged inner frame gets (decap() sends tagged ones to ethernet-input).
    next = !last.bridged ? kNextEthernet : last.direct ? kNextL2Fwd : kNextL2Input;
  }
};

template <bool V6>
inline bool headers_match(const uint8_t* ip, const uint8_t* want) {
  const uint8_t* from = ip + kFastFrom<V6>;
#ifdef __AVX2__
  const auto* v = reinterpret_cast<const __m256i*>(from);
  const auto* wv = reinterpret_cast<const __m256i*>(want);
  const auto* m = reinterpret_cast<const __m256i*>(kFastMask<V6>);
  bool same = _mm256_testz_si256(_mm256_xor_si256(_mm256_loadu_si256(v), _mm256_load_si256(wv)), _mm256_load_si256(m));
  if constexpr (V6)
    same = same && _mm256_testz_si256(_mm256_xor_si256(_mm256_loadu_si256(v + 1), _mm256_load_si256(wv + 1)), _mm256_load_si256(m + 1));
  return same;
#else
  uint64_t diff = 0;
  for (uint32_t k = 0; k < kFastSpan<V6> / 8; ++k) {
    uint64_t x, w, m;
    std::memcpy(&x, from + 8 * k, 8);
    std::memcpy(&w, want + 8 * k, 8);
    std::memcpy(&m, kFastMask<V6> + 8 * k, 8);
    diff |= (x ^ w) & m;
  }
  return diff == 0;
#endif
}

// b's next when it was decapsulated (the same result, metadata and counters as take() +
// decap()), else kNextDrop.
template <bool V6>
inline uint16_t fast_decap(Worker& w, const FastDecap<V6>& f, CounterRun& run, Buffer* b) {
  if (b->rx_if != f.rx_if || (b->flags & kBufNextPresent)) return kNextDrop;
  // What decap needs: the outer headers and an inner Ethernet header (IPv6: and the compare's
  // 8 bytes beyond the VXLAN header).
  constexpr uint32_t kMinTotal = kOuterBytes<V6> + kEthernetHeaderSize;
  const uint8_t* ip = b->data();
  uint32_t total;
  if constexpr (V6) {
    uint16_t plen_be;
    std::memcpy(&plen_be, ip + 4, 2);
    total = sizeof(Ip6Header) + ntohs(plen_be);
  } else {
    uint32_t w0;
    std::memcpy(&w0, ip, 4);
    total = __builtin_bswap16(uint16_t(w0 >> 16));
    if ((w0 & 0xff) != 0x45) return kNextDrop;
  }
  if (total != b->length || total < kMinTotal) return kNextDrop;
  const uint8_t* udp = ip + kIpBytes<V6>;
  uint16_t ulen_be;
  std::memcpy(&ulen_be, udp + 4, 2);
  const uint32_t ulen = ntohs(ulen_be);
  if (ulen != total - kIpBytes<V6> || !headers_match<V6>(ip, f.want)) return kNextDrop;
  if constexpr (V6) {
    uint16_t sum_be;
    std::memcpy(&sum_be, udp + 6, 2);
    if (sum_be == 0) return kNextDrop;
    if (!(b->flags & kBufL4ChecksumOk)) {
      const uint32_t pseudo = f.addr_sum + htons(uint16_t(ulen >> 16)) + htons(uint16_t(ulen)) + htons(kIpProtoUdp);
      if (csum_fold(csum_partial(udp, ulen, pseudo)) != 0) return kNextDrop;
    }
  }
  uint16_t next = f.next, type = 0;
  if (next != kNextEthernet) {
    uint16_t type_be;
    std::memcpy(&type_be, ip + kOuterBytes<V6> + 12, 2);
    type = ntohs(type_be);
    if (__builtin_expect(is_vlan_ethertype(type), 0)) next = kNextEthernet;
  }
  const uint16_t inner = uint16_t(total - kOuterBytes<V6>);
  b->data_offset = uint16_t(b->data_offset + kOuterBytes<V6>);
  b->length = inner;
  b->rx_if = f.tunnel_if;
  b->flags &= ~(kBufL4ChecksumOk | kBufIp4ChecksumOk | kBufVlanParsed);
  count_rx(w, run, f.tunnel_if, inner);
  if (next != kNextEthernet) {
    set_untagged_l2(b, type);
    if (next == kNextL2Fwd) b->l2_bridge = f.bridge;
  }
  return next;
}

template <bool V6, bool Trace>
uint32_t vxlan_bypass(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  const IfL3Table* ifs = g_l3.ifs.get();
  const FeatureArc* arc = V6 ? g_arc6.get() : g_arc4.get();
  const InterfaceTable& it = w.interfaces();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t pass_if = kInvalidIf;
  uint16_t pass_next = 0;
  TakeCache<V6> cache;
  LastTunnel last;
  last.l2_input_masks = g_l2_input_arc->masks.get()->mask;
  CounterRun run;
  FastDecap<V6> fast;
  [[maybe_unused]] uint8_t fast_taken[Trace ? kFrameSize : 1];
  if constexpr (Trace) std::memset(fast_taken, 0, n);
  for (uint32_t i = 0; i < n; ++i) {
    if (i + 4 < n) __builtin_prefetch(b[i + 4]->data());
    if (const uint16_t to = fast_decap<V6>(w, fast, run, b[i])) {
      next[i] = to;
      if constexpr (Trace) fast_taken[i] = 1;
      continue;
    }
    if (t && ifs && take<V6>(*t, ifs, cache, b[i])) {
      const uint16_t outer_ip = b[i]->l3_offset;  // decap moves l3_offset to the inner frame
      const Decap d = decap<V6>(w, *t, it, last, run, b[i]);
      next[i] = d == Decap::ToL2Fwd     ? kNextL2Fwd
                : d == Decap::ToL2Input ? kNextL2Input
                : d == Decap::ToEthernet ? kNextEthernet
                                         : kNextDecapNode;
      if (next[i] != kNextDecapNode) fast.learn(b[i], outer_ip, cache.rx_if, last);
      continue;
    }
    // The next feature depends on the interface only.
    if (b[i]->rx_if != pass_if) {
      pass_if = b[i]->rx_if;
      pass_next = arc->next(node, b[i]);
    }
    next[i] = pass_next;
  }
  if (run.packets) w.count_rx(run.if_index, run.packets, run.bytes);
  if constexpr (Trace) {
    for (uint32_t i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      const uint8_t taken = fast_taken[i]                                                                  ? 3
                            : next[i] == kNextL2Fwd || next[i] == kNextL2Input || next[i] == kNextEthernet ? 1
                            : next[i] == kNextDecapNode                                                    ? 2
                                                                                                           : 0;
      BypassTrace tr{next[i], taken};
      w.trace(node, b[i], &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

template <bool Trace>
uint32_t ip4_vxlan_bypass(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_bypass<false, Trace>(w, node, bi, n);
}
template <bool Trace>
uint32_t ip6_vxlan_bypass(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  return vxlan_bypass<true, Trace>(w, node, bi, n);
}

QUIVER_NODE(ip4_vxlan_bypass, {
  .name = "ip4-vxlan-bypass",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_vxlan_bypass),
  .next_nodes = {"error-drop", "vxlan4-input", "ethernet-input", "l2-input", "l2-fwd"},
  .format_trace = format_bypass,
});
QUIVER_NODE(ip6_vxlan_bypass, {
  .name = "ip6-vxlan-bypass",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_vxlan_bypass),
  .next_nodes = {"error-drop", "vxlan6-input", "ethernet-input", "l2-input", "l2-fwd"},
  .format_trace = format_bypass,
});
// After the input ACL (order 100): what the ACL drops never reaches decap.
QUIVER_ARC_FEATURE(ip4_vxlan_bypass, "ip4-unicast", "ip4-vxlan-bypass", 200);
QUIVER_ARC_FEATURE(ip6_vxlan_bypass, "ip6-unicast", "ip6-vxlan-bypass", 200);

}  // namespace
}  // namespace vxlan
}  // namespace quiver
