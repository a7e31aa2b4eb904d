// Decapsulation shared by vxlan4/6-input (fed by local delivery) and ip4/ip6-vxlan-bypass (which
// decapsulates the clean case inline): the per-vector tunnel cache and one packet's decap.
#pragma once
#include <cstddef>

#include "../../native/worker.h"
#include "../ethernet/ethernet.h"
#include "vxlan.h"

namespace quiver {
namespace vxlan {

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
  bool bridged = false;  // a bridge-domain member: untagged frames skip ethernet-input
  bool direct = false;   // ... and l2-input too (kIfL2Direct, no l2-input feature on)
  uint32_t bridge = 0;   // its bridge domain index
  const uint32_t* l2_input_masks = nullptr;  // set per vector by the node (l2-input-features)
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
__attribute__((noinline)) bool lookup_tunnel(const VxlanTable& t, const InterfaceTable& it, LastTunnel& last, uint32_t vni_word,
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
  const IfRuntime& r = it.entry[last.tunnel_if];
  last.bridged = r.mode == IfMode::Bridge;
  last.direct = last.bridged && (r.flags & kIfL2Direct) && last.l2_input_masks && !last.l2_input_masks[last.tunnel_if];
  last.bridge = r.bridge_domain;
  return true;
}

// What ethernet-input would have recorded for the untagged inner frame at b's data, for
// l2-input / l2-fwd.
inline void set_untagged_l2(Buffer* b, uint16_t ethertype) {
  b->l2_offset = b->data_offset;
  b->n_vlan_tags = 0;
  b->ethertype = ethertype;
  b->l3_offset = uint16_t(b->data_offset + kEthernetHeaderSize);
}

// What decap made of a packet. On any failure the buffer is untouched.
enum class Decap : uint8_t { ToEthernet, ToL2Input, Truncated, NoIFlag, UnknownVni, UnknownSource, TunnelDown, ToL2Fwd };

// b's data is at its VXLAN header, l3_offset / l4_offset at the outer IP and UDP headers.
// Success: b holds the inner frame as received on the tunnel (rx counted); an untagged frame
// of a bridged tunnel carries what ethernet-input would have recorded, for l2-input (or, on a
// plain member, also the bridge domain l2-input would have set, for l2-fwd).
template <bool V6>
inline Decap decap(Worker& w, const VxlanTable& t, const InterfaceTable& it, LastTunnel& last, CounterRun& run, Buffer* b) {
  if (__builtin_expect(b->length < sizeof(VxlanHeader) + kEthernetHeaderSize, 0)) return Decap::Truncated;
  const auto* h = reinterpret_cast<const VxlanHeader*>(b->data());
  if (__builtin_expect(!(h->flags & kFlagI), 0)) return Decap::NoIFlag;
  const uint32_t vni_word = h->vni_be & htonl(0xffffff00u);
  const uint16_t port_be = reinterpret_cast<const UdpHeader*>(b->at(b->l4_offset))->dst_port_be;
  uint64_t addr[V6 ? 4 : 1];
  outer_words<V6>(b, addr);
  bool hit = last.tunnel != ~0u && vni_word == last.vni_word && port_be == last.port_be && addr[0] == last.addr[0];
  if constexpr (V6) hit = hit && addr[1] == last.addr[1] && addr[2] == last.addr[2] && addr[3] == last.addr[3];
  if (__builtin_expect(!hit, 0)) {
    uint32_t vni;
    if (!lookup_tunnel<V6>(t, it, last, vni_word, port_be, addr, &vni))
      return t.has_vni(vni) ? Decap::UnknownSource : Decap::UnknownVni;
  }
  if (__builtin_expect(!last.tunnel_up, 0)) return Decap::TunnelDown;
  b->advance(sizeof(VxlanHeader));
  b->rx_if = last.tunnel_if;
  // Checksum offload flags spoke of the outer packet.
  b->flags &= ~(kBufL4ChecksumOk | kBufIp4ChecksumOk | kBufVlanParsed);
  count_rx(w, run, last.tunnel_if, b->total_length());
  if (last.bridged) {
    const uint16_t type = reinterpret_cast<const EthernetHeader*>(b->data())->type();
    if (__builtin_expect(!is_vlan_ethertype(type), 1)) {
      set_untagged_l2(b, type);
      if (last.direct) {
        b->l2_bridge = last.bridge;
        return Decap::ToL2Fwd;
      }
      return Decap::ToL2Input;
    }
  }
  return Decap::ToEthernet;
}

}  // namespace vxlan
}  // namespace quiver
