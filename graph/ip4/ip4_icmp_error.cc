// ip4-icmp-error: turns the offending packet, in place, into the ICMP error the diverting node
// asked for (type/code/data in IpOpaque): a new IPv4 header from an address of the interface
// it arrived on back to its source, the ICMP header, and as much of the original as fits in
// 576 bytes (RFC 1812 4.3.2.3). Never about ICMP errors, fragments after the first, broadcast
// or multicast, or our own packets; at most `icmp_rate` per second per worker (token bucket).
// The error is then routed like any locally originated packet.
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/worker_l3.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextLookup };
enum Error : uint32_t {
  kErrRateLimited, kErrSuppressed, kErrNoSource, kErrOwnPacket, kErrSentUnreachable, kErrSentTimeExceeded,
  kErrSentFragNeeded
};
constexpr uint32_t kMaxErrorSize = 576;

struct NodeTrace {
  uint8_t type, code;
  uint32_t dst;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char x[INET_ADDRSTRLEN], b[128];
  inet_ntop(AF_INET, &t->dst, x, sizeof x);
  snprintf(b, sizeof b, "ICMP type %u code %u to %s next %u", t->type, t->code, x, t->next);
  return b;
}

// True when RFC 1122 3.2.2 / RFC 1812 4.3.2.7 forbid an error about this packet.
inline bool suppressed(const Ip4Header* ip, uint32_t len) {
  const uint32_t src = ntohl(ip->src), dst = ntohl(ip->dst);
  if (src == 0 || ip4_is_multicast(src) || src == 0xffffffffu || (src >> 24) == 127) return true;
  if (ip4_is_multicast(dst) || dst == 0xffffffffu) return true;
  if (ntohs(ip->frag_be) & 0x1fff) return true;  // not the first fragment
  if (ip->protocol == kIpProtoIcmp && len >= ip->header_bytes() + 1) {
    const uint8_t type = reinterpret_cast<const uint8_t*>(ip)[ip->header_bytes()];
    if (type != kIcmp4EchoRequest && type != kIcmp4EchoReply && type != 13 && type != 14) return true;
  }
  return false;
}

inline uint16_t make_error(Worker& w, NodeRuntime& node, const IfL3Table* ifs, Buffer* b) {
  if (b->rx_if >= kMaxInterfaces) {
    b->error = node.error_code(kErrOwnPacket);
    return kNextDrop;
  }
  auto* orig = reinterpret_cast<Ip4Header*>(b->data());
  if (suppressed(orig, b->length)) {
    b->error = node.error_code(kErrSuppressed);
    return kNextDrop;
  }
  const IfL3& l = ifs->entry[b->rx_if];
  const uint32_t source = l.ip4_source_for(orig->src);
  if (!source) {
    b->error = node.error_code(kErrNoSource);
    return kNextDrop;
  }
  if (!icmp_allow(w)) {
    b->error = node.error_code(kErrRateLimited);
    return kNextDrop;
  }
  const IpOpaque o = ip_opaque(b);
  const uint32_t dst = orig->src;
  constexpr uint32_t kHeaders = sizeof(Ip4Header) + sizeof(IcmpHeader);
  uint32_t quote = b->length;
  if (quote > kMaxErrorSize - kHeaders) quote = kMaxErrorSize - kHeaders;
  if (b->flags & kBufNextPresent) {  // the quote fits the first buffer: let the rest go
    w.free(&b->next_buffer, 1);
    b->flags &= ~kBufNextPresent;
    b->total_length_not_including_first = 0;
  }
  b->length = uint16_t(quote);
  b->advance(-int(kHeaders));
  auto* ip = reinterpret_cast<Ip4Header*>(b->data());
  ip->version_ihl = 0x45;
  ip->tos = 0;
  ip->total_length_be = htons(uint16_t(kHeaders + quote));
  ip->id_be = 0;
  ip->frag_be = 0;
  ip->ttl = 64;
  ip->protocol = kIpProtoIcmp;
  ip->src = source;
  ip->dst = dst;
  ip->set_checksum();
  auto* icmp = reinterpret_cast<IcmpHeader*>(ip + 1);
  icmp->type = o.icmp_type;
  icmp->code = o.icmp_code;
  icmp->data = o.icmp_type == kIcmp4Unreachable && o.icmp_code == kIcmp4FragNeeded ? htonl(o.icmp_data & 0xffff) : 0;
  icmp->checksum = 0;
  icmp->checksum = ip_checksum(icmp, sizeof(IcmpHeader) + quote);
  IpOpaque& no = ip_opaque(b);
  no.fib_index = l.fib4;
  no.origin_if = b->rx_if;
  b->rx_if = kInvalidIf;
  w.count_error(node, o.icmp_type == kIcmp4TimeExceeded ? kErrSentTimeExceeded
                      : o.icmp_code == kIcmp4FragNeeded   ? kErrSentFragNeeded
                                                          : kErrSentUnreachable);
  return kNextLookup;
}

template <bool Trace>
uint32_t ip4_icmp_error(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const IfL3Table* ifs = g_l3.ifs.get();
  Buffer* b[kFrameSize];
  uint16_t next[kFrameSize];
  w.buffers(bi, b, n);
  for (uint32_t i = 0; i < n; ++i) {
    NodeTrace t{ip_opaque(b[i]).icmp_type, ip_opaque(b[i]).icmp_code, 0, 0};
    next[i] = make_error(w, node, ifs, b[i]);
    if constexpr (Trace) {
      t.dst = reinterpret_cast<const Ip4Header*>(b[i]->data())->dst;
      t.next = next[i];
      w.trace(node, b[i], &t, sizeof t);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(ip4_icmp_error, {
  .name = "ip4-icmp-error",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_icmp_error),
  .next_nodes = {"error-drop", "ip4-lookup"},
  .errors = {{"rate-limited", "ICMP error not sent: over the per-worker rate", Severity::Warning},
             {"suppressed", "no ICMP error about this packet (ICMP error, fragment, broadcast, multicast)", Severity::Info},
             {"no-source-address", "rx interface has no IPv4 address to send the error from", Severity::Error},
             {"own-packet", "no ICMP error about a packet the dataplane originated", Severity::Info},
             {"unreachable-sent", "ICMP destination unreachable sent", Severity::Info},
             {"time-exceeded-sent", "ICMP time exceeded sent", Severity::Info},
             {"frag-needed-sent", "ICMP fragmentation needed sent", Severity::Info}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
