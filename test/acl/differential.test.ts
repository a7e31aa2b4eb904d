// The classifier against a naive linear evaluator written independently (reference.ts):
// random rule sets up to 10k rules, random packets near the rules' edges, every field, both
// families, fragments, extension headers, options, truncation. Decisions must be identical.
import { describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import { useEngine } from '../helpers/dataplane.js';
import { randomPacket, randomRule, rng } from './gen.js';
import { compileRule, evaluate } from './reference.js';

useEngine();

function compare(seed: number, nRules: number, nPackets: number) {
  const r = rng(seed);
  const rules = Array.from({ length: nRules }, () => randomRule(r));
  const name = `diff-${seed}`;
  const summary = acl.setAcl(name, rules);
  expect(summary.rules).toBe(nRules);
  const packets: Buffer[] = [];
  for (let i = 0; i < nPackets; i++) {
    const roll = r.int(10);
    // Mostly near some rule; some near the last tenth (late first matches); some anywhere;
    // some far from every prefix (misses).
    const near = roll < 6 ? rules[r.int(nRules)] : roll < 8 ? rules[nRules - 1 - r.int(Math.max(1, nRules / 10))] : undefined;
    packets.push(randomPacket(r, near, roll === 9));
  }
  const got = acl.classify(name, packets);
  const ref = rules.map(compileRule);
  const mismatches: string[] = [];
  let matched = 0, malformed = 0;
  packets.forEach((p, i) => {
    const want = evaluate(ref, p);
    if (want >= 0) matched++;
    if (want === -2) malformed++;
    if (got[i] !== want && mismatches.length < 5)
      mismatches.push(`packet ${i} ${p.toString('hex')}: classifier ${got[i]} reference ${want}` +
        (want >= 0 ? ` (${JSON.stringify(rules[want])})` : '') + (got[i]! >= 0 ? ` got ${JSON.stringify(rules[got[i]!])}` : ''));
  });
  expect(mismatches, `seed ${seed}`).toEqual([]);
  acl.deleteAcl(name);
  return { summary, packets: nPackets, matched, malformed, missed: nPackets - matched - malformed };
}

// The generator must exercise matches, misses and malformed packets, or agreement proves little.
function expectVariety(runs: ReturnType<typeof compare>[]) {
  const sum = (k: 'packets' | 'matched' | 'malformed' | 'missed') => runs.reduce((a, x) => a + x[k], 0);
  expect(sum('matched')).toBeGreaterThan(sum('packets') / 4);
  expect(sum('missed')).toBeGreaterThan(sum('packets') / 100);
  expect(sum('malformed')).toBeGreaterThan(sum('packets') / 100);
}

describe('classifier vs a naive linear reference', () => {
  it('agrees on small rule sets (1 to 100 rules, many seeds)', () => {
    const runs = [];
    for (let seed = 1; seed <= 30; seed++) runs.push(compare(seed, [1, 3, 10, 30, 100][seed % 5]!, 1500));
    expectVariety(runs);
  });
  it('agrees on 1000 rules', () => {
    expectVariety([compare(101, 1000, 10000), compare(102, 1000, 10000)]);
  });
  it('agrees on 10k rules', () => {
    const run = compare(1001, 10000, 8000);
    expectVariety([run]);
    const s = run.summary;
    console.log(`10k random rules: built in ${s.buildMs.toFixed(1)} ms; ip4 ${JSON.stringify(s.ip4)} ip6 ${JSON.stringify(s.ip6)}`);
  });
  it('agrees on a second 10k-rule set with a different seed', () => {
    expectVariety([compare(1002, 10000, 8000)]);
  });
});
