#include "clock.h"

#include <unistd.h>

namespace quiver {

double tsc_hz() {
  static const double hz = [] {
    const uint64_t t0 = monotonic_ns(), c0 = rdtsc();
    usleep(20000);
    const uint64_t t1 = monotonic_ns(), c1 = rdtsc();
    return double(c1 - c0) * 1e9 / double(t1 - t0);
  }();
  return hz;
}

}  // namespace quiver
