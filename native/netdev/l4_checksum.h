// Finishing a TCP/UDP checksum the sender left to "hardware" (CHECKSUM_PARTIAL on Linux): the
// kernel hands such frames to AF_PACKET (TP_STATUS_CSUMNOTREADY) and to a tap with TUN_F_CSUM
// (VIRTIO_NET_HDR_F_NEEDS_CSUM); a driver marks them kBufOffloadL4Csum and the tx driver either
// passes the job on (tap: NEEDS_CSUM) or computes it here before the frame leaves.
// The field is recomputed from scratch, so whatever partial value it held does not matter.
#pragma once
#include <cstdint>
#include <cstring>

#include "../headers/checksum.h"
#include "../headers/ethernet.h"
#include "../headers/ip.h"

namespace quiver::netdev {

struct L4Location {
  uint32_t l4 = 0;        // L4 header offset in the frame
  uint32_t l4_len = 0;    // L4 header + payload, from the IP header (frame padding excluded)
  uint32_t field = 0;     // checksum field offset in the frame
  uint32_t pseudo = 0;    // pseudo-header sum (folded, not inverted)
  bool udp = false;
};

// Ethernet, up to two VLAN tags, IPv4 (not a fragment) or IPv6 (skipping hop-by-hop, routing
// and destination-options headers), then TCP or UDP. False when the frame is anything else.
inline bool locate_l4(const uint8_t* f, uint32_t len, L4Location* out) {
  uint32_t off = kEthernetHeaderSize;
  if (len < off) return false;
  uint16_t type = uint16_t(f[12] << 8 | f[13]);
  for (int tags = 0; is_vlan_ethertype(type) && tags < 2; ++tags) {
    if (len < off + kVlanTagSize) return false;
    type = uint16_t(f[off + 2] << 8 | f[off + 3]);
    off += kVlanTagSize;
  }
  uint8_t proto;
  uint32_t end;
  uint8_t pseudo[40] = {};
  uint32_t pseudo_len;
  if (type == kEtherTypeIp4) {
    if (len < off + sizeof(Ip4Header)) return false;
    const auto* ip = reinterpret_cast<const Ip4Header*>(f + off);
    const uint32_t ihl = ip->header_bytes();
    if (ip->version() != 4 || ihl < 20 || ip->is_fragment()) return false;
    end = off + ip->total_length();
    if (end > len || end < off + ihl) return false;
    proto = ip->protocol;
    off += ihl;
    std::memcpy(pseudo, &ip->src, 8);
    pseudo_len = 12;
  } else if (type == kEtherTypeIp6) {
    if (len < off + sizeof(Ip6Header)) return false;
    const auto* ip = reinterpret_cast<const Ip6Header*>(f + off);
    if (ip->version() != 6) return false;
    end = off + sizeof(Ip6Header) + ntohs(ip->payload_length_be);
    if (end > len) return false;
    proto = ip->next_header;
    std::memcpy(pseudo, ip->src, 32);
    pseudo_len = 40;
    off += sizeof(Ip6Header);
    for (int ext = 0; (proto == 0 || proto == 43 || proto == 60) && ext < 4; ++ext) {
      if (end < off + 8) return false;
      proto = f[off];
      off += (uint32_t(f[off + 1]) + 1) * 8;
    }
  } else {
    return false;
  }
  if (proto != kIpProtoTcp && proto != kIpProtoUdp) return false;
  const uint32_t l4_len = end - off;
  if (l4_len < (proto == kIpProtoTcp ? sizeof(TcpHeader) : sizeof(UdpHeader))) return false;
  const uint32_t l4_len_be = htonl(l4_len);
  if (pseudo_len == 12) {
    pseudo[9] = proto;
    pseudo[10] = uint8_t(l4_len >> 8);
    pseudo[11] = uint8_t(l4_len);
  } else {
    std::memcpy(pseudo + 32, &l4_len_be, 4);
    pseudo[39] = proto;
  }
  out->l4 = off;
  out->l4_len = l4_len;
  out->udp = proto == kIpProtoUdp;
  out->field = off + (out->udp ? 6 : 16);
  out->pseudo = csum_partial(pseudo, pseudo_len);
  return true;
}

// Computes the TCP/UDP checksum of a contiguous frame in place; false if it is not TCP/UDP.
inline bool complete_l4_checksum(uint8_t* f, uint32_t len) {
  L4Location l;
  if (!locate_l4(f, len, &l)) return false;
  f[l.field] = f[l.field + 1] = 0;
  uint16_t c = csum_fold(csum_partial(f + l.l4, l.l4_len, l.pseudo));
  if (l.udp && c == 0) c = 0xffff;
  std::memcpy(f + l.field, &c, 2);
  return true;
}

}  // namespace quiver::netdev
