// Test underlay: lets the pg tests drive encap and decap before ip4/ip6 lookup, rewrite and
// local delivery exist. It is off unless a test turns it on with vxlanTestUnderlay(); nothing
// in the normal packet path looks at it (encap's per-tunnel next is chosen when the table is
// published).
//
//   encap -> vxlan-test-underlay-out: adds a fixed outer Ethernet header (what ip4-rewrite
//            would add) and transmits on the chosen pg interface.
//   pg rx -> ethernet-input -> l2-xconnect -> interface "vxlan-test-underlay" whose tx node
//            is vxlan-test-underlay-in: a minimal stand-in for ip4-local/ip6-local UDP
//            dispatch (IPv4/IPv6 without options or extension headers, UDP to 4789 or 8472;
//            no checksum verification) that hands the VXLAN payload to vxlan4/6-input.
//            With `chainAt`, it first splits each frame after that many bytes into a chain of
//            two buffers, so the tests exercise chained (jumbo) packets without a driver.
#include <stdexcept>
#include <string>

#include "../../native/engine.h"
#include "../../native/napi/napi.h"
#include "../../native/worker.h"
#include "vxlan.h"
#include "vxlan_control.h"

namespace quiver {
namespace vxlan {
namespace {

constexpr const char* kLoopName = "vxlan-test-underlay";

enum OutNext : uint16_t { kOutDrop, kOutOutput };
enum InNext : uint16_t { kInDrop, kIn4, kIn6 };

template <bool Trace>
uint32_t test_underlay_out(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  uint16_t next[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    if (!t || t->test.if_index == kInvalidIf || b->headroom() < kEthernetHeaderSize) {
      b->error = node.error_code(0);
      next[i] = kOutDrop;
      continue;
    }
    const bool v6 = (b->data()[0] >> 4) == 6;
    b->advance(-int(kEthernetHeaderSize));
    auto* eth = reinterpret_cast<EthernetHeader*>(b->data());
    std::memcpy(eth->dst, t->test.remote_mac, 6);
    std::memcpy(eth->src, t->test.local_mac, 6);
    eth->type_be = htons(v6 ? kEtherTypeIp6 : kEtherTypeIp4);
    b->tx_if = t->test.if_index;
    next[i] = kOutOutput;
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

inline uint16_t classify_in(NodeRuntime& node, Buffer* b) {
  const uint32_t l2 = b->l3_offset - b->data_offset;  // ethernet-input recorded l3_offset
  const uint8_t* p = b->at(b->l3_offset);
  const uint32_t avail = b->length > l2 ? b->length - l2 : 0;
  uint32_t ip_len;
  uint16_t next;
  if (b->ethertype == kEtherTypeIp4 && avail >= 20 && p[0] == 0x45 && p[9] == kIpProtoUdp) {
    ip_len = 20;
    next = kIn4;
  } else if (b->ethertype == kEtherTypeIp6 && avail >= 40 && (p[0] >> 4) == 6 && p[6] == kIpProtoUdp) {
    ip_len = 40;
    next = kIn6;
  } else {
    b->error = node.error_code(0);
    return kInDrop;
  }
  if (avail < ip_len + sizeof(UdpHeader)) {
    b->error = node.error_code(0);
    return kInDrop;
  }
  const auto* udp = reinterpret_cast<const UdpHeader*>(p + ip_len);
  const uint16_t port = ntohs(udp->dst_port_be);
  if (port != kPortIana && port != kPortLinux) {
    b->error = node.error_code(0);
    return kInDrop;
  }
  b->l4_offset = uint16_t(b->l3_offset + ip_len);
  b->advance(int(l2 + ip_len + sizeof(UdpHeader)));
  return next;
}

// Moves everything after `at` bytes into a new buffer chained behind b.
void split(Worker& w, Buffer* b, uint32_t at) {
  if (at == 0 || b->length <= at || (b->flags & kBufNextPresent)) return;
  uint32_t tail;
  if (w.alloc(&tail, 1) != 1) return;
  Buffer* t = w.buffer(tail);
  t->reset(uint16_t(b->length - at));
  std::memcpy(t->data(), b->data() + at, t->length);
  b->length = uint16_t(at);
  b->next_buffer = tail;
  b->total_length_not_including_first = t->length;
  b->flags |= kBufNextPresent;
}

template <bool Trace>
uint32_t test_underlay_in(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  const uint32_t chain_at = t ? t->test.chain_at : 0;
  uint16_t next[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    split(w, w.buffer(bi[i]), chain_at);
    next[i] = classify_in(node, w.buffer(bi[i]));
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(test_underlay_out, {
  .name = "vxlan-test-underlay-out",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(test_underlay_out),
  .next_nodes = {"error-drop", "interface-output"},
  .errors = {{"off", "test underlay is off", Severity::Error}},
});
QUIVER_NODE(test_underlay_in, {
  .name = "vxlan-test-underlay-in",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(test_underlay_in),
  .next_nodes = {"error-drop", "vxlan4-input", "vxlan6-input"},
  .errors = {{"not-vxlan", "not IPv4/IPv6 UDP to a VXLAN port", Severity::Error}},
});
QUIVER_ARC(test_underlay_in, "interface-output", "vxlan-test-underlay-in");

class LoopOps : public InterfaceOps {
 public:
  const char* driver() const override { return "vxlan-test-underlay"; }
  void destroy(Interface&) override {}
};

void test_off(Engine& e) {
  TestUnderlay& t = test_underlay();
  if (t.if_index == kInvalidIf) return;
  const uint32_t pg = t.if_index;
  t = TestUnderlay();
  if (e.interface(pg)) e.update_runtime(pg, [](IfRuntime& r) {
      r.mode = IfMode::L3;
      r.xconnect_peer = kInvalidIf;
    });
  if (Interface* loop = e.find_interface(kLoopName)) e.delete_interface(loop->index);
  publish_tunnels();
}

}  // namespace

// vxlanTestUnderlay({interface, localMac, remoteMac, chainAt}) turns the test underlay on over a pg
// interface; vxlanTestUnderlay(null) turns it off.
QUIVER_NAPI(vxlanTestUnderlay) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  test_off(e);
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) return info.Env().Undefined();
  Napi::Object o = arg_object(info, 0, "underlay");
  Interface& pg = interface_arg(o.Get("interface"), "interface");
  TestUnderlay t;
  t.if_index = pg.index;
  parse_mac(opt_string(o, "localMac", "02:00:00:00:00:01"), t.local_mac, "localMac");
  parse_mac(opt_string(o, "remoteMac", "02:00:00:00:00:02"), t.remote_mac, "remoteMac");
  t.chain_at = opt_u32(o, "chainAt", 0);
  const uint8_t loop_mac[6] = {0x02, 0, 0, 0, 0, 0xfe};
  Interface& loop = e.create_interface(kLoopName, "vxlan-test-underlay-in", std::make_unique<LoopOps>(), loop_mac, 9000);
  e.set_admin(loop, true);
  e.set_link(loop, true);
  e.update_runtime(pg.index, [&](IfRuntime& r) {
    r.mode = IfMode::XConnect;
    r.xconnect_peer = loop.index;
  });
  test_underlay() = t;
  publish_tunnels();
  return info.Env().Undefined();
}

}  // namespace vxlan
}  // namespace quiver
