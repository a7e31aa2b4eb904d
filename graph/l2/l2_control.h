// Control side of the l2 feature: runtime lifecycle, copy-on-write updates of the published
// tables, and MAC table operations run on the table's writer (worker 0). Call with the engine's
// control lock held (every N-API entry point holds it).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <napi.h>

#include "../../native/interface.h"
#include "l2.h"

namespace quiver {
namespace l2 {

// The runtime, or throws "engine: not running".
L2Runtime& live_runtime();

// Copy-on-write changes, published to the workers.
void change_bds(const std::function<void(BdTable&)>& fn);
void change_ifs(const std::function<void(L2IfTable&)>& fn);
void change_vlans(const std::function<void(VlanTable&)>& fn);

// Runs fn on the MAC table's writer thread and waits for it.
void on_writer(const std::function<void(L2Runtime&)>& fn);

// Writer side: removes the entries matching pred; returns how many. Learned entries are
// discounted from their bridge domain's count.
uint32_t fib_flush(L2Runtime& rt, const std::function<bool(uint64_t key, uint32_t value)>& pred);
// Writer side: adds or replaces a static entry. False when the table is full.
bool fib_set_static(L2Runtime& rt, uint64_t key, uint32_t value, uint32_t now);

// Bridge domain index of an id, 0 when none.
uint16_t bd_index_of(const BdTable& t, uint32_t id);

// Takes an interface out of its bridge domain (its learned and static MACs go too); no-op
// when it is not a member. Used by member removal, xconnect and interface deletion.
void bridge_detach(uint32_t if_index);

// Sets or clears kIfL2Direct (graph/ethernet/ethernet.h) from the interface's L2 state: a
// bridge member (not the BVI) without ingress tag rewrite. Call after changing either.
void sync_l2_direct(uint32_t if_index);

// BVI hooks.
bool is_bvi(const Interface& intf);
void bvi_mac_changing(Interface& intf, const uint8_t* new_mac);

// VLAN hooks for interface deletion.
void vlan_interface_deleted(uint32_t if_index);

std::string bd_key_mac(uint64_t key);  // "aa:bb:cc:dd:ee:ff" of a MAC table key

// N-API helpers of the l2 entry points.
Napi::Value json_value(Napi::Env env, const std::string& json);  // JSON text -> JS value
bool has_key(const Napi::Object& o, const char* key);              // present and not undefined

}  // namespace l2
}  // namespace quiver
