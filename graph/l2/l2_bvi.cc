// The bridge virtual interface (BVI): an L3 interface whose "wire" is a bridge domain.
//
// * Bridge -> L3 (bvi-input): l2-fwd (a frame to the BVI's MAC) and l2-flood (the BVI's copy
//   of a broadcast/multicast frame) send the frame here with tx_if = the BVI. It is counted
//   as received on the BVI and handed to ethernet-input with rx_if = the BVI, which is in L3
//   mode: the L3 nodes see it like a frame from any L3 interface.
// * L3 -> bridge (bvi-output, the BVI's tx node): a frame sent with tx_if = the BVI through
//   interface-output (an Ethernet frame, data at the Ethernet header) is counted as
//   transmitted on the BVI and enters the bridge domain at l2-input with rx_if = the BVI, as if
//   a member had received it.
#include <cstdio>
#include <string>

#include "../../native/engine.h"
#include "../../native/headers/ethernet.h"
#include "../../native/napi/napi.h"
#include "../../native/worker.h"
#include "l2.h"
#include "l2_control.h"

namespace quiver {
namespace l2 {
namespace {

enum BviInNext : uint16_t { kBviInDrop, kBviInEthernet };
enum BviInError : uint32_t { kBviInDown };
enum BviOutNext : uint16_t { kBviOutL2Input };

struct BviTrace {
  uint32_t bvi;
};
std::string format_bvi_in(const uint8_t* d, uint32_t) {
  return "to L3 on BVI " + std::to_string(reinterpret_cast<const BviTrace*>(d)->bvi);
}
std::string format_bvi_out(const uint8_t* d, uint32_t) {
  return "into the bridge from BVI " + std::to_string(reinterpret_cast<const BviTrace*>(d)->bvi);
}

template <bool Trace>
uint32_t bvi_input(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const InterfaceTable& t = w.interfaces();
  uint16_t next[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    const uint32_t bvi = b->tx_if;
    if (__builtin_expect(!t.entry[bvi].admin_up, 0)) {
      b->error = node.error_code(kBviInDown);
      next[i] = kBviInDrop;
      continue;
    }
    b->rx_if = bvi;
    b->tx_if = kInvalidIf;
    b->l2_bridge = 0;
    w.count_rx(bvi, 1, b->total_length());
    w.capture(bvi, false, &bi[i], 1);
    next[i] = kBviInEthernet;
    if constexpr (Trace) {
      BviTrace tr{bvi};
      w.trace(node, b, &tr, sizeof tr);
    }
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(bvi_input, {
  .name = "bvi-input",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(bvi_input),
  .next_nodes = {"error-drop", "ethernet-input"},
  .errors = {{"bvi-down", "BVI is administratively down", Severity::Info}},
  .format_trace = format_bvi_in,
});

// Runs of one BVI are counted at once; the frame enters the bridge as received on the BVI.
template <bool Trace>
uint32_t bvi_output(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  uint32_t start = 0;
  while (start < n) {
    const uint32_t bvi = w.buffer(bi[start])->tx_if;
    uint32_t end = start;
    uint64_t bytes = 0;
    for (; end < n; ++end) {
      Buffer* b = w.buffer(bi[end]);
      if (b->tx_if != bvi) break;
      bytes += b->total_length();
      b->rx_if = bvi;
      b->l2_offset = b->data_offset;
      b->n_vlan_tags = 0;
      if constexpr (Trace) {
        BviTrace tr{bvi};
        w.trace(node, b, &tr, sizeof tr);
      }
    }
    w.count_tx(bvi, end - start, bytes);
    w.capture(bvi, true, bi + start, end - start);
    start = end;
  }
  w.enqueue(node, kBviOutL2Input, bi, n);
  return n;
}

QUIVER_NODE(bvi_output, {
  .name = "bvi-output",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(bvi_output),
  .next_nodes = {"l2-input"},
  .errors = {},
  .format_trace = format_bvi_out,
});
QUIVER_ARC(bvi_output, "interface-output", "bvi-output");

class BviOps : public InterfaceOps {
 public:
  const char* driver() const override { return "bvi"; }
  void destroy(Interface&) override {}
  void set_mac(Interface& intf, const uint8_t* mac) override { bvi_mac_changing(intf, mac); }
};

}  // namespace

bool is_bvi(const Interface& intf) { return std::string(intf.ops->driver()) == "bvi"; }

// bviCreate({name, mac?, mtu?}) -> index. Admin down, like every new interface.
QUIVER_NAPI(bviCreate) {
  Napi::Object o = arg_object(info, 0, "bvi");
  Engine& e = Engine::get();
  const std::string name = opt_string(o, "name", "");
  const bool has_mac = o.Has("mac") && !o.Get("mac").IsUndefined();
  uint8_t mac[6] = {0x02, 0xfe, 0x00, 0x01, 0, 0};
  if (has_mac) {
    parse_mac(opt_string(o, "mac", ""), mac, "mac");
    if (mac[0] & 1) throw std::runtime_error("mac: " + opt_string(o, "mac", "") + " is a multicast address");
  }
  const uint32_t mtu = opt_u32(o, "mtu", 1500);
  if (mtu < 68 || mtu > 9216) throw std::runtime_error("mtu: " + std::to_string(mtu) + " is outside 68..9216");
  Interface& intf = e.create_interface(name, "bvi-output", std::make_unique<BviOps>(), mac, mtu);
  if (!has_mac) {
    mac[4] = uint8_t(intf.index >> 8);
    mac[5] = uint8_t(intf.index);
    e.set_mac(intf, mac);
  }
  return Napi::Number::New(info.Env(), intf.index);
}

}  // namespace l2
}  // namespace quiver
