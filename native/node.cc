#include "node.h"

namespace quiver {

std::vector<NodeRegistration>& node_registry() {
  static std::vector<NodeRegistration> r;
  return r;
}
std::vector<ExtraArc>& extra_arc_registry() {
  static std::vector<ExtraArc> r;
  return r;
}

}  // namespace quiver
