// Ethernet and 802.1Q/802.1ad headers: the one definition every node uses.
#pragma once
#include <arpa/inet.h>
#include <cstdint>
#include <cstring>

namespace quiver {

constexpr uint16_t kEtherTypeIp4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIp6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;   // 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88a8;   // 802.1ad service tag
constexpr uint16_t kEtherTypeQinQ9100 = 0x9100;  // pre-standard QinQ, still seen
constexpr uint32_t kEthernetHeaderSize = 14;
constexpr uint32_t kVlanTagSize = 4;

struct __attribute__((packed)) EthernetHeader {
  uint8_t dst[6];
  uint8_t src[6];
  uint16_t type_be;
  uint16_t type() const { return ntohs(type_be); }
};
static_assert(sizeof(EthernetHeader) == 14);

struct __attribute__((packed)) VlanTag {
  uint16_t tci_be;
  uint16_t type_be;
  uint16_t vid() const { return ntohs(tci_be) & 0x0fff; }
  uint16_t type() const { return ntohs(type_be); }
};
static_assert(sizeof(VlanTag) == 4);

inline bool is_vlan_ethertype(uint16_t t) { return t == kEtherTypeVlan || t == kEtherTypeQinQ || t == kEtherTypeQinQ9100; }
inline bool mac_is_multicast(const uint8_t* m) { return m[0] & 1; }
inline bool mac_is_broadcast(const uint8_t* m) {
  return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff;
}
inline bool mac_equal(const uint8_t* a, const uint8_t* b) {
  uint32_t a0, b0;
  uint16_t a1, b1;
  std::memcpy(&a0, a, 4);
  std::memcpy(&b0, b, 4);
  std::memcpy(&a1, a + 4, 2);
  std::memcpy(&b1, b + 4, 2);
  return a0 == b0 && a1 == b1;
}
// 48-bit MAC as an integer key (hash tables).
inline uint64_t mac_key(const uint8_t* m) {
  uint64_t k = 0;
  std::memcpy(&k, m, 6);
  return k;
}

}  // namespace quiver
