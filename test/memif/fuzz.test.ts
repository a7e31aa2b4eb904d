// A short libFuzzer run of the memif harness (memif/fuzz): control messages in both roles, then
// hostile shared memory under rx/tx bursts, ASan/UBSan on, buffer and fd leaks checked per input.
// The committed seed corpus must pass first; new inputs go to a temporary directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';
import { tempDir } from './helpers.js';

const root = packageRoot();
const binary = join(root, 'build/fuzz/memif_fuzz');
const sources = ['memif/fuzz/memif_fuzz.cc', 'memif/session.cc', 'memif/session.h', 'memif/ring.h', 'memif/datapath.h',
  'memif/proto.h', 'native/pool.cc', 'native/pool.h', 'native/buffer.h'].map((f) => join(root, f));
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('memif fuzzing', () => {
  it('builds the harness with clang (libFuzzer, ASan, UBSan)', () => {
    if (!existsSync('/usr/bin/clang++')) throw new Error('clang++ is not installed: run npm test (test/setup.sh installs clang)');
    const stale = !existsSync(binary) || sources.some((s) => statSync(s).mtimeMs > statSync(binary).mtimeMs);
    if (stale) execFileSync(join(root, 'memif/fuzz/build.sh'), [], { stdio: 'pipe', timeout: 120_000 });
    expect(existsSync(binary)).toBe(true);
  }, 150_000);

  it('runs the seed corpus, every seed reaching the rings, then fuzzes for 10 s without a finding', () => {
    const corpus = join(root, 'memif/fuzz/corpus');
    const seeds = readdirSync(corpus);
    expect(seeds.length).toBeGreaterThanOrEqual(5);
    // Every seed completes a handshake and moves packets (else the fuzzer starts far from the rings).
    for (const s of seeds) {
      const r = spawnSync(binary, [join(corpus, s)], { env: { ...process.env, MEMIF_FUZZ_VERBOSE: '1' }, encoding: 'utf8' });
      expect(r.status, `${s}: ${r.stderr.slice(-500)}`).toBe(0);
      expect(r.stderr, s).toMatch(/^(server|client): connected$/m);
      expect(r.stderr, s).toMatch(/^ {2}rx: [1-9]\d* packets/m);
      expect(r.stderr, s).toMatch(/^ {2}tx: [1-9]\d* of/m);
    }
    const r = spawnSync(binary, ['-max_total_time=10', '-seed=1', `-artifact_prefix=${tmp.dir}/`, '-print_final_stats=1', tmp.dir, corpus], {
      encoding: 'utf8', timeout: 60_000,
    });
    const runs = Number(/stat::number_of_executed_units:\s+(\d+)/.exec(r.stderr)?.[1] ?? 0);
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    expect(readdirSync(tmp.dir).filter((f) => /^(crash|leak|timeout|oom)-/.test(f))).toEqual([]);
    expect(runs).toBeGreaterThan(10_000);
  }, 90_000);
});
