// Test chains (tests only): pg cannot make chained buffers, jumbo packets arrive as chains, so
// the pg tests need a way to feed VXLAN chained packets through the real path. With
// vxlanTestChains({interface, chainAt}) frames received on that (pg) interface are split after
// `chainAt` bytes into a chain of two buffers and handed to ip4-input / ip6-input, as
// ethernet-input would hand them (no MAC check, no VLAN tags). The interface is cross-connected
// to a loop interface whose tx node is vxlan-test-chains. Off unless a test turns it on;
// nothing else looks at it.
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

constexpr const char* kLoopName = "vxlan-test-chains";

enum Next : uint16_t { kNextDrop, kNextIp4, kNextIp6 };

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
uint32_t test_chains(Worker& w, NodeRuntime& node, const uint32_t* bi, uint32_t n) {
  const VxlanTable* t = g_vxlan.get();
  const uint32_t chain_at = t ? t->test_chain_at : 0;
  uint16_t next[kFrameSize];
  for (uint32_t i = 0; i < n; ++i) {
    Buffer* b = w.buffer(bi[i]);
    split(w, b, chain_at);
    const uint16_t type = b->ethertype;
    if (b->n_vlan_tags || (type != kEtherTypeIp4 && type != kEtherTypeIp6) || b->length <= kEthernetHeaderSize) {
      b->error = node.error_code(0);
      next[i] = kNextDrop;
      continue;
    }
    b->l2_offset = b->data_offset;
    b->l3_offset = uint16_t(b->data_offset + kEthernetHeaderSize);
    b->advance(kEthernetHeaderSize);
    next[i] = type == kEtherTypeIp4 ? kNextIp4 : kNextIp6;
  }
  w.enqueue_to_nexts(node, bi, next, n);
  return n;
}

QUIVER_NODE(test_chains, {
  .name = "vxlan-test-chains",
  .type = NodeType::Internal,
  QUIVER_DISPATCH(test_chains),
  .next_nodes = {"error-drop", "ip4-input", "ip6-input"},
  .errors = {{"not-ip", "not an untagged IPv4/IPv6 frame", Severity::Error}},
});
QUIVER_ARC(test_chains, "interface-output", "vxlan-test-chains");

class LoopOps : public InterfaceOps {
 public:
  const char* driver() const override { return "vxlan-test-chains"; }
  void destroy(Interface&) override {}
};

void test_off(Engine& e) {
  const uint32_t pg = test_chains_interface();
  if (pg == kInvalidIf) return;
  set_test_chains(kInvalidIf, 0);
  if (e.interface(pg)) e.update_runtime(pg, [](IfRuntime& r) {
      r.mode = IfMode::L3;
      r.xconnect_peer = kInvalidIf;
    });
  if (Interface* loop = e.find_interface(kLoopName)) e.delete_interface(loop->index);
}

}  // namespace

// vxlanTestChains({interface, chainAt}) turns test chains on for a pg interface;
// vxlanTestChains(null) turns them off.
QUIVER_NAPI(vxlanTestChains) {
  Engine& e = Engine::get();
  if (!e.running()) throw std::runtime_error("engine: not running");
  test_off(e);
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) return info.Env().Undefined();
  Napi::Object o = arg_object(info, 0, "options");
  Interface& pg = interface_arg(o.Get("interface"), "interface");
  const uint32_t chain_at = opt_u32(o, "chainAt", 0);
  if (chain_at < 64) throw std::runtime_error("chainAt: must be at least 64 (the headers stay in the head buffer)");
  const uint8_t loop_mac[6] = {0x02, 0, 0, 0, 0, 0xfe};
  Interface& loop = e.create_interface(kLoopName, "vxlan-test-chains", std::make_unique<LoopOps>(), loop_mac, 9000);
  e.set_admin(loop, true);
  e.set_link(loop, true);
  e.update_runtime(pg.index, [&](IfRuntime& r) {
    r.mode = IfMode::XConnect;
    r.xconnect_peer = loop.index;
  });
  set_test_chains(pg.index, chain_at);
  return info.Env().Undefined();
}

}  // namespace vxlan
}  // namespace quiver
