// VXLAN (RFC 7348): the wire header, the tunnel tables the encap and decap nodes read, and
// the inner flow hash that feeds the outer UDP source port. The control side (vxlan_tunnel.cc)
// builds a new VxlanTable on every tunnel change and publishes it with epochs; workers take the
// pointer once per dispatch call.
#pragma once
#include <arpa/inet.h>
#include <nmmintrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../native/buffer.h"
#include "../../native/epoch.h"
#include "../../native/headers/ethernet.h"
#include "../../native/headers/ip.h"
#include "../../native/interface.h"

namespace quiver {
namespace vxlan {

// IANA's port, and the Linux kernel's historical default (`ip link add type vxlan` without
// dstport; Flannel's default). Decap listens on both.
constexpr uint16_t kPortIana = 4789;
constexpr uint16_t kPortLinux = 8472;

struct __attribute__((packed)) VxlanHeader {
  uint8_t flags;         // bit 3 (0x08): I, the VNI is valid; every other bit is reserved
  uint8_t reserved1[3];
  uint32_t vni_be;       // VNI in the upper 24 bits, 8 reserved bits below
  uint32_t vni() const { return ntohl(vni_be) >> 8; }
};
static_assert(sizeof(VxlanHeader) == 8);
constexpr uint8_t kFlagI = 0x08;
constexpr uint32_t kMaxVni = 0xffffff;

// Bytes encap writes in front of the inner frame (the outer Ethernet header is ip4/ip6-rewrite's).
constexpr uint32_t kEncap4Bytes = sizeof(Ip4Header) + sizeof(UdpHeader) + sizeof(VxlanHeader);  // 36
constexpr uint32_t kEncap6Bytes = sizeof(Ip6Header) + sizeof(UdpHeader) + sizeof(VxlanHeader);  // 56
// What the overlay costs the inner L3 MTU, outer Ethernet included (RFC 7348 §4.3).
constexpr uint32_t kOverhead4 = kEncap4Bytes + kEthernetHeaderSize;  // 50
constexpr uint32_t kOverhead6 = kEncap6Bytes + kEthernetHeaderSize;  // 70

// What encap needs of one tunnel: the precomputed outer headers and where they go next.
struct alignas(64) EncapTunnel {
  uint8_t rewrite[kEncap6Bytes];  // IP/UDP/VXLAN with zero lengths, zero UDP source port
  uint8_t is_ip6 = 0;
  uint8_t df = 0;                 // IPv4: DF set (the IP ID then stays 0, RFC 6864)
  uint16_t next = 0;              // the encap node's next for the underlay
  uint16_t ip4_checksum = 0;      // IPv4 header checksum of the template (lengths zero)
  uint8_t drop_error = 0;         // next == kEncapNextDrop: why (EncapError)
  uint8_t reserved = 0;
  uint32_t v6_sum = 0;            // IPv6: ones-complement sum of pseudo header + UDP/VXLAN template
  uint32_t if_index = kInvalidIf; // the tunnel interface
  uint32_t fib_index = 0;         // underlay table the outer packet is looked up in
  uint32_t vni = 0;
  uint32_t pad[2] = {};
};
static_assert(sizeof(EncapTunnel) == 128);

// Decap key: (family, VNI, UDP port, remote = outer source, local = outer destination).
struct TunnelKey {
  uint8_t family = 0;  // 4 or 6
  uint8_t pad = 0;
  uint16_t port_be = 0;
  uint32_t vni = 0;
  uint8_t remote[16] = {};
  uint8_t local[16] = {};
  bool operator==(const TunnelKey& o) const { return std::memcmp(this, &o, sizeof *this) == 0; }
  uint32_t hash() const {
    uint64_t w[5];
    std::memcpy(w, this, sizeof w);
    uint64_t h = 0x9e3779b9;
    for (uint64_t x : w) h = _mm_crc32_u64(h, x);
    return uint32_t(h);
  }
};
static_assert(sizeof(TunnelKey) == 40);

struct DecapSlot {
  TunnelKey key;
  uint32_t tunnel = ~0u;  // index into VxlanTable::tunnels; ~0u: empty
};

// A local tunnel endpoint as the decap bypass matches it: the outer destination address and
// UDP port of some tunnel, in the FIB (encap table) the packet must arrive on.
struct Vtep {
  uint32_t fib_index = 0;
  uint16_t port_be = 0;
  uint8_t addr[16] = {};  // IPv4 in the first 4 bytes
};

struct VxlanTable {
  std::vector<EncapTunnel> tunnels;
  std::vector<Vtep> vteps4, vteps6;       // distinct, for ip4/ip6-vxlan-bypass
  uint32_t tunnel_of_if[kMaxInterfaces];  // ~0u: not a tunnel
  std::vector<DecapSlot> slots;           // open addressing, power-of-two size
  uint32_t mask = 0;
  std::vector<uint32_t> vnis;             // sorted: tells "unknown VNI" from "unknown source"
  uint32_t test_chain_at = 0;             // vxlan_test_chains.cc (tests only)

  VxlanTable() { std::memset(tunnel_of_if, 0xff, sizeof tunnel_of_if); }
  uint32_t find(const TunnelKey& k) const {
    if (slots.empty()) return ~0u;
    for (uint32_t i = k.hash() & mask;; i = (i + 1) & mask) {
      const DecapSlot& s = slots[i];
      if (s.tunnel == ~0u) return ~0u;
      if (s.key == k) return s.tunnel;
    }
  }
  bool has_vni(uint32_t vni) const;
};

extern Published<VxlanTable> g_vxlan;
// Encap straight to the rewrite and the decap bypass (vxlan_underlay.h, vxlan_bypass.cc); off,
// every packet takes ip-lookup and ip-local as without them (to compare, or to trace the full
// path). On by default and at every engine start.
extern std::atomic<bool> g_underlay_shortcuts;

// Next indices and errors of the encap nodes (both families share the lists).
// Ip4/Ip6: the underlay lookup; Rewrite4/6: straight to the rewrite, the lookup having been
// done by encap for the run of packets of one tunnel (vxlan_underlay.h); Output: encap wrote
// the Ethernet header the rewrite would have written too (no output feature on the underlay
// interface, the packet within its MTU).
enum EncapNext : uint16_t { kEncapNextDrop, kEncapNextIp4, kEncapNextIp6, kEncapNextRewrite4, kEncapNextRewrite6, kEncapNextOutput };
enum EncapError : uint8_t { kErrNoTunnel, kErrTooBig, kErrNoHeadroom, kErrNoUnderlay, kErrNoEncapTable };
constexpr uint32_t kUnresolvedFib = ~0u;  // the encap table does not exist (yet)

// Interface counters for runs of packets of one tunnel, kept in registers in the per-packet
// loop and written once per run (a separate counting pass costs more than the node's work).
// packets is 32 bits (a run is at most one vector) so that GCC does not pack it with bytes
// into one vector register: spilled, that pair made every packet wait on a 16-byte
// store-to-load round trip, the fast path's bottleneck (A/B in the commit).
struct CounterRun {
  uint32_t if_index = kInvalidIf;
  uint32_t packets = 0;
  uint64_t bytes = 0;
};

// RFC 7348 §5: the outer UDP source port is a hash of the inner frame, so ECMP and RSS in the
// underlay spread flows. Inner IPv4/IPv6 5-tuple (ports only for unfragmented TCP/UDP/SCTP)
// behind up to one VLAN tag, else the MAC addresses and ethertype. Never 0.
inline uint32_t inner_flow_hash(const uint8_t* f, uint32_t len) {
  if (__builtin_expect(len < kEthernetHeaderSize, 0)) return 1;
  uint16_t type = uint16_t(f[12] << 8 | f[13]);
  uint32_t off = kEthernetHeaderSize;
  if (is_vlan_ethertype(type) && len >= off + kVlanTagSize) {
    type = uint16_t(f[16] << 8 | f[17]);
    off += kVlanTagSize;
  }
  uint64_t h = 0x2545f491;
  uint32_t ports = 0;
  if (type == kEtherTypeIp4 && len >= off + sizeof(Ip4Header)) {
    const auto* ip = reinterpret_cast<const Ip4Header*>(f + off);
    const uint32_t l4 = off + ip->header_bytes();
    const bool has_ports = ip->protocol == kIpProtoTcp || ip->protocol == kIpProtoUdp || ip->protocol == kIpProtoSctp;
    if (has_ports && !ip->is_fragment() && len >= l4 + 4) std::memcpy(&ports, f + l4, 4);
    uint64_t addrs;  // source and destination are adjacent: one load
    std::memcpy(&addrs, &ip->src, 8);
    h = _mm_crc32_u64(h, addrs);
    h = _mm_crc32_u64(h, uint64_t(ports) << 8 | ip->protocol);
  } else if (type == kEtherTypeIp6 && len >= off + sizeof(Ip6Header)) {
    const auto* ip = reinterpret_cast<const Ip6Header*>(f + off);
    const uint32_t l4 = off + sizeof(Ip6Header);
    const uint8_t nh = ip->next_header;
    if ((nh == kIpProtoTcp || nh == kIpProtoUdp || nh == kIpProtoSctp) && len >= l4 + 4) std::memcpy(&ports, f + l4, 4);
    uint64_t a[4];
    std::memcpy(a, ip->src, 32);
    for (uint64_t x : a) h = _mm_crc32_u64(h, x);
    h = _mm_crc32_u64(h, uint64_t(ports) << 8 | nh);
  } else {
    uint64_t m0, m1 = 0;
    std::memcpy(&m0, f, 8);
    std::memcpy(&m1, f + 8, 6);
    h = _mm_crc32_u64(h, m0);
    h = _mm_crc32_u64(h, m1 << 16 | type);
  }
  const uint32_t r = uint32_t(h ^ (h >> 17));
  return r ? r : 1;
}

// Source port in the dynamic range 49152..65535 (RFC 7348 §5 recommends it).
inline uint16_t source_port(uint32_t hash) { return uint16_t(0xc000 | (hash & 0x3fff)); }

}  // namespace vxlan
}  // namespace quiver
