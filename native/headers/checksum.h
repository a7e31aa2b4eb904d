// Internet checksum (RFC 1071) and incremental update (RFC 1624): one implementation.
#pragma once
#include <cstdint>
#include <cstring>

namespace quiver {

// Ones-complement sum of len bytes, folded to 16 bits, not inverted. Network byte order in,
// result in network order as a uint16 read from memory.
inline uint32_t csum_partial(const void* data, uint32_t len, uint32_t sum = 0) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t s = sum;
  while (len >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    s += v >> 32;
    s += v & 0xffffffffu;
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    s += v;
    p += 2;
    len -= 2;
  }
  if (len) s += *p;  // little-endian host: the odd byte is the low byte of its word
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}
inline uint16_t csum_fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}
inline uint16_t ip_checksum(const void* data, uint32_t len) { return csum_fold(csum_partial(data, len)); }

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), all 16-bit words as stored in memory.
inline uint16_t csum_update16(uint16_t hc, uint16_t old_word, uint16_t new_word) {
  uint32_t s = uint16_t(~hc);
  s += uint16_t(~old_word);
  s += new_word;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}
inline uint16_t csum_update32(uint16_t hc, uint32_t old_v, uint32_t new_v) {
  hc = csum_update16(hc, uint16_t(old_v), uint16_t(new_v));
  return csum_update16(hc, uint16_t(old_v >> 16), uint16_t(new_v >> 16));
}

}  // namespace quiver
