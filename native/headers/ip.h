// IPv4, IPv6, UDP and TCP headers.
#pragma once
#include <arpa/inet.h>
#include <cstdint>

#include "checksum.h"

namespace quiver {

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoIcmp6 = 58;
constexpr uint8_t kIpProtoSctp = 132;

struct __attribute__((packed)) Ip4Header {
  uint8_t version_ihl;
  uint8_t tos;
  uint16_t total_length_be;
  uint16_t id_be;
  uint16_t frag_be;
  uint8_t ttl;
  uint8_t protocol;
  uint16_t checksum;
  uint32_t src;  // network order
  uint32_t dst;
  uint32_t header_bytes() const { return uint32_t(version_ihl & 0x0f) * 4; }
  uint8_t version() const { return version_ihl >> 4; }
  uint16_t total_length() const { return ntohs(total_length_be); }
  bool dont_fragment() const { return ntohs(frag_be) & 0x4000; }
  bool is_fragment() const { return ntohs(frag_be) & 0x3fff; }
  void set_checksum() {
    checksum = 0;
    checksum = ip_checksum(this, header_bytes());
  }
};
static_assert(sizeof(Ip4Header) == 20);

struct __attribute__((packed)) Ip6Header {
  uint32_t vtc_flow_be;
  uint16_t payload_length_be;
  uint8_t next_header;
  uint8_t hop_limit;
  uint8_t src[16];
  uint8_t dst[16];
  uint8_t version() const { return uint8_t(ntohl(vtc_flow_be) >> 28); }
};
static_assert(sizeof(Ip6Header) == 40);

struct __attribute__((packed)) UdpHeader {
  uint16_t src_port_be;
  uint16_t dst_port_be;
  uint16_t length_be;
  uint16_t checksum;
};
struct __attribute__((packed)) TcpHeader {
  uint16_t src_port_be;
  uint16_t dst_port_be;
  uint32_t seq_be;
  uint32_t ack_be;
  uint8_t data_offset;
  uint8_t flags;
  uint16_t window_be;
  uint16_t checksum;
  uint16_t urgent_be;
};

}  // namespace quiver
