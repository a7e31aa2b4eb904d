// af_xdp with real traffic between two namespaces (veth, native XDP, two queues), and what is
// af_xdp's own: the UMEM layout (the kernel writes at slot + kDataOffset), the XDP program's
// lifecycle (BPF link gone with its process; a stale netlink-attached program replaced; a
// foreign one refused unless replaceProgram), generic mode, option errors.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import { createAfXdpInterface } from '../../src/interfaces/af_xdp.js';
import * as ifs from '../../src/interfaces/index.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { linkInfo, ping, useLab } from '../helpers/netns.js';
import { type DriverUnderTest, conformanceTests, names } from './conformance.js';

useEngine({ workers: 2 });
// Host 2 is for the program-lifecycle tests; AF_XDP needs hosts that finish their checksums.
const lab = useLab({ hosts: 3, queues: 2, offloads: 'off' });

const afXdp: DriverUnderTest = {
  driver: 'af_xdp',
  create: (_lab, h, name) => createAfXdpInterface({ host: h.quiverSide, name }),
  linuxSide: (h) => ({ name: h.quiverSide }),
  queues: 2,
  inputNode: 'af-xdp-input',
  hostTxBytesShortPerFrame: 14,
};

function xdpOn(ifname: string): { mode: number; name: string } | null {
  const x = linkInfo(ifname).xdp as { mode: number; prog?: { name: string }; attached?: { prog: { name: string } }[] } | undefined;
  if (!x) return null;
  return { mode: x.mode, name: x.prog?.name ?? x.attached?.[0]?.prog.name ?? '' };
}

describe('af_xdp', () => {
  it('attaches natively on veth, one socket per queue, UMEM = the buffer pool', async () => {
    // Runs before the conformance tests create qa/qb: checks creation details on its own pair.
    const h = lab().hosts[2]!;
    createAfXdpInterface({ host: h.quiverSide, name: 'q2', ringSize: 256 });
    const i = engine.findInterface('q2');
    expect(i.details).toMatchObject({ xdpMode: 'native', attach: 'link', ringSize: 256 });
    expect(i.rxQueues.map((q) => q.queue)).toEqual([0, 1]);
    expect(xdpOn(h.quiverSide)).toMatchObject({ mode: 1, name: 'quiver_xsk' });  // 1: XDP_ATTACHED_DRV
    // Every fill-ring slot is a pool buffer the pool counts as held: 2 queues x 256.
    expect(engine.buffers(true).held).toBe(512);
    ifs.deleteInterface('q2');
    expect(xdpOn(h.quiverSide)).toBeNull();
    expect(engine.buffers(true).held).toBe(0);
    expectNoLeak();
  });

  conformanceTests(afXdp, lab);
});

describe('af_xdp specifics', () => {
  it('receives in place: the kernel wrote each frame at slot + kDataOffset (no copy into the graph)', async () => {
    const [a, c] = [lab().hosts[0]!, lab().hosts[2]!];
    createAfXdpInterface({ host: c.quiverSide, name: 'q2', ringSize: 256 });
    ifs.setAdminState('q2', true);
    const { xconnectPair } = await import('../../graph/l2/xconnect.js');
    xconnectPair(names[0], 'q2');
    engine.traceClear();
    engine.traceAdd('af-xdp-input', 4);
    await ping(a, c, 4, 2);
    const lines = engine.traceGet().flatMap((r) => r.entries.filter((e) => e.node === 'af-xdp-input').map((e) => e.text));
    expect(lines.length).toBeGreaterThan(0);
    const dataOffset = engine.version().dataOffset;
    for (const l of lines) expect(l).toMatch(new RegExp(`at offset ${dataOffset} \\(zero copy\\)`));
    engine.traceClear();
    ifs.deleteInterface('q2');
    expectNoLeak();
  });

  const tmp = mkdtempSync(join(tmpdir(), 'qd-xdp-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

  // A second Quiver process that attaches to `host`, then is SIGKILLed (a crash).
  async function crashAfterAttach(host: string, attach: 'link' | 'netlink'): Promise<void> {
    const script = join(tmp, `child-${attach}.mjs`);
    const root = packageRoot();
    writeFileSync(script, `
import * as engine from '${root}/dist/src/engine.js';
import { createAfXdpInterface } from '${root}/dist/src/interfaces/af_xdp.js';
engine.start({ workers: 1, buffers: 4096 });
createAfXdpInterface({ host: '${host}', attach: '${attach}', ringSize: 256 });
console.log('ready');
setInterval(() => {}, 1000);
`);
    const child = spawn('node', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d) && out.includes('ready') && resolve());
      child.stderr!.on('data', (d: Buffer) => (out += d));
      child.once('exit', (code) => reject(new Error(`child exited (${code}): ${out}`)));
    });
    expect(xdpOn(host)?.name).toBe('quiver_xsk');
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  }

  it('a crash detaches a BPF-link program; a stale netlink-attached one is replaced at the next start', async () => {
    const host = lab().hosts[2]!.quiverSide;
    await crashAfterAttach(host, 'link');
    await waitFor(() => xdpOn(host) === null, 3000, 'the link to go away with its process');
    await crashAfterAttach(host, 'netlink');
    await new Promise((r) => setTimeout(r, 200));
    expect(xdpOn(host)?.name).toBe('quiver_xsk');  // netlink attachment outlives its owner
    createAfXdpInterface({ host, name: 'q2', ringSize: 256 });
    expect(String(engine.findInterface('q2').details.replaced)).toMatch(/quiver_xsk/);
    expect(engine.findInterface('q2').details.attach).toBe('link');
    ifs.deleteInterface('q2');
    expect(xdpOn(host)).toBeNull();
    expectNoLeak();
  });

  it('refuses to replace a foreign XDP program unless told to', () => {
    const host = lab().hosts[2]!.quiverSide;
    const src = join(tmp, 'foreign.c'), obj = join(tmp, 'foreign.o');
    writeFileSync(src, '__attribute__((section("xdp"), used)) int foreign_pass(void *ctx) { return 2; }\n' +
      'char _license[] __attribute__((section("license"), used)) = "GPL";\n');
    execFileSync('clang', ['-O2', '-target', 'bpf', '-c', src, '-o', obj]);
    execFileSync('ip', ['link', 'set', 'dev', host, 'xdpgeneric', 'obj', obj, 'sec', 'xdp']);
    expect(() => createAfXdpInterface({ host, name: 'q2', ringSize: 256 })).toThrow(
      /^host: .* already has XDP program 'foreign_pass' \(id \d+\) attached; pass replaceProgram: true/,
    );
    expect(xdpOn(host)?.name).toBe('foreign_pass');  // untouched
    expect(engine.interfaces().some((i) => i.name === 'q2')).toBe(false);
    createAfXdpInterface({ host, name: 'q2', ringSize: 256, replaceProgram: true, mode: 'generic' });
    expect(engine.findInterface('q2').details).toMatchObject({ xdpMode: 'generic' });
    expect(xdpOn(host)).toMatchObject({ mode: 2, name: 'quiver_xsk' });  // 2: XDP_ATTACHED_SKB
    ifs.deleteInterface('q2');
    expect(xdpOn(host)).toBeNull();
    expectNoLeak();
  });

  it('refuses bad options naming the field, changing nothing', () => {
    const host = lab().hosts[2]!.quiverSide;
    const held = engine.buffers(true).held;
    expect(() => createAfXdpInterface({ host, ringSize: 100 })).toThrow(/^ringSize: must be a power of two/);
    expect(() => createAfXdpInterface({ host, queues: 3 })).toThrow(/^queues: 3 is outside 1..2/);
    expect(() => createAfXdpInterface({ host, mtu: 3000 })).toThrow(/^mtu: /);
    expect(() => createAfXdpInterface({ host: 'qd-nope' })).toThrow(/^host: no interface 'qd-nope'/);
    expect(() => createAfXdpInterface({ host, mode: 'turbo' as never })).toThrow(/^mode: /);
    expect(() => createAfXdpInterface({ host, ringSize: 16384 })).toThrow(/^ringSize: .*half of the free buffers/);
    expect(() => ifs.setMtu(names[0], 4000)).toThrow(/^mtu: 4000 exceeds what one AF_XDP frame holds/);
    expect(xdpOn(host)).toBeNull();
    expect(engine.buffers(true).held).toBe(held);
  });
});
