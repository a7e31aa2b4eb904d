// ip6-icmp-error: turns the offending packet, in place, into the ICMPv6 error the diverting
// node asked for (RFC 4443): an IPv6 header from an address of the interface it arrived on
// back to its source, the ICMPv6 header (MTU for packet too big, pointer for parameter
// problem), and as much of the original as keeps the error within 1280 bytes. Never about
// ICMPv6 errors, multicast, the unspecified address or our own packets; rate-limited per
// worker. A link-local destination leaves on the interface the packet came from.
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/worker_l3.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextLookup, kNextDiscover };
enum Error : uint32_t {
  kErrRateLimited, kErrSuppressed, kErrNoSource, kErrOwnPacket, kErrSentUnreachable, kErrSentTimeExceeded,
  kErrSentTooBig, kErrSentParamProblem
};
constexpr uint32_t kMinMtu6 = 1280;

struct NodeTrace {
  uint8_t type, code;
  uint8_t dst[16];
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char x[INET6_ADDRSTRLEN], b[160];
  inet_ntop(AF_INET6, t->dst, x, sizeof x);
  snprintf(b, sizeof b, "ICMPv6 type %u code %u to %s next %u", t->type, t->code, x, t->next);
  return b;
}

inline bool suppressed(const Ip6Header* ip, uint32_t len) {
  if (ip6_is_unspecified(ip->src) || ip6_is_multicast(ip->src) || ip6_is_multicast(ip->dst)) return true;
  if (ip->next_header == kIpProtoIcmp6 && len > sizeof(Ip6Header)) {
    const uint8_t type = reinterpret_cast<const uint8_t*>(ip)[sizeof(Ip6Header)];
    if (type < 128) return true;  // an error about an error
  }
  return false;
}

inline uint16_t make_error(Worker& w, NodeRuntime& node, const IfL3Table* ifs, Buffer* b) {
  if (b->rx_if >= kMaxInterfaces) {
    b->error = node.error_code(kErrOwnPacket);
    return kNextDrop;
  }
  const auto* orig = reinterpret_cast<const Ip6Header*>(b->data());
  if (suppressed(orig, b->length)) {
    b->error = node.error_code(kErrSuppressed);
    return kNextDrop;
  }
  const IfL3& l = ifs->entry[b->rx_if];
  uint8_t src[16], dst[16];
  if (!l.ip6_source_for(orig->src, src)) {
    b->error = node.error_code(kErrNoSource);
    return kNextDrop;
  }
  if (!icmp_allow(w)) {
    b->error = node.error_code(kErrRateLimited);
    return kNextDrop;
  }
  std::memcpy(dst, orig->src, 16);
  const IpOpaque o = ip_opaque(b);
  constexpr uint32_t kHeaders = sizeof(Ip6Header) + sizeof(IcmpHeader);
  uint32_t quote = b->length;
  if (quote > kMinMtu6 - kHeaders) quote = kMinMtu6 - kHeaders;
  if (b->flags & kBufNextPresent) {  // the quote fits the first buffer: let the rest go
    w.free(&b->next_buffer, 1);
    b->flags &= ~kBufNextPresent;
    b->total_length_not_including_first = 0;
  }
  b->length = uint16_t(quote);
  b->advance(-int(kHeaders));
  auto* ip = reinterpret_cast<Ip6Header*>(b->data());
  ip->vtc_flow_be = htonl(0x60000000u);
  ip->payload_length_be = htons(uint16_t(sizeof(IcmpHeader) + quote));
  ip->next_header = kIpProtoIcmp6;
  ip->hop_limit = 64;
  std::memcpy(ip->src, src, 16);
  std::memcpy(ip->dst, dst, 16);
  auto* icmp = reinterpret_cast<IcmpHeader*>(ip + 1);
  icmp->type = o.icmp_type;
  icmp->code = o.icmp_code;
  icmp->data = htonl(o.icmp_data);
  icmp->checksum = 0;
  icmp->checksum = ip6_upper_checksum(ip, icmp, sizeof(IcmpHeader) + quote, kIpProtoIcmp6);
  IpOpaque& no = ip_opaque(b);
  no.fib_index = l.fib6;
  no.origin_if = b->rx_if;
  b->rx_if = kInvalidIf;
  w.count_error(node, o.icmp_type == kIcmp6TimeExceeded   ? kErrSentTimeExceeded
                      : o.icmp_type == kIcmp6PacketTooBig ? kErrSentTooBig
                      : o.icmp_type == kIcmp6ParamProblem ? kErrSentParamProblem
                                                          : kErrSentUnreachable);
  if (ip6_is_link_local(dst)) {
    if (l.glean6 == ~0u) {
      b->error = node.error_code(kErrNoSource);
      return kNextDrop;
    }
    b->next_hop = l.glean6;
    return kNextDiscover;
  }
  return kNextLookup;
}

template <bool Trace>
uint32_t ip6_icmp_error(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const IfL3Table* ifs = g_l3.ifs.get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  for (uint32_t i = 0; i < n; ++i) {
    NodeTrace t{ip_opaque(b[i]).icmp_type, ip_opaque(b[i]).icmp_code, {}, 0};
    next[i] = make_error(w, node, ifs, b[i]);
    if constexpr (Trace) {
      std::memcpy(t.dst, reinterpret_cast<const Ip6Header*>(b[i]->data())->dst, 16);
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip6_icmp_error, {
  .name = "ip6-icmp-error",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_icmp_error),
  .next_nodes = {"error-drop", "ip6-lookup", "ip6-discover-neighbor"},
  .errors = {{"rate-limited", "ICMPv6 error not sent: over the per-worker rate", Severity::Warning},
             {"suppressed", "no ICMPv6 error about this packet (ICMPv6 error, multicast, unspecified)", Severity::Info},
             {"no-source-address", "rx interface has no IPv6 address to send the error from", Severity::Error},
             {"own-packet", "no ICMPv6 error about a packet the dataplane originated", Severity::Info},
             {"unreachable-sent", "ICMPv6 destination unreachable sent", Severity::Info},
             {"time-exceeded-sent", "ICMPv6 time exceeded sent", Severity::Info},
             {"packet-too-big-sent", "ICMPv6 packet too big sent", Severity::Info},
             {"parameter-problem-sent", "ICMPv6 parameter problem sent", Severity::Info}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
