// N-API entry points of VLAN sub-interfaces (create; deletion is the engine's deleteInterface,
// which calls back here) and of tag rewrite, plus their views.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../native/engine.h"
#include "../../native/json.h"
#include "../../native/napi/napi.h"
#include "../ethernet/ethernet.h"
#include "l2.h"
#include "l2_control.h"

namespace quiver {
namespace l2 {
namespace {

class SubIfOps : public InterfaceOps {
 public:
  const char* driver() const override { return "sub"; }
  void destroy(Interface&) override {}
  std::string details_json(const Interface& intf) override {
    L2Runtime* rt = runtime();
    if (!rt) return "{}";
    const SubIf& s = rt->vlans.get()->sub[intf.index];
    Interface* p = Engine::get().interface(s.parent);
    return "{\"parent\":" + json_str(p ? p->name : "") + ",\"type\":\"" + (s.dot1ad ? "dot1ad" : "dot1q") +
           "\",\"outerVlan\":" + std::to_string(s.outer) + ",\"innerVlan\":" + (s.n_tags > 1 ? std::to_string(s.inner) : "null") +
           ",\"exactMatch\":true}";
  }
};

uint16_t vid_arg(const Napi::Object& o, const char* key) {
  const uint32_t v = opt_u32(o, key, 0);
  if (v < 1 || v > 4094) throw std::runtime_error(std::string(key) + ": " + std::to_string(v) + " is outside 1..4094");
  return uint16_t(v);
}

// The sub-interface already matching these tags on parent, or kInvalidIf.
uint32_t matching_sub(const VlanTable& vt, uint32_t parent, bool dot1ad, uint16_t outer, int inner) {
  const VlanParent* p = vt.parent[parent].get();
  if (!p) return kInvalidIf;
  if (inner < 0) {
    const uint16_t s = dot1ad ? p->dot1ad[outer] : p->dot1q[outer];
    return s ? s - 1u : kInvalidIf;
  }
  const uint32_t key = VlanParent::qinq_key(dot1ad, outer, uint16_t(inner));
  for (auto& e : p->qinq)
    if (e.first == key) return e.second;
  return kInvalidIf;
}

// Parent's match table without sub (or with it added).
std::shared_ptr<const VlanParent> with_sub(const VlanTable& vt, const SubIf& s, uint32_t sub, bool add) {
  auto p = vt.parent[s.parent] ? std::make_shared<VlanParent>(*vt.parent[s.parent]) : std::make_shared<VlanParent>();
  if (s.n_tags == 1) {
    uint16_t& slot = s.dot1ad ? p->dot1ad[s.outer] : p->dot1q[s.outer];
    slot = add ? uint16_t(sub + 1) : 0;
  } else {
    const uint32_t key = VlanParent::qinq_key(s.dot1ad, s.outer, s.inner);
    p->qinq.erase(std::remove_if(p->qinq.begin(), p->qinq.end(), [&](auto& e) { return e.first == key; }), p->qinq.end());
    if (add) {
      p->qinq.emplace_back(key, sub);
      std::sort(p->qinq.begin(), p->qinq.end());
    }
  }
  return p;
}

bool parent_has_subs(const VlanTable& vt, uint32_t parent) {
  for (uint32_t i = 0; i < kMaxInterfaces; ++i)
    if (vt.sub[i].n_tags && vt.sub[i].parent == parent) return true;
  return false;
}

std::string tag_json(const uint8_t* t) {
  const bool ad = t[0] == 0x88 && t[1] == 0xa8;
  return std::string("{\"type\":\"") + (ad ? "dot1ad" : "dot1q") + "\",\"vlan\":" + std::to_string(((t[2] & 0x0f) << 8) | t[3]) + "}";
}

}  // namespace

void vlan_interface_deleted(uint32_t if_index) {
  L2Runtime& rt = live_runtime();
  const VlanTable& vt = *rt.vlans.get();
  // A parent takes its sub-interfaces along.
  std::vector<uint32_t> subs;
  for (uint32_t i = 0; i < kMaxInterfaces; ++i)
    if (vt.sub[i].n_tags && vt.sub[i].parent == if_index) subs.push_back(i);
  for (uint32_t s : subs)
    if (Engine::get().interface(s)) Engine::get().delete_interface(s);
  const SubIf s = rt.vlans.get()->sub[if_index];
  if (!s.n_tags) return;
  change_vlans([&](VlanTable& t) {
    t.parent[s.parent] = with_sub(t, s, if_index, false);
    t.sub[if_index] = SubIf();
    if (!parent_has_subs(t, s.parent)) t.parent[s.parent].reset();
  });
  if (!rt.vlans.get()->parent[s.parent])
    Engine::get().update_runtime(s.parent, [](IfRuntime& r) { r.flags &= uint8_t(~kIfHasSubInterfaces); });
}

// vlanSubifCreate({parent, outerVlan, innerVlan?, type?: 'dot1q'|'dot1ad', name?}) -> index
QUIVER_NAPI(vlanSubifCreate) {
  Napi::Object o = arg_object(info, 0, "subInterface");
  Engine& e = Engine::get();
  L2Runtime& rt = live_runtime();
  if (!has_key(o, "parent")) throw std::runtime_error("parent: a sub-interface needs a parent interface");
  Interface& parent = interface_arg(o.Get("parent"), "parent");
  const std::string type = opt_string(o, "type", "dot1q");
  if (type != "dot1q" && type != "dot1ad") throw std::runtime_error("type: '" + type + "' is not dot1q or dot1ad");
  if (!has_key(o, "outerVlan")) throw std::runtime_error("outerVlan: a sub-interface needs an outer VLAN id");
  if (has_key(o, "exactMatch") && !opt_bool(o, "exactMatch", true))
    throw std::runtime_error("exactMatch: only exact-match sub-interfaces are supported");
  SubIf s;
  s.parent = parent.index;
  s.dot1ad = type == "dot1ad";
  s.outer = vid_arg(o, "outerVlan");
  s.n_tags = 1;
  if (has_key(o, "innerVlan")) {
    s.inner = vid_arg(o, "innerVlan");
    s.n_tags = 2;
  }
  const VlanTable& vt = *rt.vlans.get();
  if (vt.sub[parent.index].n_tags) throw std::runtime_error("parent: '" + parent.name + "' is itself a sub-interface");
  if (is_bvi(parent)) throw std::runtime_error("parent: '" + parent.name + "' is a BVI, which has no wire to tag");
  const uint32_t clash = matching_sub(vt, parent.index, s.dot1ad, s.outer, s.n_tags > 1 ? int(s.inner) : -1);
  if (clash != kInvalidIf) {
    Interface* c = e.interface(clash);
    throw std::runtime_error(std::string(s.n_tags > 1 ? "innerVlan" : "outerVlan") + ": '" + (c ? c->name : "?") +
                             "' already matches these tags on '" + parent.name + "'");
  }
  std::string name = opt_string(o, "name", "");
  if (name.empty()) {
    name = parent.name + "." + std::to_string(s.outer);
    if (s.n_tags > 1) (name += ".") += std::to_string(s.inner);
  }
  put_tag(s.tags, s.dot1ad, s.outer);
  if (s.n_tags > 1) put_tag(s.tags + 4, false, s.inner);
  Interface& sub = e.create_interface(name, "vlan-output", std::make_unique<SubIfOps>(), parent.mac, parent.mtu);
  change_vlans([&](VlanTable& t) {
    t.parent[s.parent] = with_sub(t, s, sub.index, true);
    t.sub[sub.index] = s;
  });
  e.update_runtime(sub.index, [&](IfRuntime& r) { r.parent = parent.index; });
  e.update_runtime(parent.index, [](IfRuntime& r) { r.flags |= kIfHasSubInterfaces; });
  return Napi::Number::New(info.Env(), sub.index);
}

// vlanTagRewrite(interface, {op, vlans?, type?}): op is disable | pop-1 | pop-2 | push-1 |
// push-2 | translate-1-1 | translate-1-2 | translate-2-1 | translate-2-2; vlans are the tags
// pushed (outermost first), type the outer pushed tag's TPID (inner tags are dot1q).
QUIVER_NAPI(vlanTagRewrite) {
  Interface& intf = interface_arg(info[0], "interface");
  Napi::Object o = arg_object(info, 1, "tagRewrite");
  L2Runtime& rt = live_runtime();
  const std::string op = opt_string(o, "op", "");
  const SubIf& s = rt.vlans.get()->sub[intf.index];
  uint32_t pop = 0, push = 0;
  if (op == "disable") {
  } else if (op == "pop-1" || op == "pop-2") {
    pop = op == "pop-1" ? 1 : 2;
  } else if (op == "push-1" || op == "push-2") {
    push = op == "push-1" ? 1 : 2;
  } else if (op.size() == 13 && op.compare(0, 10, "translate-") == 0 && (op[10] == '1' || op[10] == '2') && op[11] == '-' &&
             (op[12] == '1' || op[12] == '2')) {
    pop = uint32_t(op[10] - '0');
    push = uint32_t(op[12] - '0');
  } else {
    throw std::runtime_error("op: '" + op + "' is not disable, pop-1, pop-2, push-1, push-2 or translate-{1,2}-{1,2}");
  }
  // Popping (and translating) needs tags the sub-interface is known to carry: its egress
  // rewrite puts exactly those back.
  if (pop > s.n_tags)
    throw std::runtime_error("op: " + op + " needs a sub-interface with " + std::to_string(pop) + " tag(s); '" + intf.name + "' has " +
                             std::to_string(s.n_tags));
  std::vector<uint16_t> vlans;
  if (has_key(o, "vlans")) {
    if (!o.Get("vlans").IsArray()) throw std::runtime_error("vlans: must be an array of VLAN ids");
    Napi::Array a = o.Get("vlans").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string at = "vlans[" + std::to_string(i) + "]";
      if (!a.Get(i).IsNumber()) throw std::runtime_error(at + ": must be a number");
      const double v = a.Get(i).As<Napi::Number>().DoubleValue();
      if (v < 1 || v > 4094 || v != double(uint32_t(v))) throw std::runtime_error(at + ": " + std::to_string(v) + " is outside 1..4094");
      vlans.push_back(uint16_t(v));
    }
  }
  if (vlans.size() != push)
    throw std::runtime_error("vlans: " + op + " takes " + std::to_string(push) + " VLAN id(s), got " + std::to_string(vlans.size()));
  const std::string type = opt_string(o, "type", "dot1q");
  if (type != "dot1q" && type != "dot1ad") throw std::runtime_error("type: '" + type + "' is not dot1q or dot1ad");
  if (has_key(o, "type") && !push) throw std::runtime_error("type: " + op + " pushes no tag");
  TagOp in, out;
  in.pop = uint8_t(pop);
  in.push = uint8_t(push);
  for (uint32_t k = 0; k < push; ++k) put_tag(in.tags + 4 * k, k == 0 && type == "dot1ad", vlans[k]);
  // The inverse: pop what was pushed, push back the sub-interface's own outermost tags.
  out.pop = uint8_t(push);
  out.push = uint8_t(pop);
  std::memcpy(out.tags, s.tags, 4 * pop);
  // A rewrite must never be skipped: frames stop taking the direct path to l2-fwd (and every
  // worker has let go of the table that allowed it) before the rewrite is published.
  Engine& e = Engine::get();
  if (in.active() && (e.runtime_table().entry[intf.index].flags & kIfL2Direct)) {
    e.update_runtime(intf.index, [](IfRuntime& r) { r.flags &= uint8_t(~kIfL2Direct); });
    e.epochs().synchronize();
  }
  change_ifs([&](L2IfTable& t) {
    t.entry[intf.index].in = in;
    t.entry[intf.index].out = out;
  });
  sync_l2_direct(intf.index);
  return info.Env().Undefined();
}

// l2InterfaceConfig(interface): {bridgeDomain, splitHorizonGroup, learn, bvi, tagRewrite, subInterface}
QUIVER_NAPI(l2InterfaceConfig) {
  Interface& intf = interface_arg(info[0], "interface");
  L2Runtime& rt = live_runtime();
  const L2If& e = rt.ifs.get()->entry[intf.index];
  const BdTable& bds = *rt.bds.get();
  std::string j = "{\"bridgeDomain\":" + ((e.flags & kL2Member) ? std::to_string(bds.bd[e.bd].id) : std::string("null")) +
                  ",\"splitHorizonGroup\":" + std::to_string(e.shg) + ",\"learn\":" + ((e.flags & kL2Learn) ? "true" : "false") +
                  ",\"bvi\":" + ((e.flags & kL2Bvi) ? "true" : "false") + ",\"tagRewrite\":";
  if (!e.in.active()) {
    j += "null";
  } else {
    const std::string op = !e.in.push ? "pop-" + std::to_string(e.in.pop)
                           : !e.in.pop ? "push-" + std::to_string(e.in.push)
                                       : "translate-" + std::to_string(e.in.pop) + "-" + std::to_string(e.in.push);
    j += "{\"op\":\"" + op + "\",\"push\":[";
    for (uint32_t k = 0; k < e.in.push; ++k) (j += k ? "," : "") += tag_json(e.in.tags + 4 * k);
    j += "],\"egressPush\":[";
    for (uint32_t k = 0; k < e.out.push; ++k) (j += k ? "," : "") += tag_json(e.out.tags + 4 * k);
    j += "]}";
  }
  return json_value(info.Env(), j + "}");
}

}  // namespace l2
}  // namespace quiver
