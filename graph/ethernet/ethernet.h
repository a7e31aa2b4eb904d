// Flags in IfRuntime::flags owned by the ethernet feature.
#pragma once
#include <cstdint>

namespace quiver {

// Set on a parent interface that has VLAN sub-interfaces: tagged frames go to vlan-input.
constexpr uint8_t kIfHasSubInterfaces = 1u << 0;
// Set (by the l2 feature) on a bridge member with no ingress tag rewrite: l2-input would only
// tag the frame with IfRuntime::bridge_domain, so while no l2-input feature is on for the
// interface ethernet-input does that itself and hands the frame straight to l2-fwd.
constexpr uint8_t kIfL2Direct = 1u << 1;

}  // namespace quiver
