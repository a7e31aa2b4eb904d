// Standalone checks of the MAC table (graph/l2/l2_fib.cc), built and run by mac-table.test.ts:
// fills a small table with random keys until an insert fails, erases a random half, inserts
// again, and after every phase checks the invariants a reader depends on. Prints one JSON line.
//   every key inserted and not erased is found (writer find() and reader lookup()) with its value;
//   no erased or never-inserted key is found;
//   each bucket's `spilled` equals the number of entries whose home it is that live elsewhere,
//   and every entry lives in its home or its alternative bucket.
#include <cstdio>
#include <algorithm>
#include <random>
#include <unordered_map>
#include <vector>

#include "../../graph/l2/l2_fib.h"

using quiver::l2::FibBucket;
using quiver::l2::MacLayout;
using quiver::l2::MacTable;

static std::mt19937_64 rng(7);

static uint64_t random_key() {
  for (;;) {
    const uint64_t k = (rng() & 0xffffffffffffull) | (uint64_t(1 + rng() % 3) << 48);
    if (k) return k;
  }
}

static bool check(const MacTable& t, const std::unordered_map<uint64_t, uint32_t>& want, const char* phase) {
  const MacLayout& l = *t.layout();
  std::vector<uint32_t> spilled(l.mask + 1, 0);
  size_t entries = 0;
  for (uint32_t i = 0; i <= l.mask; ++i)
    for (uint32_t s = 0; s < MacTable::kWays; ++s) {
      const uint64_t k = l.buckets[i].key[s].load();
      if (!k) continue;
      ++entries;
      const uint32_t h = l.home(k), a = l.alt(k);
      if (i != h && i != a) return fprintf(stderr, "%s: key in neither of its buckets\n", phase), false;
      if (i != h) ++spilled[h];
    }
  for (uint32_t i = 0; i <= l.mask; ++i)
    if (l.buckets[i].spilled.load() != spilled[i])
      return fprintf(stderr, "%s: bucket %u spilled %u, counted %u\n", phase, i, l.buckets[i].spilled.load(), spilled[i]), false;
  if (entries != want.size() || t.size() != want.size())
    return fprintf(stderr, "%s: %zu entries, size %u, want %zu\n", phase, entries, t.size(), want.size()), false;
  for (const auto& [k, v] : want) {
    FibBucket* where;
    uint32_t slot;
    MacTable::Pos p;
    if (l.lookup(k, &where, &slot) != v || !t.find(k, &p) || t.value(p) != v)
      return fprintf(stderr, "%s: key not found\n", phase), false;
  }
  for (int i = 0; i < 10000; ++i) {
    const uint64_t k = random_key();
    FibBucket* where;
    uint32_t slot;
    if (!want.count(k) && l.lookup(k, &where, &slot) != 0) return fprintf(stderr, "%s: phantom key\n", phase), false;
  }
  return true;
}

int main() {
  // 1024 buckets (4096 slots) from the start, no growth: how full displacement lets it get.
  MacTable t;
  t.create(nullptr, 10, 10);
  std::unordered_map<uint64_t, uint32_t> want;
  uint32_t value = 0x80000000u;
  auto fill = [&]() {
    for (;;) {
      const uint64_t k = random_key();
      if (want.count(k)) continue;
      MacTable::Pos p;
      if (!t.insert(k, ++value, 1, &p)) return;
      if (t.key(p) != k || t.value(p) != value) return;
      want[k] = value;
    }
  };
  fill();
  const double fill_load = double(want.size()) / (t.buckets() * MacTable::kWays);
  bool ok = check(t, want, "filled");
  // Erase a random half, then fill again.
  std::vector<uint64_t> keys;
  for (const auto& [k, v] : want) keys.push_back(k);
  std::shuffle(keys.begin(), keys.end(), rng);
  for (size_t i = 0; i < keys.size() / 2; ++i) {
    MacTable::Pos p;
    if (!t.find(keys[i], &p)) ok = false;
    else t.erase(p);
    want.erase(keys[i]);
  }
  ok = ok && check(t, want, "half erased");
  fill();
  const double refill_load = double(want.size()) / (t.buckets() * MacTable::kWays);
  ok = ok && check(t, want, "refilled");
  // Growth: from 64 buckets up to 4096, doubling before half full.
  MacTable g;
  g.create(nullptr, 12, 6);
  std::unordered_map<uint64_t, uint32_t> gw;
  for (int i = 0; i < 8000; ++i) {
    const uint64_t k = random_key();
    if (gw.count(k)) continue;
    MacTable::Pos p;
    if (!g.insert(k, ++value, 1, &p)) break;
    gw[k] = value;
  }
  ok = ok && check(g, gw, "grown");
  printf("{\"ok\":%s,\"fillLoad\":%.3f,\"refillLoad\":%.3f,\"grownEntries\":%zu,\"grownBuckets\":%u,\"grows\":%u}\n",
         ok ? "true" : "false", fill_load, refill_load, gw.size(), g.buckets(), g.grows());
  return ok ? 0 : 1;
}
