// ip4-input: checks every IPv4 packet ethernet-input hands over (version, header length,
// header checksum, total length against the frame, source address, TTL), trims Ethernet
// padding, records header offsets and starts the ip4-unicast feature arc, whose end is
// ip4-lookup. Options are forwarded untouched (counted). Failures are dropped by reason.
#include <cstdio>
#include <string>

#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "../ip/ip_common.h"

namespace quiver {

QUIVER_FEATURE_ARC(ip4_unicast, "ip4-unicast", "ip4-input", "ip4-lookup", false);

namespace {

enum Next : uint16_t { kNextDrop, kNextLookup };
enum Error : uint32_t { kTooShort, kBadVersion, kBadHeaderLength, kBadChecksum, kBadLength, kBadSource, kTtlZero, kOptions };

FeatureArcRef g_arc("ip4-unicast");

struct NodeTrace {
  uint32_t src, dst;
  uint16_t length;
  uint8_t proto, ttl;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char s[INET_ADDRSTRLEN], x[INET_ADDRSTRLEN], b[160];
  inet_ntop(AF_INET, &t->src, s, sizeof s);
  inet_ntop(AF_INET, &t->dst, x, sizeof x);
  snprintf(b, sizeof b, "IP4: %s -> %s proto %u ttl %u length %u next %u", s, x, t->proto, t->ttl, t->length, t->next);
  return b;
}

// The next after the checks depends on the rx interface only: found once per run of packets
// of one interface (the feature walk is a few dependent loads).
struct RxNext {
  const ArcMasks* features;
  uint32_t rx_if = kInvalidIf;
  uint16_t next = kNextLookup;
};

inline uint16_t check(Worker& w, NodeRuntime& node, RxNext& rxn, Buffer* b) {
  const uint16_t len = b->length;
  auto* ip = reinterpret_cast<Ip4Header*>(b->data());
  if (__builtin_expect(len < sizeof(Ip4Header), 0)) {
    b->error = node.error_code(kTooShort);
    return kNextDrop;
  }
  if (__builtin_expect((ip->version_ihl & 0xf0) != 0x40, 0)) {
    b->error = node.error_code(kBadVersion);
    return kNextDrop;
  }
  const uint32_t ihl = ip->header_bytes();
  if (__builtin_expect(ihl < 20, 0)) {
    b->error = node.error_code(kBadHeaderLength);
    return kNextDrop;
  }
  if (__builtin_expect(ihl > len, 0)) {
    b->error = node.error_code(kTooShort);
    return kNextDrop;
  }
  if (!(b->flags & kBufIp4ChecksumOk) && __builtin_expect(!ip4_header_checksum_ok(ip, ihl), 0)) {
    b->error = node.error_code(kBadChecksum);
    return kNextDrop;
  }
  const uint32_t total = ip->total_length();
  const uint32_t have = b->total_length();
  if (__builtin_expect(total < ihl || total > have, 0)) {
    b->error = node.error_code(kBadLength);
    return kNextDrop;
  }
  if (__builtin_expect(total < have, 0)) {  // Ethernet padding
    if (b->flags & kBufNextPresent) {
      b->error = node.error_code(kBadLength);
      return kNextDrop;
    }
    b->length = uint16_t(total);
  }
  const uint32_t src = ntohl(ip->src);
  if (__builtin_expect(ip4_is_multicast(src) || src == 0xffffffffu, 0)) {
    b->error = node.error_code(kBadSource);
    return kNextDrop;
  }
  if (__builtin_expect(ip->ttl == 0, 0)) {
    b->error = node.error_code(kTtlZero);
    return kNextDrop;
  }
  if (__builtin_expect(ihl > 20, 0)) w.count_error(node, kOptions);
  b->l3_offset = b->data_offset;
  b->l4_offset = uint16_t(b->data_offset + ihl);
  if (__builtin_expect(b->rx_if != rxn.rx_if, 0)) {
    rxn.rx_if = b->rx_if;
    // No input feature on this interface (the usual case): straight to the lookup.
    rxn.next = rxn.features->mask[b->rx_if] ? g_arc->start_next(node, b) : uint16_t(kNextLookup);
  }
  return rxn.next;
}

template <bool Trace>
uint32_t ip4_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  RxNext rxn{g_arc->masks.get()};
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = check(w, node, rxn, b[i]);
    next[i + 1] = check(w, node, rxn, b[i + 1]);
    next[i + 2] = check(w, node, rxn, b[i + 2]);
    next[i + 3] = check(w, node, rxn, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = check(w, node, rxn, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{};
      if (b[i]->length >= 20) {
        const auto* ip = reinterpret_cast<const Ip4Header*>(b[i]->data());
        t = NodeTrace{ip->src, ip->dst, ip->total_length(), ip->protocol, ip->ttl, next[i]};
      }
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip4_input, {
  .name = "ip4-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_input),
  .next_nodes = {"error-drop", "ip4-lookup"},
  .errors = {{"too-short", "shorter than its IPv4 header", Severity::Error},
             {"bad-version", "IP version is not 4", Severity::Error},
             {"bad-header-length", "header length below 20 bytes", Severity::Error},
             {"bad-checksum", "IPv4 header checksum is wrong", Severity::Error},
             {"bad-length", "total length disagrees with the frame", Severity::Error},
             {"bad-source", "multicast or broadcast source address", Severity::Error},
             {"ttl-zero", "received with TTL 0", Severity::Error},
             {"options", "packets with IPv4 options (forwarded unchanged)", Severity::Info}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
