// Neighbor discovery messages (RFC 4861) the dataplane builds: solicitations when it resolves
// a neighbor, advertisements when it answers one. Ethernet + IPv6 + NS/NA + one link-layer
// address option: 86 bytes.
#pragma once
#include <cstring>

#include "../ip/ip_common.h"

namespace quiver {

constexpr uint32_t kNdFrameSize = 14 + 40 + 24 + 8;

// Writes Ethernet/IPv6/ICMPv6 NS or NA at d. flags: NA R/S/O bits (network order applied here).
inline void nd_build(uint8_t* d, uint8_t type, const uint8_t* eth_dst, const uint8_t* eth_src, const uint8_t* ip_src,
                     const uint8_t* ip_dst, const uint8_t* target, uint32_t flags, const uint8_t* option_mac) {
  std::memcpy(d, eth_dst, 6);
  std::memcpy(d + 6, eth_src, 6);
  d[12] = 0x86;
  d[13] = 0xdd;
  auto* ip = reinterpret_cast<Ip6Header*>(d + 14);
  ip->vtc_flow_be = htonl(0x60000000u);
  ip->payload_length_be = htons(24 + 8);
  ip->next_header = kIpProtoIcmp6;
  ip->hop_limit = 255;
  std::memcpy(ip->src, ip_src, 16);
  std::memcpy(ip->dst, ip_dst, 16);
  auto* m = reinterpret_cast<NdMessage*>(d + 54);
  m->type = type;
  m->code = 0;
  m->checksum = 0;
  m->flags_be = htonl(flags);
  std::memcpy(m->target, target, 16);
  uint8_t* opt = d + 54 + 24;
  opt[0] = type == kIcmp6NeighborSolicit ? kNdOptSourceLinkAddr : kNdOptTargetLinkAddr;
  opt[1] = 1;  // length in units of 8 bytes
  std::memcpy(opt + 2, option_mac, 6);
  m->checksum = ip6_upper_checksum(ip, m, 32, kIpProtoIcmp6);
}

// The link-layer address option of `type` in an NS/NA body (after the 24 fixed bytes), or null.
// Malformed options (length 0, past the end) make the whole message invalid: *bad set.
inline const uint8_t* nd_find_option(const uint8_t* opts, uint32_t len, uint8_t type, bool* bad) {
  const uint8_t* found = nullptr;
  while (len >= 2) {
    const uint32_t olen = uint32_t(opts[1]) * 8;
    if (olen == 0 || olen > len) {
      *bad = true;
      return nullptr;
    }
    if (opts[0] == type && olen >= 8 && !found) found = opts + 2;
    opts += olen;
    len -= olen;
  }
  return found;
}

}  // namespace quiver
