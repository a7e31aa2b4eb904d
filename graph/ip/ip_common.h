// What the IPv4 and IPv6 nodes share: address types, the per-packet scratch the L3 nodes keep
// in the buffer's opaque area, ICMP and ND constants, the IPv6 pseudo-header checksum and the
// ECMP flow hash. One definition each (STYLE: one parser per header).
#pragma once
#include <arpa/inet.h>
#include <nmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../native/buffer.h"
#include "../../native/headers/checksum.h"
#include "../../native/headers/ethernet.h"
#include "../../native/headers/ip.h"
#include "../../native/pool.h"

namespace quiver {

enum class IpFamily : uint8_t { V4 = 4, V6 = 6 };

// An address of either family. IPv4 lives in the first 4 bytes (network order), the rest zero.
struct IpAddr {
  uint8_t b[16] = {};
  static IpAddr v4(uint32_t net_order) {
    IpAddr a;
    std::memcpy(a.b, &net_order, 4);
    return a;
  }
  static IpAddr v6(const uint8_t* p) {
    IpAddr a;
    std::memcpy(a.b, p, 16);
    return a;
  }
  uint32_t v4_net() const {
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  uint32_t v4_host() const { return ntohl(v4_net()); }
  // IPv6 as two host-order 64-bit halves (masking and hashing are plain integer work).
  uint64_t hi() const { return be64(b); }
  uint64_t lo() const { return be64(b + 8); }
  static uint64_t be64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
  }
  bool operator==(const IpAddr& o) const { return std::memcmp(b, o.b, 16) == 0; }
  bool operator!=(const IpAddr& o) const { return !(*this == o); }
};

inline uint64_t mask64(uint32_t bits) { return bits == 0 ? 0 : bits >= 64 ? ~uint64_t(0) : ~uint64_t(0) << (64 - bits); }
inline uint32_t mask32(uint32_t bits) { return bits == 0 ? 0 : bits >= 32 ? ~0u : ~0u << (32 - bits); }

inline bool ip6_is_link_local(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
inline bool ip6_is_multicast(const uint8_t* a) { return a[0] == 0xff; }
inline bool ip6_is_unspecified(const uint8_t* a) {
  uint64_t x, y;
  std::memcpy(&x, a, 8);
  std::memcpy(&y, a + 8, 8);
  return (x | y) == 0;
}
// ff02::1:ffXX:XXXX for an address (RFC 4291 2.7.1).
inline void ip6_solicited_node(const uint8_t* addr, uint8_t* out) {
  static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(out, prefix, 13);
  std::memcpy(out + 13, addr + 13, 3);
}
inline void ip6_multicast_mac(const uint8_t* group, uint8_t* mac) {
  mac[0] = 0x33;
  mac[1] = 0x33;
  std::memcpy(mac + 2, group + 12, 4);
}
inline bool ip4_is_multicast(uint32_t host) { return (host >> 28) == 0xe; }

// An IPv4 header checksum verifies when the sum over the whole header is 0xffff. The usual
// 20-byte header is five 32-bit words, each loaded on its own: copied into an array, the
// compiler loaded 16 bytes as one vector, stored it and read the words back, and those reads
// could not be forwarded from the wide store (ip4-input spent ~12 clocks/packet waiting).
inline bool ip4_header_checksum_ok(const Ip4Header* ip, uint32_t ihl) {
  if (__builtin_expect(ihl != 20, 0)) return ip_checksum(ip, ihl) == 0;
  const auto* p = reinterpret_cast<const uint8_t*>(ip);
  uint32_t w0, w1, w2, w3, w4;
  std::memcpy(&w0, p, 4);
  std::memcpy(&w1, p + 4, 4);
  std::memcpy(&w2, p + 8, 4);
  std::memcpy(&w3, p + 12, 4);
  std::memcpy(&w4, p + 16, 4);
  // The folded ones-complement sum is congruent to this plain sum modulo 0xffff (2^16 and
  // 2^32 are 1 there) and lies in 1..0xffff for a non-zero header, so it is 0xffff exactly
  // when the plain sum is a non-zero multiple of 0xffff: one multiply instead of four folds.
  const uint64_t s = uint64_t(w0) + w1 + w2 + w3 + w4;
  return s % 0xffff == 0 && s != 0;
}

// Ones-complement sum of the IPv6 pseudo-header (RFC 8200 8.1), not folded or inverted.
inline uint32_t ip6_pseudo_sum(const Ip6Header* ip, uint32_t upper_length, uint8_t next_header) {
  uint32_t s = csum_partial(ip->src, 32);
  s += htons(uint16_t(upper_length >> 16)) + htons(uint16_t(upper_length));
  s += htons(next_header);
  return s;
}
// Checksum of an upper-layer message (ICMPv6, UDP, TCP) over IPv6. Folded and inverted.
inline uint16_t ip6_upper_checksum(const Ip6Header* ip, const void* upper, uint32_t len, uint8_t next_header) {
  return csum_fold(csum_partial(upper, len, ip6_pseudo_sum(ip, len, next_header)));
}
// Ones-complement sum (folded, not inverted) of `len` bytes of a buffer chain, starting
// `offset` bytes into the head's data; each segment's bytes count as if the chain were one
// buffer (a segment starting at an odd position has its bytes in the other half of each word).
inline uint32_t csum_chain(const BufferPool& pool, Buffer* b, uint32_t offset, uint32_t len, uint32_t sum = 0) {
  uint64_t s = sum;
  uint32_t at = 0;  // bytes summed so far
  for (Buffer* c = b;; c = pool.buffer(c->next_buffer)) {
    const uint32_t take = std::min<uint32_t>(c->length - offset, len - at);
    uint32_t part = csum_partial(c->data() + offset, take);
    if (at & 1) part = ((part & 0xff) << 8) | (part >> 8);
    s += part;
    at += take;
    offset = 0;
    if (at == len || !(c->flags & kBufNextPresent)) break;
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}

inline uint32_t ip4_pseudo_sum(const Ip4Header* ip, uint32_t upper_length) {
  uint32_t s = csum_partial(&ip->src, 8);
  s += htons(uint16_t(upper_length)) + htons(ip->protocol);
  return s;
}

// --- ICMP ---
struct __attribute__((packed)) IcmpHeader {
  uint8_t type;
  uint8_t code;
  uint16_t checksum;
  uint32_t data;  // echo: id and sequence; errors: unused / next-hop MTU / pointer
};
static_assert(sizeof(IcmpHeader) == 8);
constexpr uint8_t kIcmp4EchoReply = 0, kIcmp4Unreachable = 3, kIcmp4EchoRequest = 8, kIcmp4TimeExceeded = 11,
                  kIcmp4ParamProblem = 12;
constexpr uint8_t kIcmp4NetUnreachable = 0, kIcmp4ProtoUnreachable = 2, kIcmp4PortUnreachable = 3,
                  kIcmp4FragNeeded = 4;
constexpr uint8_t kIcmp6Unreachable = 1, kIcmp6PacketTooBig = 2, kIcmp6TimeExceeded = 3, kIcmp6ParamProblem = 4,
                  kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129, kIcmp6RouterSolicit = 133, kIcmp6RouterAdvert = 134,
                  kIcmp6NeighborSolicit = 135, kIcmp6NeighborAdvert = 136, kIcmp6Redirect = 137;
constexpr uint8_t kIcmp6NoRoute = 0, kIcmp6PortUnreachable = 4;

// --- ARP (RFC 826, Ethernet/IPv4 only) ---
struct __attribute__((packed)) ArpPacket {
  uint16_t htype_be, ptype_be;
  uint8_t hlen, plen;
  uint16_t op_be;
  uint8_t sender_mac[6];
  uint32_t sender_ip;  // network order
  uint8_t target_mac[6];
  uint32_t target_ip;
};
static_assert(sizeof(ArpPacket) == 28);
constexpr uint16_t kArpRequest = 1, kArpReply = 2;

// --- Neighbor discovery (RFC 4861) ---
struct __attribute__((packed)) NdMessage {  // NS and NA share this layout
  uint8_t type, code;
  uint16_t checksum;
  uint32_t flags_be;  // NA: R S O bits; NS: reserved
  uint8_t target[16];
};
static_assert(sizeof(NdMessage) == 24);
constexpr uint8_t kNdOptSourceLinkAddr = 1, kNdOptTargetLinkAddr = 2;
constexpr uint32_t kNaRouter = 0x80000000u, kNaSolicited = 0x40000000u, kNaOverride = 0x20000000u;

// --- Per-packet scratch of the L3 nodes (buffer opaque, line 1) ---
// A packet the dataplane itself originates (ICMP errors, echo replies, pings) carries
// rx_if == kInvalidIf; its table and the interface whose address sourced it travel here.
// Transit packets never read these fields, so features on ip4-unicast/ip6-unicast may use the
// opaque area freely before the lookup.
struct IpOpaque {
  uint32_t fib_index;  // locally originated: the FIB to look the destination up in
  uint32_t origin_if;  // locally originated: the interface that sourced it (IPv6 link-local egress)
  uint8_t icmp_type;   // set by the node diverting to ip4/ip6-icmp-error
  uint8_t icmp_code;
  uint16_t reserved;
  uint32_t icmp_data;  // next-hop MTU (frag needed / packet too big)
};
static_assert(sizeof(IpOpaque) <= 64);
inline IpOpaque& ip_opaque(Buffer* b) { return b->opaque_as<IpOpaque>(); }

// --- ECMP flow hash ---
// CRC32C over the 5-tuple (or the 2-tuple for non-TCP/UDP and fragments). Symmetric: the two
// addresses and the two ports are ordered first, so both directions of a flow pick the same path.
inline uint32_t flow_hash_ip4(const Ip4Header* ip, bool symmetric) {
  uint32_t a = ip->src, b = ip->dst;
  uint32_t ports = 0;
  if ((ip->protocol == kIpProtoTcp || ip->protocol == kIpProtoUdp || ip->protocol == kIpProtoSctp) && !ip->is_fragment()) {
    std::memcpy(&ports, reinterpret_cast<const uint8_t*>(ip) + ip->header_bytes(), 4);
  }
  if (symmetric) {
    if (a > b) std::swap(a, b);
    const uint16_t p0 = uint16_t(ports), p1 = uint16_t(ports >> 16);
    ports = p0 < p1 ? (uint32_t(p1) << 16) | p0 : (uint32_t(p0) << 16) | p1;
  }
  uint64_t h = _mm_crc32_u64(0x12345678u, (uint64_t(a) << 32) | b);
  h = _mm_crc32_u64(h, (uint64_t(ports) << 8) | ip->protocol);
  return uint32_t(h) ^ uint32_t(h >> 16);
}
inline uint32_t flow_hash_ip6(const Ip6Header* ip, uint32_t l4_offset_from_ip, uint8_t proto, bool symmetric,
                              uint32_t avail) {
  uint64_t s0, s1, d0, d1;
  std::memcpy(&s0, ip->src, 8);
  std::memcpy(&s1, ip->src + 8, 8);
  std::memcpy(&d0, ip->dst, 8);
  std::memcpy(&d1, ip->dst + 8, 8);
  uint32_t ports = 0;
  if ((proto == kIpProtoTcp || proto == kIpProtoUdp || proto == kIpProtoSctp) && l4_offset_from_ip + 4 <= avail)
    std::memcpy(&ports, reinterpret_cast<const uint8_t*>(ip) + l4_offset_from_ip, 4);
  if (symmetric) {
    if (s0 > d0 || (s0 == d0 && s1 > d1)) {
      std::swap(s0, d0);
      std::swap(s1, d1);
    }
    const uint16_t p0 = uint16_t(ports), p1 = uint16_t(ports >> 16);
    ports = p0 < p1 ? (uint32_t(p1) << 16) | p0 : (uint32_t(p0) << 16) | p1;
  }
  uint64_t h = _mm_crc32_u64(0x12345678u, s0);
  h = _mm_crc32_u64(h, s1);
  h = _mm_crc32_u64(h, d0);
  h = _mm_crc32_u64(h, d1);
  h = _mm_crc32_u64(h, (uint64_t(ports) << 8) | proto);
  return uint32_t(h) ^ uint32_t(h >> 16);
}

}  // namespace quiver
