// ip6-local: packets for one of the dataplane's own addresses, its link-local, or a link-scope
// group it belongs to (all-nodes, all-routers, the solicited-node group of each address).
// ICMPv6: echo requests answered, echo replies fed to the dataplane's pings, neighbor
// solicitations answered with an advertisement in place (and the solicitor learned),
// advertisements learned, router solicitations and advertisements ignored (counted). UDP goes to
// the node registered for its port or gets a port unreachable; other protocols a parameter
// problem. Extension headers are walked (bounded); fragments are dropped: no reassembly.
#include <cstdio>
#include <string>

#include "../../native/clock.h"
#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/ping.h"
#include "../ip/udp_ports.h"
#include "../ip/worker_l3.h"
#include "nd.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextLookup, kNextIcmpError, kNextOutput, kNextDiscover };  // UDP port nodes follow
enum Error : uint32_t {
  kErrFragment, kErrBadExtension, kErrBadIcmp, kErrBadChecksum, kErrEchoReplies, kErrEchoUnexpected, kErrRsIgnored,
  kErrRaIgnored, kErrNaSent, kErrNaReceived, kErrNdInvalid, kErrNotOurTarget, kErrIcmpOther, kErrBadUdp,
  kErrUdpChecksum, kErrNoListener, kErrUnknownProtocol, kErrNotJoined, kErrNotOurs, kErrChained, kErrLearnQueueFull,
  kErrOwnPacket, kErrNoSource
};
constexpr uint32_t kConsumed = ~0u;

struct NodeTrace {
  uint8_t src[16], dst[16];
  uint8_t nh, icmp_type;
  uint16_t next;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char s[INET6_ADDRSTRLEN], x[INET6_ADDRSTRLEN], b[240];
  inet_ntop(AF_INET6, t->src, s, sizeof s);
  inet_ntop(AF_INET6, t->dst, x, sizeof x);
  snprintf(b, sizeof b, "local %s -> %s next-header %u icmp-type %u next %u", s, x, t->nh, t->icmp_type, t->next);
  return b;
}

bool joined(const IfL3& l, const uint8_t* group) {
  static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t all_routers[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  if (!std::memcmp(group, all_nodes, 16) || !std::memcmp(group, all_routers, 16)) return true;
  uint8_t sn[16];
  if (l.ip6_enabled) {
    ip6_solicited_node(l.link_local, sn);
    if (!std::memcmp(group, sn, 16)) return true;
  }
  for (uint32_t i = 0; i < l.n6; ++i) {
    ip6_solicited_node(l.a6[i].addr, sn);
    if (!std::memcmp(group, sn, 16)) return true;
  }
  return false;
}

bool on_link(const IfL3& l, const uint8_t* a) {
  if (ip6_is_link_local(a)) return true;
  const IpAddr x = IpAddr::v6(a);
  for (uint32_t i = 0; i < l.n6; ++i) {
    const IpAddr p = IpAddr::v6(l.a6[i].addr);
    const uint32_t len = l.a6[i].len;
    if (((p.hi() ^ x.hi()) & mask64(len)) == 0 && ((p.lo() ^ x.lo()) & mask64(len > 64 ? len - 64 : 0)) == 0) return true;
  }
  return false;
}

inline uint32_t icmp_error(Buffer* b, uint8_t type, uint8_t code, uint32_t data) {
  IpOpaque& o = ip_opaque(b);
  o.icmp_type = type;
  o.icmp_code = code;
  o.icmp_data = data;
  return kNextIcmpError;
}

uint32_t neighbor_solicitation(Worker& w, NodeRuntime& node, const IfL3& l, const InterfaceTable& ift, Buffer* b,
                               Ip6Header* ip, uint8_t* icmp, uint32_t ulen) {
  if (ip->hop_limit != 255 || icmp[1] != 0 || ulen < 24 || ip6_is_multicast(icmp + 8)) {
    b->error = node.error_code(kErrNdInvalid);
    return kNextDrop;
  }
  bool bad = false;
  const uint8_t* sllao = nd_find_option(icmp + 24, ulen - 24, kNdOptSourceLinkAddr, &bad);
  const bool dad = ip6_is_unspecified(ip->src);
  if (bad || (dad && sllao)) {
    b->error = node.error_code(kErrNdInvalid);
    return kNextDrop;
  }
  uint8_t target[16], solicitor[16], eth_dst[6];
  std::memcpy(target, icmp + 8, 16);
  std::memcpy(solicitor, ip->src, 16);
  if (!l.has_ip6(target)) {
    b->error = node.error_code(kErrNotOurTarget);
    return kNextDrop;
  }
  if (dad) {
    static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(eth_dst, all_nodes_mac, 6);
    std::memcpy(solicitor, all_nodes, 16);
  } else {
    std::memcpy(eth_dst, sllao ? sllao : b->at(b->l2_offset) + 6, 6);
    if (sllao && on_link(l, ip->src)) {
      LearnEvent ev{b->rx_if, IpFamily::V6, 0, {}, IpAddr::v6(ip->src)};
      std::memcpy(ev.mac, sllao, 6);
      if (!learn_push(w, ev)) w.count_error(node, kErrLearnQueueFull);
    }
  }
  const uint8_t* mac = ift.entry[b->rx_if].mac;
  b->advance(int(b->l2_offset) - int(b->data_offset));
  b->length = kNdFrameSize;
  nd_build(b->data(), kIcmp6NeighborAdvert, eth_dst, mac, target, solicitor, target,
           kNaRouter | kNaOverride | (dad ? 0 : kNaSolicited), mac);
  b->tx_if = b->rx_if;
  w.count_error(node, kErrNaSent);
  return kNextOutput;
}

uint32_t neighbor_advertisement(Worker& w, NodeRuntime& node, const IfL3& l, Buffer* b, const Ip6Header* ip,
                                const uint8_t* icmp, uint32_t ulen) {
  uint32_t flags;
  std::memcpy(&flags, icmp + 4, 4);
  flags = ntohl(flags);
  bool bad = ip->hop_limit != 255 || icmp[1] != 0 || ulen < 24 || ip6_is_multicast(icmp + 8) ||
             (ip6_is_multicast(ip->dst) && (flags & kNaSolicited));
  const uint8_t* tllao = bad ? nullptr : nd_find_option(icmp + 24, ulen - 24, kNdOptTargetLinkAddr, &bad);
  if (bad) {
    b->error = node.error_code(kErrNdInvalid);
    return kNextDrop;
  }
  if (tllao && on_link(l, icmp + 8) && !l.has_ip6(icmp + 8)) {
    // Solicited answers create the entry (our solicitation came from a worker); unsolicited
    // ones only refresh an existing one.
    LearnEvent ev{b->rx_if, IpFamily::V6, uint8_t((flags & kNaSolicited) ? 0 : 1), {}, IpAddr::v6(icmp + 8)};
    std::memcpy(ev.mac, tllao, 6);
    if (!learn_push(w, ev)) w.count_error(node, kErrLearnQueueFull);
  }
  w.count_error(node, kErrNaReceived);
  return kConsumed;
}

uint32_t echo_request(NodeRuntime& node, const IfL3& l, uint32_t fib, Buffer* b, Ip6Header* ip, uint32_t off, uint32_t ulen) {
  uint8_t* d = b->data();
  if (off != sizeof(Ip6Header)) {  // answer without the request's extension headers
    std::memmove(d + sizeof(Ip6Header), d + off, ulen);
    ip->next_header = kIpProtoIcmp6;
    ip->payload_length_be = htons(uint16_t(ulen));
    b->length = uint16_t(sizeof(Ip6Header) + ulen);
  }
  uint8_t src[16];
  if (ip6_is_multicast(ip->dst)) {
    if (!l.ip6_source_for(ip->src, src)) {
      b->error = node.error_code(kErrNoSource);
      return kNextDrop;
    }
  } else {
    std::memcpy(src, ip->dst, 16);
  }
  std::memcpy(ip->dst, ip->src, 16);
  std::memcpy(ip->src, src, 16);
  ip->hop_limit = 64;
  auto* icmp = reinterpret_cast<IcmpHeader*>(d + sizeof(Ip6Header));
  icmp->type = kIcmp6EchoReply;
  icmp->checksum = 0;
  icmp->checksum = ip6_upper_checksum(ip, icmp, ulen, kIpProtoIcmp6);
  IpOpaque& o = ip_opaque(b);
  o.fib_index = fib;
  o.origin_if = b->rx_if;
  b->rx_if = kInvalidIf;  // locally originated from here on
  if (ip6_is_link_local(ip->dst)) {
    if (l.glean6 == ~0u) {
      b->error = node.error_code(kErrNoSource);
      return kNextDrop;
    }
    b->next_hop = l.glean6;
    return kNextDiscover;
  }
  return kNextLookup;
}

uint32_t local(Worker& w, NodeRuntime& node, const IfL3Table* ifs, const InterfaceTable& ift, Buffer* b) {
  auto* ip = reinterpret_cast<Ip6Header*>(b->data());
  uint8_t* d = b->data();
  const uint32_t len = sizeof(Ip6Header) + ntohs(ip->payload_length_be);
  // A chain (a jumbo packet) is only taken as UDP to a registered port (VXLAN over a jumbo
  // underlay), without extension headers, its IP and UDP headers in the head buffer.
  const bool chained = len > b->length;
  if (__builtin_expect(chained && (ip->next_header != kIpProtoUdp || b->length < sizeof(Ip6Header) + 8), 0)) {
    b->error = node.error_code(kErrChained);
    return kNextDrop;
  }
  if (__builtin_expect(b->rx_if >= kMaxInterfaces, 0)) {
    b->error = node.error_code(kErrOwnPacket);
    return kNextDrop;
  }
  const IfL3& l = ifs->entry[b->rx_if];
  if (ip6_is_multicast(ip->dst) && !joined(l, ip->dst)) {
    b->error = node.error_code(kErrNotJoined);
    return kNextDrop;
  }
  if (ip6_is_link_local(ip->dst) && !(l.ip6_enabled && !std::memcmp(ip->dst, l.link_local, 16))) {
    b->error = node.error_code(kErrNotOurs);
    return kNextDrop;
  }
  uint8_t nh = ip->next_header;
  uint32_t off = sizeof(Ip6Header), nh_at = 6;
  for (int k = 0; k < 8 && (nh == 0 || nh == 43 || nh == 60); ++k) {
    if (off + 8 > len) {
      b->error = node.error_code(kErrBadExtension);
      return kNextDrop;
    }
    nh_at = off;
    nh = d[off];
    off += (uint32_t(d[off + 1]) + 1) * 8;
  }
  if (off > len || nh == 0 || nh == 43 || nh == 60) {
    b->error = node.error_code(kErrBadExtension);
    return kNextDrop;
  }
  if (nh == 44) {
    b->error = node.error_code(kErrFragment);
    return kNextDrop;
  }
  const uint32_t ulen = len - off;
  if (nh == kIpProtoIcmp6) {
    uint8_t* icmp = d + off;
    if (ulen < 8) {
      b->error = node.error_code(kErrBadIcmp);
      return kNextDrop;
    }
    if (csum_fold(csum_partial(icmp, ulen, ip6_pseudo_sum(ip, ulen, kIpProtoIcmp6))) != 0) {
      b->error = node.error_code(kErrBadChecksum);
      return kNextDrop;
    }
    switch (icmp[0]) {
      case kIcmp6EchoRequest:
        if (icmp[1] == 0) return echo_request(node, l, l.fib6, b, ip, off, ulen);
        break;
      case kIcmp6EchoReply: {
        const uint16_t ident = uint16_t(icmp[4] << 8 | icmp[5]), seq = uint16_t(icmp[6] << 8 | icmp[7]);
        w.count_error(node, ping_record(ident, seq, rdtsc()) ? kErrEchoReplies : kErrEchoUnexpected);
        return kConsumed;
      }
      case kIcmp6RouterSolicit:
        w.count_error(node, kErrRsIgnored);  // a router without router advertisements
        return kConsumed;
      case kIcmp6RouterAdvert:
        w.count_error(node, kErrRaIgnored);
        return kConsumed;
      case kIcmp6NeighborSolicit: return neighbor_solicitation(w, node, l, ift, b, ip, icmp, ulen);
      case kIcmp6NeighborAdvert: return neighbor_advertisement(w, node, l, b, ip, icmp, ulen);
    }
    b->error = node.error_code(kErrIcmpOther);
    return kNextDrop;
  }
  if (ip6_is_multicast(ip->dst)) {  // no UDP or other protocols on link-scope groups
    b->error = node.error_code(kErrNotJoined);
    return kNextDrop;
  }
  if (nh == kIpProtoUdp) {
    auto* udp = reinterpret_cast<UdpHeader*>(d + off);
    const uint32_t ul = ulen >= 8 ? ntohs(udp->length_be) : 0;
    if (ul < 8 || ul > ulen) {
      b->error = node.error_code(kErrBadUdp);
      return kNextDrop;
    }
    if (!(b->flags & kBufL4ChecksumOk) &&
        (udp->checksum == 0 ||
         csum_fold(chained ? csum_chain(w.pool(), b, off, ul, ip6_pseudo_sum(ip, ul, kIpProtoUdp))
                           : csum_partial(udp, ul, ip6_pseudo_sum(ip, ul, kIpProtoUdp))) != 0)) {
      b->error = node.error_code(kErrUdpChecksum);
      return kNextDrop;
    }
    const uint16_t next = g_udp_next6[ntohs(udp->dst_port_be)];
    if (__builtin_expect(chained && !next, 0)) {
      b->error = node.error_code(kErrChained);
      return kNextDrop;
    }
    if (next) {
      b->l3_offset = b->data_offset;
      b->l4_offset = uint16_t(b->data_offset + off);
      b->advance(int(off + 8));
      return next;
    }
    w.count_error(node, kErrNoListener);
    return icmp_error(b, kIcmp6Unreachable, kIcmp6PortUnreachable, 0);
  }
  w.count_error(node, kErrUnknownProtocol);
  return icmp_error(b, kIcmp6ParamProblem, 1, nh_at);
}

template <bool Trace>
uint32_t ip6_local(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const IfL3Table* ifs = g_l3.ifs.get();
  const InterfaceTable& ift = w.interfaces();
  uint32_t keep[kFrameSize], consumed[kFrameSize];
  uint16_t next[kFrameSize];
  uint32_t n_keep = 0, n_consumed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (i + 4 < n) __builtin_prefetch(w.buffer(bi[i + 4])->data());
    NodeTrace t{};
    if constexpr (Trace) {
      const auto* ip = reinterpret_cast<const Ip6Header*>(b->data());
      std::memcpy(t.src, ip->src, 16);
      std::memcpy(t.dst, ip->dst, 16);
      t.nh = ip->next_header;
      if (t.nh == kIpProtoIcmp6) t.icmp_type = b->data()[40];
    }
    const uint32_t nx = local(w, node, ifs, ift, b);
    if constexpr (Trace) {
      t.next = uint16_t(nx);
      w.trace(node, b, &t, sizeof t);
    }
    if (nx == kConsumed) {
      consumed[n_consumed++] = bi[i];
    } else {
      keep[n_keep] = bi[i];
      next[n_keep++] = uint16_t(nx);
    }
  }
  learn_flush(w);
  if (n_consumed) w.free(consumed, n_consumed);
  w.enqueue_to_nexts(node, keep, next, n_keep);
  return n;
}

QUIVER_NODE(ip6_local, {
  .name = "ip6-local",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_local),
  .next_nodes = {"error-drop", "ip6-lookup", "ip6-icmp-error", "interface-output", "ip6-discover-neighbor"},
  .errors = {{"fragment", "fragment for us (no reassembly)", Severity::Error},
             {"bad-extension-header", "extension headers run past the packet or nest too deep", Severity::Error},
             {"bad-icmp", "ICMPv6 message too short", Severity::Error},
             {"bad-checksum", "ICMPv6 checksum is wrong", Severity::Error},
             {"echo-replies", "echo replies for the dataplane's pings", Severity::Info},
             {"echo-reply-unexpected", "echo reply no ping waits for", Severity::Info},
             {"router-solicitation-ignored", "router solicitations (no router advertisements sent)", Severity::Info},
             {"router-advertisement-ignored", "router advertisements (not a host)", Severity::Info},
             {"advertisements-sent", "neighbor advertisements sent", Severity::Info},
             {"advertisements-received", "neighbor advertisements learned", Severity::Info},
             {"nd-invalid", "neighbor discovery message fails RFC 4861 checks", Severity::Error},
             {"not-our-target", "solicitation for an address that is not ours here", Severity::Info},
             {"icmp6-unsupported", "ICMPv6 type not handled locally", Severity::Info},
             {"bad-udp", "UDP length disagrees with the IPv6 length", Severity::Error},
             {"udp-checksum", "UDP checksum is wrong or zero", Severity::Error},
             {"udp-no-listener", "no node for this UDP port: ICMPv6 port unreachable", Severity::Info},
             {"unknown-protocol", "next header not handled locally: ICMPv6 parameter problem", Severity::Info},
             {"not-joined", "multicast group the interface is not in", Severity::Info},
             {"not-ours", "link-local address is not this interface's", Severity::Info},
             {"chained", "spans several buffers (only UDP to a registered port is taken)", Severity::Error},
             {"learn-queue-full", "neighbor learn queue full", Severity::Error},
             {"own-packet", "a packet the dataplane originated came back to it", Severity::Info},
             {"no-source-address", "no address to answer from", Severity::Error}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
