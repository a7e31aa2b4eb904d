// Benchmarks are not tests; this only proves each one still runs end to end (short --smoke).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';

const root = packageRoot();
// Asynchronously: a benchmark blocking this worker's event loop for a minute makes vitest's
// RPC to it time out ("Timeout calling onTaskUpdate"), which fails the run.
async function smoke(name: string): Promise<Record<string, unknown>> {
  await new Promise<void>((ok, fail) =>
    execFile('node', [join(root, 'dist/perf/run.js'), name, '--smoke'], { cwd: root, timeout: 120_000 }, (e) => (e ? fail(e) : ok())),
  );
  return JSON.parse(readFileSync(join(root, 'perf/results', `${name}.smoke.json`), 'utf8'));
}

/** The memif phase of a routing scenario: the xconnect baseline and each route count forwarded, with the node path. */
function expectRoutedOverMemif(r: Record<string, unknown>, fam: 'ip4' | 'ip6'): void {
  const m = r.memif as Record<string, { mppsMedian: number; returnedMppsMedian: number; pathRatio?: number; clocksPerPacket: object }>;
  expect(Object.keys(m).sort()).toEqual(['l2xc', 'routes1', 'routes10000']);
  for (const [k, row] of Object.entries(m)) {
    expect(row.mppsMedian, k).toBeGreaterThan(0);
    expect(row.returnedMppsMedian, k).toBeGreaterThan(0);
    if (k === 'l2xc') continue;
    expect(row.pathRatio, k).toBeGreaterThan(0);
    expect(Object.keys(row.clocksPerPacket)).toEqual(expect.arrayContaining(['memif-input', `${fam}-lookup`, 'memif-tx']));
  }
}

describe('benchmark smoke', () => {
  it('l2xc runs and reports Mpps and clocks per node', async () => {
    const r = await smoke('l2xc');
    expect(r.mppsMedian).toBeGreaterThan(0);
    expect(Object.keys(r.clocksPerPacket as object)).toEqual(expect.arrayContaining(['ethernet-input', 'l2-xconnect', 'pg-input']));
  });

  it('api runs autocannon on the management socket and reports requests/s and latency per case', async () => {
    const r = await smoke('api');
    expect(r.forwardingMppsNoApiLoad).toBeGreaterThan(0);
    for (const c of ['show interface', 'show runtime', 'set interface mtu (apply)']) {
      const row = r[c] as { requestsPerSecond: number; latencyMs: { p50: number; p99: number }; forwardingMpps: number };
      expect(row.requestsPerSecond, c).toBeGreaterThan(0);
      expect(row.latencyMs.p99, c).toBeGreaterThanOrEqual(row.latencyMs.p50);
      // A rate, not a speed assertion: on a loaded 2-core machine a 1 s window can starve the worker.
      expect(row.forwardingMpps, c).toBeGreaterThanOrEqual(0);
    }
  });

  it('l2bd runs over pg and over memif with every MAC learned and reports clocks per node and the ratio to the xconnect path', async () => {
    const r = (await smoke('l2bd')) as {
      mppsMedian: number;
      macs: Record<string, { learned: number; ratioToL2xc: number; clocksPerPacket: object }>;
      memif: Record<string, { learned: number; mppsMedian: number; returnedMppsMedian: number; ratioToXconnect?: number; clocksPerPacket: object }>;
      memifPaired: { ratioMedian: number; sessions: { learned: number; ratio: number; mpps: Record<string, number>; bridgeClocks: object; xconnectClocks: object }[] };
    };
    expect(Object.keys(r.memif)).toEqual(['2', '1000', '100000', 'xconnect']);
    // The paired session: the bridge phase learned every station; each phase forwarded.
    expect(r.memifPaired.ratioMedian).toBeGreaterThan(0);
    for (const x of r.memifPaired.sessions) {
      expect(x.learned).toBe(100000);
      for (const [phase, mpps] of Object.entries(x.mpps)) expect(mpps, phase).toBeGreaterThan(0);
      expect(Object.keys(x.bridgeClocks)).toEqual(expect.arrayContaining(['memif-input', 'l2-fwd', 'memif-tx']));
      expect(Object.keys(x.bridgeClocks)).not.toContain('l2-xconnect');
      expect(Object.keys(x.xconnectClocks)).toEqual(expect.arrayContaining(['memif-input', 'l2-xconnect', 'memif-tx']));
      expect(Object.keys(x.xconnectClocks)).not.toContain('l2-fwd');
    }
    for (const [n, m] of Object.entries(r.memif)) {
      expect(m.mppsMedian, n).toBeGreaterThan(0);
      expect(m.returnedMppsMedian, n).toBeGreaterThan(0);
      if (n === 'xconnect') continue;
      expect(m.learned, n).toBe(Number(n));
      expect(m.ratioToXconnect, n).toBeGreaterThan(0);
      expect(Object.keys(m.clocksPerPacket)).toEqual(expect.arrayContaining(['memif-input', 'l2-fwd', 'memif-tx']));
    }
    expect(r.mppsMedian).toBeGreaterThan(0);
    expect(Object.keys(r.macs)).toEqual(['2', '1000', '100000', '200000']);
    for (const [n, m] of Object.entries(r.macs)) {
      expect(m.learned).toBe(Number(n));
      expect(m.ratioToL2xc).toBeGreaterThan(0);
      // Plain members: ethernet-input hands frames to l2-fwd, which hands them to the tx node.
      expect(Object.keys(m.clocksPerPacket)).toEqual(expect.arrayContaining(['ethernet-input', 'l2-fwd', 'pg-output']));
      expect(Object.keys(m.clocksPerPacket)).not.toEqual(expect.arrayContaining(['interface-output']));
      expect(Object.keys(m.clocksPerPacket)).not.toEqual(expect.arrayContaining(['l2-input']));
      expect(Object.keys(m.clocksPerPacket)).not.toEqual(expect.arrayContaining(['l2-output']));
    }
  });

  it('veth runs trafgen through af_xdp, af_packet, testpmd on af_xdp and a Linux bridge and reports Mpps and ratios', async () => {
    const r = (await smoke('veth')) as { mppsMedian: Record<string, number>; ratioToBridge: Record<string, number> };
    for (const p of ['af_xdp', 'af_packet', 'testpmd_af_xdp', 'bridge']) expect(r.mppsMedian[p], p).toBeGreaterThan(0);
    expect(r.ratioToBridge.af_xdp).toBeGreaterThan(0);
  });

  it('ip4 routes random destinations over pg and memif beside l2xc and reports Mpps, clocks per node and ratios', async () => {
    const r = await smoke('ip4');
    expectRoutedOverMemif(r, 'ip4');
    for (const k of ['routes1', 'routes10000']) {
      const row = r[k] as { mppsMedian: number; chainRatio: number; clocksPerPacket: Record<string, number> };
      expect(row.mppsMedian, k).toBeGreaterThan(0);
      expect(row.chainRatio, k).toBeGreaterThan(0);
      expect(Object.keys(row.clocksPerPacket)).toEqual(expect.arrayContaining(['ip4-input', 'ip4-lookup', 'ip4-rewrite']));
    }
  });

  it('ip6 routes into real prefixes over pg and memif beside l2xc and reports Mpps and clocks per node', async () => {
    const r = await smoke('ip6');
    expectRoutedOverMemif(r, 'ip6');
    for (const k of ['routes1', 'routes10000']) {
      const row = r[k] as { mppsMedian: number; clocksPerPacket: Record<string, number> };
      expect(row.mppsMedian, k).toBeGreaterThan(0);
      expect(Object.keys(row.clocksPerPacket)).toEqual(expect.arrayContaining(['ip6-input', 'ip6-lookup', 'ip6-rewrite']));
    }
  });

  it('fib-load programs routes through the TypeScript API and reports time and FIB memory', async () => {
    const r = await smoke('fib-load');
    expect(r.routes).toBe(100000);
    expect(r.oneCallMsMedian).toBeGreaterThan(0);
    expect(r.fibBytesMedian).toBeGreaterThan(0);
  });
  it('memif runs: Quiver and testpmd io Mpps, clocks per node, library rate', async () => expect(await smoke('memif')).toMatchObject({ quiverMpps: expect.any(Number), testpmdIoMpps: expect.any(Number), clocksPerPacket: expect.objectContaining({ 'memif-input': expect.any(Number), 'memif-tx': expect.any(Number) }), library: { rxMpps: expect.any(Number), txMpps: expect.any(Number), rxBufferMpps: expect.any(Number) } }), 150_000);

  it('dpdk runs Quiver and testpmd over net_null and net_memif and reports both', async () => {
    const r = (await smoke('dpdk')) as unknown as Record<string, { quiver: { mppsMedian: number; nodeClocks: object }; testpmd: { mppsMedian: number; cyclesPerPacket: number } }>;
    for (const k of ['null', 'memif']) {
      expect(r[k]!.quiver.mppsMedian, k).toBeGreaterThan(0);
      expect(r[k]!.testpmd.mppsMedian, k).toBeGreaterThan(0);
      expect(r[k]!.testpmd.cyclesPerPacket, k).toBeGreaterThan(0);
      expect(Object.keys(r[k]!.quiver.nodeClocks), k).toEqual(expect.arrayContaining(['dpdk-input', 'dpdk-tx', 'l2-xconnect']));
    }
  });

  it('acl runs the routed path without and with ACLs and reports Mpps, ACL clocks and the 10k build time', async () => {
    const r = (await smoke('acl')) as { cases: Record<string, { mppsMedian: number; aclClocksPerPacket: number; sessions: number; drops: number }>; build10k: { endToEndMs: number; nativeMs: number } };
    expect(r.cases['no-acl']!.mppsMedian).toBeGreaterThan(0);
    expect(r.cases['no-acl']!.aclClocksPerPacket).toBe(0);
    for (const c of ['stateless-10k', 'stateful-10k-flows']) {
      expect(r.cases[c]!.mppsMedian, c).toBeGreaterThan(0);
      expect(r.cases[c]!.aclClocksPerPacket, c).toBeGreaterThan(0);
      expect(r.cases[c]!.drops, c).toBe(0); // the last rule permits: nothing may be dropped
    }
    expect(r.cases['stateful-10k-flows']!.sessions).toBe(10000);
    expect(r.build10k.nativeMs).toBeGreaterThan(0);
    expect(r.build10k.endToEndMs).toBeGreaterThanOrEqual(r.build10k.nativeMs);
  });

  it('vxlan runs encap/decap over pg beside the bridge and over veth beside the kernel VTEP, and reports Mpps, clocks and ratios', async () => {
    const r = await smoke('vxlan');
    expect((r.bridge as { mppsMedian: number }).mppsMedian).toBeGreaterThan(0);
    // Each path ran through the nodes it names: with the shortcuts, no lookup or rewrite
    // (encap) and no lookup or local delivery (decap); without them, both.
    for (const fam of ['ip4', 'ip6'] as const) {
      const v = fam[2];
      const nodes = (c: string) => {
        const row = r[c] as { mppsMedian: number; chainClocks: number; clocksPerPacket: Record<string, number> };
        expect(row.mppsMedian, c).toBeGreaterThan(0);
        expect(row.chainClocks, c).toBeGreaterThan(0);
        return Object.keys(row.clocksPerPacket);
      };
      const encapFast = nodes(`${fam} encap shortcuts`);
      // ... and no interface-output either: l2-fwd and encap hand packets to the tx nodes.
      expect(encapFast).toContain(`vxlan${v}-encap`);
      expect(encapFast).not.toContain('interface-output');
      expect(encapFast).not.toContain(`${fam}-lookup`);
      expect(encapFast).not.toContain(`${fam}-rewrite`);
      expect(nodes(`${fam} encap lookup`)).toEqual(expect.arrayContaining([`vxlan${v}-encap`, `${fam}-lookup`, `${fam}-rewrite`]));
      const decapFast = nodes(`${fam} decap shortcuts`);
      expect(decapFast).toContain(`${fam}-vxlan-bypass`);
      for (const n of [`${fam}-lookup`, `${fam}-local`, `vxlan${v}-input`]) expect(decapFast).not.toContain(n);
      expect(nodes(`${fam} decap lookup`)).toEqual(expect.arrayContaining([`${fam}-lookup`, `${fam}-local`, `vxlan${v}-input`]));
      for (const m of ['shortcuts', 'lookup']) expect((r[`${fam} added (${m})`] as { vxlanNodesClocks: number }).vxlanNodesClocks, `${fam} ${m}`).toBeGreaterThan(0);
    }
    for (const d of ['veth decap', 'veth encap']) {
      const row = r[d] as { quiverMpps: number; kernelMpps: number; ratio: number };
      expect(row.quiverMpps, d).toBeGreaterThan(0);
      expect(row.kernelMpps, d).toBeGreaterThan(0);
    }
  });

  it('cni runs quiver-cni ADD and DEL for tap and memif pods and reports median and p99 times', async () => {
    const r = (await smoke('cni')) as { pods: number } & Record<'tap' | 'memif', Record<'add' | 'del', { median: number; p99: number }>>;
    expect(r.pods).toBe(5);
    for (const t of ['tap', 'memif'] as const)
      for (const op of ['add', 'del'] as const) {
        expect(r[t][op].median, `${t} ${op}`).toBeGreaterThan(0);
        expect(r[t][op].p99, `${t} ${op}`).toBeGreaterThanOrEqual(r[t][op].median);
      }
  });
});
