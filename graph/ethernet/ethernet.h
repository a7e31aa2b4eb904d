// Flags in IfRuntime::flags owned by the ethernet feature.
#pragma once
#include <cstdint>

namespace quiver {

// Set on a parent interface that has VLAN sub-interfaces: tagged frames go to vlan-input.
constexpr uint8_t kIfHasSubInterfaces = 1u << 0;

}  // namespace quiver
