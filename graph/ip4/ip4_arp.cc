// ARP (RFC 826). ip4-arp: packets whose next hop is not resolved (an incomplete neighbor, or a
// glean on an attached subnet whose host is unknown) are held a short while on this worker and
// an ARP request goes out (once per target per 250 ms). arp-input: answers requests for the
// interface's own addresses (in place) and passes what it learns from requests, replies and
// gratuitous ARP to the neighbor thread.
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/worker_l3.h"

namespace quiver {
namespace {

// --- ip4-arp ---

enum ResolveNext : uint16_t { kResDrop, kResRewrite, kResOutput };
enum ResolveError : uint32_t { kResHoldFull, kResNoSource, kResNoBuffer, kResRequests, kResHeld };

struct ResolveTrace {
  uint32_t target, if_index;
  uint8_t outcome;  // 0 held, 1 resolved, 2 dropped
};
std::string format_resolve(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const ResolveTrace*>(d);
  char x[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &t->target, x, sizeof x);
  static const char* what[] = {"held", "resolved", "dropped"};
  return std::string("target ") + x + " on " + std::to_string(t->if_index) + ": " + what[t->outcome < 3 ? t->outcome : 2];
}

// Builds an ARP request for target (network order) from `source` on if_index.
void build_request(Buffer* r, const uint8_t* mac, uint32_t source, uint32_t target, uint32_t if_index) {
  r->reset(uint16_t(14 + sizeof(ArpPacket)));
  uint8_t* d = r->data();
  std::memset(d, 0xff, 6);
  std::memcpy(d + 6, mac, 6);
  d[12] = 0x08;
  d[13] = 0x06;
  auto* arp = reinterpret_cast<ArpPacket*>(d + 14);
  arp->htype_be = htons(1);
  arp->ptype_be = htons(kEtherTypeIp4);
  arp->hlen = 6;
  arp->plen = 4;
  arp->op_be = htons(kArpRequest);
  std::memcpy(arp->sender_mac, mac, 6);
  arp->sender_ip = source;
  std::memset(arp->target_mac, 0, 6);
  arp->target_ip = target;
  r->tx_if = if_index;
  r->l2_offset = r->data_offset;
}

template <bool Trace>
uint32_t ip4_arp(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const AdjTable* adjs = g_l3.adjs.get();
  const NeighborMap* map = g_l3.neighbors.get();
  const IfL3Table* ifs = g_l3.ifs.get();
  const InterfaceTable& ift = w.interfaces();
  uint32_t to_rewrite[kFrameSize], to_drop[kFrameSize], requests[kFrameSize];
  uint32_t n_rewrite = 0, n_drop = 0, n_req = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    const Adjacency& a = adjs->adj[b->next_hop < adjs->count ? b->next_hop : kLbUnresolved];
    const auto* ip = reinterpret_cast<const Ip4Header*>(b->data());
    if (__builtin_expect(a.if_index >= kMaxInterfaces, 0)) {  // the neighbor went away in flight
      b->error = node.error_code(kResNoSource);
      to_drop[n_drop++] = bi[i];
      continue;
    }
    const IpAddr target = a.kind == AdjKind::Glean ? IpAddr::v4(ip->dst) : a.next_hop;
    uint8_t outcome = 0;
    uint32_t resolved = a.kind == AdjKind::Rewrite ? b->next_hop : ~0u;
    if (a.kind == AdjKind::Glean) {
      const uint32_t na = map->find(a.if_index, target);
      if (na < adjs->count && adjs->adj[na].kind == AdjKind::Rewrite) resolved = na;
    }
    if (resolved != ~0u) {
      b->next_hop = resolved;
      to_rewrite[n_rewrite++] = bi[i];
      outcome = 1;
    } else {
      const uint32_t source = ifs->entry[a.if_index].ip4_source_for(target.v4_net());
      if (!source) {
        b->error = node.error_code(kResNoSource);
        to_drop[n_drop++] = bi[i];
        outcome = 2;
      } else {
        const HoldResult r = hold_packet(w, IpFamily::V4, a.if_index, target, bi[i]);
        if (r.held) {
          w.count_error(node, kResHeld);
        } else {
          b->error = node.error_code(kResHoldFull);
          to_drop[n_drop++] = bi[i];
          outcome = 2;
        }
        if (r.send_request) {
          uint32_t rb;
          if (w.alloc(&rb, 1) == 1) {
            build_request(w.buffer(rb), ift.entry[a.if_index].mac, source, target.v4_net(), a.if_index);
            requests[n_req++] = rb;
            w.count_error(node, kResRequests);
          } else {
            w.count_error(node, kResNoBuffer);
          }
        }
      }
    }
    if constexpr (Trace) {
      ResolveTrace t{target.v4_net(), a.if_index, outcome};
      w.trace(node, b, &t, sizeof t);
    }
  }
  if (n_rewrite) w.enqueue(node, kResRewrite, to_rewrite, n_rewrite);
  if (n_drop) w.enqueue(node, kResDrop, to_drop, n_drop);
  if (n_req) w.enqueue(node, kResOutput, requests, n_req);
  return n;
}

QUIVER_NODE(ip4_arp, {
  .name = "ip4-arp",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip4_arp),
  .next_nodes = {"error-drop", "ip4-rewrite", "interface-output"},
  .errors = {{"hold-full", "too many packets already wait for this neighbor", Severity::Error},
             {"no-source-address", "interface has no IPv4 address to ask from", Severity::Error},
             {"no-buffer", "no buffer for an ARP request", Severity::Error},
             {"requests-sent", "ARP requests sent", Severity::Info},
             {"held", "packets held waiting for ARP", Severity::Info}},
  .format_trace = format_resolve,
});

// --- arp-input ---

enum InputNext : uint16_t { kInDrop, kInOutput };
enum InputError : uint32_t {
  kInMalformed, kInNotForUs, kInRepliesSent, kInRepliesReceived, kInGratuitous, kInNotOnLink, kInConflict,
  kInLearnQueueFull
};

struct InputTrace {
  uint16_t op;
  uint32_t sender, target;
  uint8_t sender_mac[6];
  uint8_t replied;
};
std::string format_input(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const InputTrace*>(d);
  char s[INET_ADDRSTRLEN], x[INET_ADDRSTRLEN], b[200];
  inet_ntop(AF_INET, &t->sender, s, sizeof s);
  inet_ntop(AF_INET, &t->target, x, sizeof x);
  snprintf(b, sizeof b, "ARP %s %s (%02x:%02x:%02x:%02x:%02x:%02x) -> %s%s",
           t->op == kArpRequest ? "request" : t->op == kArpReply ? "reply" : "op?", s, t->sender_mac[0], t->sender_mac[1],
           t->sender_mac[2], t->sender_mac[3], t->sender_mac[4], t->sender_mac[5], x, t->replied ? ", replied" : "");
  return b;
}

inline bool on_link(const IfL3& l, uint32_t addr_net) {
  for (uint32_t i = 0; i < l.n4; ++i)
    if (((l.a4[i].addr ^ addr_net) & htonl(mask32(l.a4[i].len))) == 0) return true;
  return false;
}

template <bool Trace>
uint32_t arp_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const IfL3Table* ifs = g_l3.ifs.get();
  const InterfaceTable& ift = w.interfaces();
  uint32_t out[kFrameSize], drop[kFrameSize], consumed[kFrameSize];
  uint32_t n_out = 0, n_drop = 0, n_consumed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    auto* arp = reinterpret_cast<ArpPacket*>(b->data());
    uint32_t err = ~0u;
    bool reply = false;
    if (b->length < sizeof(ArpPacket) || arp->htype_be != htons(1) || arp->ptype_be != htons(kEtherTypeIp4) ||
        arp->hlen != 6 || arp->plen != 4 || mac_is_multicast(arp->sender_mac)) {
      err = kInMalformed;
    } else {
      const IfL3& l = ifs->entry[b->rx_if];
      const uint16_t op = ntohs(arp->op_be);
      const bool target_ours = l.has_ip4(arp->target_ip);
      const bool sender_known = arp->sender_ip != 0 && on_link(l, arp->sender_ip);
      LearnEvent ev{b->rx_if, IpFamily::V4, 0, {}, IpAddr::v4(arp->sender_ip)};
      std::memcpy(ev.mac, arp->sender_mac, 6);
      if (l.has_ip4(arp->sender_ip)) {
        err = kInConflict;  // someone else claims our address: never learn it
      } else if (arp->sender_ip == arp->target_ip) {
        // Gratuitous: refreshes an entry we already have, creates none.
        if (sender_known) {
          ev.update_only = 1;
          if (!learn_push(w, ev)) w.count_error(node, kInLearnQueueFull);
        }
        err = kInGratuitous;
      } else if (op == kArpRequest) {
        if (!target_ours) {
          err = kInNotForUs;
        } else {
          if (sender_known && !learn_push(w, ev)) w.count_error(node, kInLearnQueueFull);
          if (!sender_known && arp->sender_ip != 0) w.count_error(node, kInNotOnLink);
          reply = true;
        }
      } else if (op == kArpReply) {
        if (!target_ours) err = kInNotForUs;
        else if (!sender_known) err = kInNotOnLink;
        else {
          if (!learn_push(w, ev)) w.count_error(node, kInLearnQueueFull);
          err = kInRepliesReceived;
        }
      } else {
        err = kInMalformed;
      }
    }
    if constexpr (Trace) {
      InputTrace t{};
      if (b->length >= sizeof(ArpPacket)) {
        t.op = ntohs(arp->op_be);
        t.sender = arp->sender_ip;
        t.target = arp->target_ip;
        std::memcpy(t.sender_mac, arp->sender_mac, 6);
      }
      t.replied = reply;
      w.trace(node, b, &t, sizeof t);
    }
    if (reply) {
      const uint8_t* my_mac = ift.entry[b->rx_if].mac;
      const uint32_t ours = arp->target_ip;
      arp->op_be = htons(kArpReply);
      std::memcpy(arp->target_mac, arp->sender_mac, 6);
      arp->target_ip = arp->sender_ip;
      std::memcpy(arp->sender_mac, my_mac, 6);
      arp->sender_ip = ours;
      b->advance(int(b->l2_offset) - int(b->data_offset));
      b->length = uint16_t(14 + sizeof(ArpPacket));  // no padding echoed back
      uint8_t* e = b->data();
      std::memcpy(e, arp->target_mac, 6);
      std::memcpy(e + 6, my_mac, 6);
      e[12] = 0x08;
      e[13] = 0x06;
      b->tx_if = b->rx_if;
      out[n_out++] = bi[i];
      w.count_error(node, kInRepliesSent);
    } else if (err == kInRepliesReceived || err == kInGratuitous) {
      w.count_error(node, err);  // handled, not an error: freed without counting a drop
      consumed[n_consumed++] = bi[i];
    } else {
      b->error = node.error_code(err);
      drop[n_drop++] = bi[i];
    }
  }
  learn_flush(w);
  if (n_out) w.enqueue(node, kInOutput, out, n_out);
  if (n_drop) w.enqueue(node, kInDrop, drop, n_drop);
  if (n_consumed) w.free(consumed, n_consumed);
  return n;
}

QUIVER_NODE(arp_input, {
  .name = "arp-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(arp_input),
  .next_nodes = {"error-drop", "interface-output"},
  .errors = {{"malformed", "not an Ethernet/IPv4 ARP packet", Severity::Error},
             {"not-for-us", "target is not an address of the interface", Severity::Info},
             {"replies-sent", "ARP replies sent", Severity::Info},
             {"replies-received", "ARP replies learned", Severity::Info},
             {"gratuitous", "gratuitous ARP seen", Severity::Info},
             {"not-on-link", "sender is not in a subnet of the interface", Severity::Warning},
             {"address-conflict", "sender claims one of our addresses", Severity::Warning},
             {"learn-queue-full", "neighbor learn queue full", Severity::Error}},
  .format_trace = format_input,
});

}  // namespace
}  // namespace quiver
