// Time on the packet path is the TSC; it is calibrated once against CLOCK_MONOTONIC.
#pragma once
#include <cstdint>
#include <ctime>
#include <x86intrin.h>

namespace quiver {

inline uint64_t rdtsc() { return __rdtsc(); }

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// TSC ticks per second, measured over ~20 ms the first time it is asked.
double tsc_hz();
inline uint64_t ns_to_tsc(uint64_t ns) { return uint64_t(double(ns) * tsc_hz() / 1e9); }

}  // namespace quiver
