// Packet parsing for the ACL: one IPv4/IPv6 packet -> the classifier key (classifier.h) and
// what sessions need (ports or ICMP identifier, the offset of an ICMP error's inner packet).
// Packet path: no allocation, bounds checked against the bytes present.
//
// Semantics (the TypeScript reference evaluator in test/acl/ mirrors them independently):
// * IPv4: version 4, IHL >= 5 and the header present, else malformed. IPv6: the fixed header
//   and every extension header (hop-by-hop, routing, fragment, destination options, AH; at most
//   8) present, else malformed.
// * A non-first fragment has no L4 header: key l4 = 0, ports 0. Its protocol is known.
// * A first fragment or whole packet whose L4 header is cut short is malformed (a tiny first
//   fragment must not slip past port rules, RFC 1858). Needed: TCP 14 bytes (through the flags),
//   UDP and SCTP 4, ICMP 4 (8 for query identifiers), other protocols 0.
// * ICMP/ICMPv6: sport = type, dport = code. TCP flags from byte 13.
#pragma once
#include <cstdint>
#include <cstring>

#include "../../native/headers/ip.h"
#include "classifier.h"

namespace quiver::acl {

enum class Parsed : uint8_t { Ip4, Ip6, Malformed };

// Per packet, what sessions need beyond the key.
struct FlowMeta {
  uint16_t sport, dport;  // session view: ports, or (identifier, identifier) for ICMP queries
  uint16_t inner;         // ICMP error: offset of the embedded IP header from the L3 start; 0 none
  uint16_t l3_length;     // bytes from the L3 start (first buffer)
};

inline uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

inline bool icmp_is_error(uint8_t family, uint8_t type) {
  return family == 4 ? (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) : (type >= 1 && type <= 4);
}
inline bool icmp_is_query(uint8_t family, uint8_t type) {
  // echo, timestamp, information, address mask (v4); echo (v6): they carry an identifier.
  return family == 4 ? (type == 0 || type == 8 || (type >= 13 && type <= 18)) : (type == 128 || type == 129);
}

// The L4 part shared by both families. `l4` points at the L4 header, `avail` bytes remain.
// Returns false when the header is cut short.
__attribute__((always_inline)) inline bool parse_l4(uint8_t family, uint8_t proto, const uint8_t* l4, uint32_t avail, uint32_t l4_off, uint32_t* lanes,
                     uint32_t& flags_lane, FlowMeta& m) {
  // lanes: [sport, dport, l4]
  switch (proto) {
    case kIpProtoTcp:
      if (avail < 14) return false;
      flags_lane = l4[13];
      [[fallthrough]];
    case kIpProtoUdp:
    case kIpProtoSctp:
      if (avail < 4) return false;
      lanes[0] = m.sport = rd16(l4);
      lanes[1] = m.dport = rd16(l4 + 2);
      break;
    case kIpProtoIcmp:
    case kIpProtoIcmp6: {
      if (avail < 4) return false;
      lanes[0] = l4[0];
      lanes[1] = l4[1];
      const uint8_t icmp_family = proto == kIpProtoIcmp ? 4 : 6;
      if (icmp_family == family && icmp_is_query(family, l4[0])) {
        if (avail < 8) return false;
        m.sport = m.dport = rd16(l4 + 4);
      } else if (icmp_family == family && icmp_is_error(family, l4[0]) && avail >= 8 + 20) {
        m.inner = uint16_t(l4_off + 8);
      }
      break;
    }
    default:
      break;
  }
  lanes[2] = 1;
  return true;
}

__attribute__((always_inline)) inline Parsed parse_ip4(const uint8_t* p, uint32_t len, Key<8>& k, FlowMeta& m) {
  if (len < 20 || (p[0] >> 4) != 4) return Parsed::Malformed;
  const uint32_t ihl = uint32_t(p[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > len) return Parsed::Malformed;
  std::memset(&k, 0, sizeof k);
  m = FlowMeta{0, 0, 0, uint16_t(len)};
  k.v[0] = rd32(p + 12);
  k.v[1] = rd32(p + 16);
  const uint8_t proto = p[9];
  k.v[Family4::kProto] = proto;
  const uint16_t frag = rd16(p + 6);
  if (frag & 0x1fff) return Parsed::Ip4;  // non-first fragment: no L4 header
  uint32_t lanes[3] = {0, 0, 0};
  if (!parse_l4(4, proto, p + ihl, len - ihl, ihl, lanes, k.v[Family4::kDims], m)) return Parsed::Malformed;
  k.v[Family4::kSport] = lanes[0];
  k.v[Family4::kDport] = lanes[1];
  k.v[Family4::kL4] = lanes[2];
  return Parsed::Ip4;
}

__attribute__((always_inline)) inline Parsed parse_ip6(const uint8_t* p, uint32_t len, Key<16>& k, FlowMeta& m) {
  if (len < 40 || (p[0] >> 4) != 6) return Parsed::Malformed;
  std::memset(&k, 0, sizeof k);
  m = FlowMeta{0, 0, 0, uint16_t(len)};
  for (int i = 0; i < 4; ++i) {
    k.v[i] = rd32(p + 8 + 4 * i);
    k.v[4 + i] = rd32(p + 24 + 4 * i);
  }
  uint8_t next = p[6];
  uint32_t off = 40;
  bool first = true;
  for (int n = 0;; ++n) {
    if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51) break;
    if (n == 8 || off + 8 > len) return Parsed::Malformed;
    const uint8_t* h = p + off;
    uint32_t hlen;
    if (next == 44) {
      hlen = 8;
      if (rd16(h + 2) & 0xfff8) first = false;  // fragment offset
    } else if (next == 51) {
      hlen = (uint32_t(h[1]) + 2) * 4;
    } else {
      hlen = (uint32_t(h[1]) + 1) * 8;
    }
    if (off + hlen > len) return Parsed::Malformed;
    next = h[0];
    off += hlen;
  }
  k.v[Family6::kProto] = next;
  if (!first) return Parsed::Ip6;
  uint32_t lanes[3] = {0, 0, 0};
  if (!parse_l4(6, next, p + off, len - off, off, lanes, k.v[Family6::kDims], m)) return Parsed::Malformed;
  k.v[Family6::kSport] = lanes[0];
  k.v[Family6::kDport] = lanes[1];
  k.v[Family6::kL4] = lanes[2];
  return Parsed::Ip6;
}

}  // namespace quiver::acl
