// ip6-discover-neighbor: packets whose next hop is not resolved (an incomplete neighbor, or a
// glean on an attached prefix or a link-local destination) are held a short while on this
// worker and a neighbor solicitation goes to the target's solicited-node group (once per target
// per 250 ms). Answers arrive at ip6-local, which passes them to the neighbor thread.
#include <cstdio>
#include <string>

#include "../../native/worker.h"
#include "../ip/dpo.h"
#include "../ip/worker_l3.h"
#include "nd.h"

namespace quiver {
namespace {

enum Next : uint16_t { kNextDrop, kNextRewrite, kNextOutput };
enum Error : uint32_t { kErrHoldFull, kErrNoSource, kErrNoBuffer, kErrSolicits, kErrHeld };

struct NodeTrace {
  uint8_t target[16];
  uint32_t if_index;
  uint8_t outcome;
};
std::string format_trace(const uint8_t* d, uint32_t) {
  const auto* t = reinterpret_cast<const NodeTrace*>(d);
  char x[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, t->target, x, sizeof x);
  static const char* what[] = {"held", "resolved", "dropped"};
  return std::string("target ") + x + " on " + std::to_string(t->if_index) + ": " + what[t->outcome < 3 ? t->outcome : 2];
}

template <bool Trace>
uint32_t ip6_discover(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const AdjTable* adjs = g_l3.adjs.get();
  const NeighborMap* map = g_l3.neighbors.get();
  const IfL3Table* ifs = g_l3.ifs.get();
  const InterfaceTable& ift = w.interfaces();
  uint32_t to_rewrite[kFrameSize], to_drop[kFrameSize], solicits[kFrameSize];
  uint32_t n_rewrite = 0, n_drop = 0, n_sol = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    const Adjacency& a = adjs->adj[b->next_hop < adjs->count ? b->next_hop : kLbUnresolved];
    if (__builtin_expect(a.if_index >= kMaxInterfaces, 0)) {
      b->error = node.error_code(kErrNoSource);
      to_drop[n_drop++] = bi[i];
      continue;
    }
    const auto* ip = reinterpret_cast<const Ip6Header*>(b->data());
    const IpAddr target = a.kind == AdjKind::Glean ? IpAddr::v6(ip->dst) : a.next_hop;
    uint8_t outcome = 0;
    uint32_t resolved = a.kind == AdjKind::Rewrite ? b->next_hop : ~0u;
    if (a.kind == AdjKind::Glean) {
      const uint32_t na = map->find(a.if_index, target);
      if (na < adjs->count && adjs->adj[na].kind == AdjKind::Rewrite) resolved = na;
    }
    uint8_t source[16];
    if (resolved != ~0u) {
      b->next_hop = resolved;
      to_rewrite[n_rewrite++] = bi[i];
      outcome = 1;
    } else if (!ifs->entry[a.if_index].ip6_source_for(target.b, source)) {
      b->error = node.error_code(kErrNoSource);
      to_drop[n_drop++] = bi[i];
      outcome = 2;
    } else {
      const HoldResult r = hold_packet(w, IpFamily::V6, a.if_index, target, bi[i]);
      if (r.held) {
        w.count_error(node, kErrHeld);
      } else {
        b->error = node.error_code(kErrHoldFull);
        to_drop[n_drop++] = bi[i];
        outcome = 2;
      }
      if (r.send_request) {
        uint32_t sb;
        if (w.alloc(&sb, 1) == 1) {
          Buffer* s = w.buffer(sb);
          s->reset(kNdFrameSize);
          uint8_t group[16], group_mac[6];
          ip6_solicited_node(target.b, group);
          ip6_multicast_mac(group, group_mac);
          const uint8_t* mac = ift.entry[a.if_index].mac;
          nd_build(s->data(), kIcmp6NeighborSolicit, group_mac, mac, source, group, target.b, 0, mac);
          s->tx_if = a.if_index;
          s->l2_offset = s->data_offset;
          solicits[n_sol++] = sb;
          w.count_error(node, kErrSolicits);
        } else {
          w.count_error(node, kErrNoBuffer);
        }
      }
    }
    if constexpr (Trace) {
      NodeTrace t{};
      std::memcpy(t.target, target.b, 16);
      t.if_index = a.if_index;
      t.outcome = outcome;
      w.trace(node, b, &t, sizeof t);
    }
  }
  if (n_rewrite) w.enqueue(node, kNextRewrite, to_rewrite, n_rewrite);
  if (n_drop) w.enqueue(node, kNextDrop, to_drop, n_drop);
  if (n_sol) w.enqueue(node, kNextOutput, solicits, n_sol);
  return n;
}

QUIVER_NODE(ip6_discover, {
  .name = "ip6-discover-neighbor",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(ip6_discover),
  .next_nodes = {"error-drop", "ip6-rewrite", "interface-output"},
  .errors = {{"hold-full", "too many packets already wait for this neighbor", Severity::Error},
             {"no-source-address", "interface has no IPv6 address to solicit from", Severity::Error},
             {"no-buffer", "no buffer for a neighbor solicitation", Severity::Error},
             {"solicitations-sent", "neighbor solicitations sent", Severity::Info},
             {"held", "packets held waiting for neighbor discovery", Severity::Info}},
  .format_trace = format_trace,
});

}  // namespace
}  // namespace quiver
