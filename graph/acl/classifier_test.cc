// Standalone self-check and timing of the classifier, outside the addon (never built into it):
//   g++ -std=gnu++20 -O3 -march=native graph/acl/classifier.cc graph/acl/classifier_test.cc -o /tmp/acl-cls && /tmp/acl-cls
// Random rule sets against a linear scan of the same boxes; then lookups/s and clocks/lookup.
// The real differential test is test/acl/differential.test.ts (independent TypeScript reference).
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "classifier.h"

using namespace quiver::acl;

static std::mt19937_64 rng(42);
static uint32_t rnd(uint32_t n) { return uint32_t(rng() % n); }

static bool g_overlap = true;  // addresses from a tiny space: many rules cover each packet

// ClassBench-ACL-like: destinations mostly narrow, sources varied, TCP/UDP mostly, destination
// port exact or a range, source port mostly any; a rule matching everything is rare.
static Rule random_rule(int family) {
  Rule r;
  r.action = Action(rnd(3));
  r.ip_version = uint8_t(family);
  const int max = family == 4 ? 32 : 128;
  const int src_lens[] = {0, 8, 16, 16, 24, 24, 28, max, max, max};
  const int dst_lens[] = {16, 24, 24, 28, 30, max, max, max, max, max};
  r.src_len = uint8_t(rnd(10) ? src_lens[rnd(10)] : rnd(max + 1));
  r.dst_len = uint8_t(rnd(10) ? dst_lens[rnd(10)] : rnd(max + 1));
  if (family == 6) {
    if (r.src_len > 32 && r.src_len < max) r.src_len = uint8_t(r.src_len + 32);
    if (r.dst_len > 32 && r.dst_len < max) r.dst_len = uint8_t(r.dst_len + 32);
  }
  // Overlapping: every address in a tiny space. Spread: addresses from a pool of 64 "sites"
  // (the first 16 bits), as real networks have.
  const uint32_t site_s = rnd(64), site_d = rnd(64);
  for (int i = 0; i < 16; ++i) {
    if (g_overlap) {
      r.src[i] = uint8_t(i < 2 ? 198 + rnd(2) : rnd(4));
      r.dst[i] = uint8_t(i < 2 ? 198 + rnd(2) : rnd(4));
    } else {
      r.src[i] = uint8_t(i < 2 ? (site_s * 2654435761u) >> (8 * i) : rnd(256));
      r.dst[i] = uint8_t(i < 2 ? (site_d * 2246822519u) >> (8 * i) : rnd(256));
    }
  }
  for (int bit = r.src_len; bit < 128; ++bit) r.src[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  for (int bit = r.dst_len; bit < 128; ++bit) r.dst[bit / 8] &= uint8_t(~(0x80u >> (bit % 8)));
  const uint8_t protos[] = {6, 6, 6, 17, 17, 1, 58, 132, 47};
  if (rnd(20)) r.proto_lo = r.proto_hi = protos[rnd(9)];
  if (r.proto_lo == 6 || r.proto_lo == 17 || r.proto_lo == 132) {
    if (rnd(3)) r.dport_lo = r.dport_hi = uint16_t(rnd(1024));
    else if (rnd(2)) { r.dport_lo = uint16_t(rnd(2000)); r.dport_hi = uint16_t(r.dport_lo + rnd(5000)); }
    if (rnd(4) == 0) { r.sport_lo = 1024; r.sport_hi = 65535; }
    if (r.proto_lo == 6 && rnd(5) == 0) { r.tcp_mask = 0x12; r.tcp_value = uint8_t(rnd(2) ? 0x02 : 0x12); }
  }
  if (r.proto_lo == 1 && rnd(2)) r.sport_lo = r.sport_hi = uint16_t(rnd(2) ? 8 : 0);
  return r;
}

template <class F>
static int check(uint32_t n_rules, uint32_t n_packets) {
  using C = Classifier<F>;
  std::vector<Rule> rules;
  for (uint32_t i = 0; i < n_rules; ++i) rules.push_back(random_rule(F::kFamily));
  C c;
  auto t0 = std::chrono::steady_clock::now();
  c.build(rules);
  const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<typename C::BoxT> boxes(n_rules);
  for (uint32_t i = 0; i < n_rules; ++i) C::rule_box(rules[i], i, boxes[i]);
  std::vector<typename C::KeyT> keys(n_packets);
  for (auto& k : keys) {
    std::memset(&k, 0, sizeof k);
    const auto& b = boxes[rnd(n_rules)];  // a point near some rule
    for (int d = 0; d < F::kDims; ++d) {
      const uint64_t span = uint64_t(b.hi[d]) - b.lo[d] + 1;
      k.v[d] = uint32_t(b.lo[d] + rng() % span);
      if (rnd(8) == 0) k.v[d] ^= 1u << rnd(d == F::kL4 ? 1 : 8);
    }
    k.v[F::kDims] = rnd(256);
  }
  int bad = 0;
  for (auto& k : keys) {
    uint32_t want = C::kNoMatch;
    for (uint32_t i = 0; i < n_rules && want == C::kNoMatch; ++i)
      if (C::box_match(boxes[i], k)) want = i;
    if (c.lookup(k) != want && bad++ < 5) fprintf(stderr, "mismatch: got %u want %u\n", c.lookup(k), want);
  }
  for (size_t i = 0; i + 4 <= keys.size(); i += 4) {
    const typename C::KeyT* kp[4] = {&keys[i], &keys[i + 1], &keys[i + 2], &keys[i + 3]};
    uint32_t out[4] = {C::kNoMatch, C::kNoMatch, C::kNoMatch, C::kNoMatch};
    c.lookup4(kp, out);
    for (int j = 0; j < 4; ++j)
      if (out[j] != c.lookup(keys[i + j]) && bad++ < 5) fprintf(stderr, "lookup4 mismatch\n");
  }
  // The machine is shared: the best of several passes is the figure least disturbed.
  uint64_t sink = 0;
  double clocks = 1e30;
  for (int pass = 0; pass < 7; ++pass) {
    const uint64_t c0 = __rdtsc();
    for (size_t i = 0; i + 4 <= keys.size(); i += 4) {
      const typename C::KeyT* kp[4] = {&keys[i], &keys[i + 1], &keys[i + 2], &keys[i + 3]};
      uint32_t out[4] = {C::kNoMatch, C::kNoMatch, C::kNoMatch, C::kNoMatch};
      c.lookup4(kp, out);
      sink += out[0] + out[1] + out[2] + out[3];
    }
    clocks = std::min(clocks, double(__rdtsc() - c0) / double(keys.size()));
  }
  const auto& s = c.stats();
  printf("ip%d %5u rules: build %.1f ms, %u trees, %u nodes, %u leaves, %u copies, depth %u, max leaf %u, %.0f KiB; "
         "%.1f clocks/lookup (lookup4) %s\n",
         F::kFamily, n_rules, build_ms, s.trees, s.nodes, s.leaves, s.rule_copies, s.max_depth, s.max_leaf, s.bytes / 1024.0,
         clocks, bad ? "MISMATCH" : "ok");
  return bad + int(sink & 0);
}

int main() {
  int bad = 0;
  for (bool overlap : {true, false}) {
  g_overlap = overlap;
  printf("%s\n", overlap ? "overlapping rules" : "spread rules");
  for (uint32_t n : {1u, 10u, 100u, 1000u, 10000u}) {
    bad += check<Family4>(n, 20000);
    bad += check<Family6>(n, 20000);
  }
  }
  return bad ? 1 : 0;
}
