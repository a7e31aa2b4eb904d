// Characterizes the machine a benchmark ran on: TSC ticks per dependent load over working sets
// from 16 KiB to 256 MiB (a pointer chase through a random cycle of cache lines), and ticks per
// dependent add (1.0 when the core runs at the TSC's rate). Shared VMs change between runs;
// print this beside figures that are to be compared across sessions.
//   gcc -O2 -o /tmp/memlat perf/tools/memlat.c && taskset -c 1 /tmp/memlat
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

int main(void) {
  unsigned long x = 1, t0 = __rdtsc();
  for (long i = 0; i < 1000000000L; i++) __asm__ volatile("add $1, %0" : "+r"(x));
  printf("dependent add: %.2f ticks\n", (double)(__rdtsc() - t0) / 1e9);
  srand(1);
  for (size_t kb = 16; kb <= 262144; kb *= 4) {
    const size_t n = kb * 1024 / 64;
    size_t* a = aligned_alloc(64, n * 64);
    size_t* order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
      const size_t j = (size_t)rand() % (i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (size_t i = 0; i < n; i++) a[order[i] * 8] = order[(i + 1) % n] * 8;
    size_t p = 0;
    const long loads = 20000000;
    t0 = __rdtsc();
    for (long i = 0; i < loads; i++) p = a[p];
    printf("%9zu KiB: %6.1f ticks/load%s\n", kb, (double)(__rdtsc() - t0) / loads, p == 1 ? " " : "");
    free(a);
    free(order);
  }
  return 0;
}
