// ip6-input: checks every IPv6 packet ethernet-input hands over (version, payload length
// against the frame, source address), trims Ethernet padding, records header offsets and
// starts the ip6-unicast feature arc, whose end is ip6-lookup. Extension headers are
// forwarded untouched. Failures are dropped by reason.
#include <cstdio>
#include <string>

#include "../../native/feature_arc.h"
#include "../../native/worker.h"
#include "../ip/ip_common.h"

namespace quiver {

QUIVER_FEATURE_ARC(ip6_unicast, "ip6-unicast", "ip6-input", "ip6-lookup", false);

namespace {

enum Next : uint16_t { kNextDrop, kNextLookup };
enum Error : uint32_t { kTooShort, kBadVersion, kBadLength, kBadSource };

FeatureArcRef g_arc("ip6-unicast");

struct NodeTrace {
  uint8_t src[16], dst[16];
  uint16_t payload;
  uint8_t nh, hlim;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char s[INET6_ADDRSTRLEN], x[INET6_ADDRSTRLEN], b[240];
  inet_ntop(AF_INET6, t->src, s, sizeof s);
  inet_ntop(AF_INET6, t->dst, x, sizeof x);
  snprintf(b, sizeof b, "IP6: %s -> %s next-header %u hop-limit %u payload %u next %u", s, x, t->nh, t->hlim, t->payload, t->next);
  return b;
}

inline uint16_t check(NodeRuntime& node, const ArcMasks* features, Buffer* b) {
  const auto* ip = reinterpret_cast<const Ip6Header*>(b->data());
  if (__builtin_expect(b->length < sizeof(Ip6Header), 0)) {
    b->error = node.error_code(kTooShort);
    return kNextDrop;
  }
  if (__builtin_expect((ip->vtc_flow_be & htonl(0xf0000000u)) != htonl(0x60000000u), 0)) {
    b->error = node.error_code(kBadVersion);
    return kNextDrop;
  }
  const uint32_t total = sizeof(Ip6Header) + ntohs(ip->payload_length_be);
  const uint32_t have = b->total_length();
  if (__builtin_expect(total > have, 0)) {
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
  if (__builtin_expect(ip6_is_multicast(ip->src), 0)) {
    b->error = node.error_code(kBadSource);
    return kNextDrop;
  }
  b->l3_offset = b->data_offset;
  b->l4_offset = uint16_t(b->data_offset + sizeof(Ip6Header));
  return features->mask[b->rx_if] ? g_arc->start_next(node, b) : uint16_t(kNextLookup);
}

template <bool Trace>
uint32_t ip6_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const ArcMasks* features = g_arc->masks.get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 4) {
    for (uint32_t k = 4; k < 8; ++k) {
      __builtin_prefetch(b[i + k]);
      __builtin_prefetch(b[i + k]->data());
    }
    next[i] = check(node, features, b[i]);
    next[i + 1] = check(node, features, b[i + 1]);
    next[i + 2] = check(node, features, b[i + 2]);
    next[i + 3] = check(node, features, b[i + 3]);
  }
  for (; i < n; ++i) next[i] = check(node, features, b[i]);
  if constexpr (Trace) {
    for (i = 0; i < n; ++i) {
      if (!(b[i]->flags & kBufTraced)) continue;
      NodeTrace t{};
      if (b[i]->length >= 40) {
        const auto* ip = reinterpret_cast<const Ip6Header*>(b[i]->data());
        std::memcpy(t.src, ip->src, 16);
        std::memcpy(t.dst, ip->dst, 16);
        t.payload = ntohs(ip->payload_length_be);
        t.nh = ip->next_header;
        t.hlim = ip->hop_limit;
      }
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip6_input, {
  .name = "ip6-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_input),
  .next_nodes = {"error-drop", "ip6-lookup"},
  .errors = {{"too-short", "shorter than an IPv6 header", Severity::Error},
             {"bad-version", "IP version is not 6", Severity::Error},
             {"bad-length", "payload length disagrees with the frame", Severity::Error},
             {"bad-source", "multicast source address", Severity::Error}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
