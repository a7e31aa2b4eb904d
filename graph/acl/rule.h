// An ACL rule as the control side holds it, and its compact wire encoding: the TypeScript
// module (graph/acl/acl.ts, encodeRules) writes kRuleWords uint32 per rule into one typed
// array, so a 10k-rule ACL crosses N-API in a single call.
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace quiver::acl {

enum class Action : uint8_t { Deny = 0, Permit = 1, Reflect = 2 };  // Reflect: permit + create a session

struct Rule {
  Action action = Action::Deny;
  uint8_t ip_version = 0;  // 0: both families, 4 or 6
  uint8_t src_len = 0, dst_len = 0;
  uint8_t src[16] = {}, dst[16] = {};  // network order; IPv4 in the first 4 bytes
  uint8_t proto_lo = 0, proto_hi = 255;
  // Ports for TCP/UDP/SCTP; ICMP type (src) and code (dst) ranges for ICMP/ICMPv6 rules.
  uint16_t sport_lo = 0, sport_hi = 65535, dport_lo = 0, dport_hi = 65535;
  uint8_t tcp_mask = 0, tcp_value = 0;

  // Whether the rule looks at bytes past the IP header: such a rule cannot match a
  // non-first fragment or a packet cut short before its L4 header.
  bool needs_l4() const {
    return sport_lo != 0 || sport_hi != 65535 || dport_lo != 0 || dport_hi != 65535 || tcp_mask != 0;
  }
  bool in_family(int family) const {
    return ip_version == 0 || ip_version == family;
  }
};

// Encoding, uint32 words per rule:
//   0: action | ip_version << 8 | src_len << 16 | dst_len << 24
//   1..4: src address, 5..8: dst address (word i holds bytes 4i..4i+3, most significant first)
//   9: proto_lo | proto_hi << 8
//   10: sport_lo | sport_hi << 16
//   11: dport_lo | dport_hi << 16
//   12: tcp_mask | tcp_value << 8
//   13..15: zero
constexpr uint32_t kRuleWords = 16;

// Decodes and validates; throws "rules[i].field: reason" (the addon is reachable directly,
// so it checks again what the TypeScript layer already checked).
inline std::vector<Rule> decode_rules(const uint32_t* w, size_t n_words) {
  if (n_words % kRuleWords) throw std::runtime_error("rules: encoding is not a multiple of " + std::to_string(kRuleWords) + " words");
  std::vector<Rule> out(n_words / kRuleWords);
  for (size_t i = 0; i < out.size(); ++i, w += kRuleWords) {
    Rule& r = out[i];
    const std::string at = "rules[" + std::to_string(i) + "].";
    const uint32_t a = w[0] & 0xff;
    if (a > 2) throw std::runtime_error(at + "action: " + std::to_string(a) + " is not permit, deny or permit+reflect");
    r.action = Action(a);
    r.ip_version = uint8_t(w[0] >> 8);
    if (r.ip_version != 0 && r.ip_version != 4 && r.ip_version != 6)
      throw std::runtime_error(at + "ipVersion: " + std::to_string(r.ip_version) + " is not 4 or 6");
    r.src_len = uint8_t(w[0] >> 16);
    r.dst_len = uint8_t(w[0] >> 24);
    const uint32_t max_len = r.ip_version == 4 ? 32 : 128;
    if (r.src_len > max_len) throw std::runtime_error(at + "src: prefix length " + std::to_string(r.src_len) + " is too long");
    if (r.dst_len > max_len) throw std::runtime_error(at + "dst: prefix length " + std::to_string(r.dst_len) + " is too long");
    if (r.ip_version == 0 && (r.src_len || r.dst_len)) throw std::runtime_error(at + "ipVersion: a prefix needs an address family");
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 4; ++j) {
        r.src[4 * k + j] = uint8_t(w[1 + k] >> (24 - 8 * j));
        r.dst[4 * k + j] = uint8_t(w[5 + k] >> (24 - 8 * j));
      }
    // Host bits beyond the prefix are ignored, as routers do with "10.1.2.3/8".
    for (int bit = r.src_len; bit < 128; ++bit) r.src[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
    for (int bit = r.dst_len; bit < 128; ++bit) r.dst[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
    r.proto_lo = uint8_t(w[9]);
    r.proto_hi = uint8_t(w[9] >> 8);
    if (r.proto_lo > r.proto_hi) throw std::runtime_error(at + "protocol: empty range");
    r.sport_lo = uint16_t(w[10]);
    r.sport_hi = uint16_t(w[10] >> 16);
    r.dport_lo = uint16_t(w[11]);
    r.dport_hi = uint16_t(w[11] >> 16);
    if (r.sport_lo > r.sport_hi) throw std::runtime_error(at + "srcPort: empty range " + std::to_string(r.sport_lo) + "-" + std::to_string(r.sport_hi));
    if (r.dport_lo > r.dport_hi) throw std::runtime_error(at + "dstPort: empty range " + std::to_string(r.dport_lo) + "-" + std::to_string(r.dport_hi));
    r.tcp_mask = uint8_t(w[12]);
    r.tcp_value = uint8_t(w[12] >> 8);
    if (r.tcp_value & ~r.tcp_mask) throw std::runtime_error(at + "tcpFlags: value has bits outside the mask");
    if (r.tcp_mask && !(r.proto_lo == 6 && r.proto_hi == 6)) throw std::runtime_error(at + "tcpFlags: only with protocol tcp");
  }
  return out;
}

inline void encode_rule(const Rule& r, uint32_t* w) {
  std::fill(w, w + kRuleWords, 0u);
  w[0] = uint32_t(r.action) | uint32_t(r.ip_version) << 8 | uint32_t(r.src_len) << 16 | uint32_t(r.dst_len) << 24;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 4; ++j) {
      w[1 + k] |= uint32_t(r.src[4 * k + j]) << (24 - 8 * j);
      w[5 + k] |= uint32_t(r.dst[4 * k + j]) << (24 - 8 * j);
    }
  w[9] = uint32_t(r.proto_lo) | uint32_t(r.proto_hi) << 8;
  w[10] = uint32_t(r.sport_lo) | uint32_t(r.sport_hi) << 16;
  w[11] = uint32_t(r.dport_lo) | uint32_t(r.dport_hi) << 16;
  w[12] = uint32_t(r.tcp_mask) | uint32_t(r.tcp_value) << 8;
}

}  // namespace quiver::acl
