// Interop with a real peer: DPDK's dpdk-testpmd (net_memif, 22.11 from Debian) as client and as
// server, packets both ways compared byte for byte on Quiver's side (pg capture and a pcap file
// written by the engine), counts compared with what testpmd reports, chained descriptors with a
// real peer, and a testpmd restart in the middle of traffic. testpmd runs on core 0, the Quiver
// worker on core 1; sends are windowed so a descheduled peer cannot cause drops.
import { unlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as memif from '../../memif/memif.js';
import { cleanupTestpmdRuntime } from '../../memif/testpmd.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, sleep, useEngine, waitFor } from '../helpers/dataplane.js';
import { type Testpmd, frames, macSwapped, readPcap, sendWindowed, startTestpmd, tempDir } from './helpers.js';

useEngine({ workers: 1, cores: [1] });
const tmp = tempDir();
const running: Testpmd[] = [];
afterAll(async () => {
  for (const t of running) await t.kill();
  cleanupTestpmdRuntime();  // only our own EAL runtime directories (--file-prefix qm-<pid>-N)
  tmp.cleanup();
});
const diagnose = (m: string, t: Testpmd) => () =>
  `${memif.formatShowMemif(memif.showMemif(m))}\nerrors: ${JSON.stringify(engine.statsSegment().errors(), (_, v) => (typeof v === 'bigint' ? String(v) : v))}\ntestpmd:\n${t.output().slice(-1500)}`;
function testpmd(o: Parameters<typeof startTestpmd>[0]): Testpmd {
  const t = startTestpmd(o);
  running.push(t);
  return t;
}

const up = (...names: string[]) => names.forEach((n) => engine.setInterfaceState(n, { adminUp: true }));
const counters = (n: string) => engine.statsSegment().interfaceCounters(engine.findInterface(n).index);

/** pgIn -> memif -> (testpmd) -> memif -> pgOut, both cross-connects one way. */
function quiverSide(tag: string, role: 'server' | 'client', extra: Partial<memif.MemifConfig> = {}) {
  const socket = `${tmp.dir}/${tag}.sock`;
  const m = `${tag}-m`, pin = `${tag}-in`, pout = `${tag}-out`;
  memif.createMemif({ name: m, role, socket, id: 0, ...extra });
  pg.createPgInterface({ name: pin });
  pg.createPgInterface({ name: pout });
  up(m, pin, pout);
  xconnect(pin, m);
  xconnect(m, pout);
  return { socket, m, pin, pout };
}

describe('memif interop with dpdk-testpmd', () => {
  it('Quiver server <-> testpmd client (macswap): every frame returns with its MACs swapped; counts agree', async () => {
    const q = quiverSide('srv', 'server');
    const tp = testpmd({ role: 'client', socket: q.socket, mode: 'macswap' });
    await memif.waitMemifReady(q.m, 15000);
    expect(memif.showMemif(q.m)[0]!.peer).toEqual({ name: expect.stringMatching(/^DPDK 22\./), interfaceName: 'net_memif0' });
    const pcap = `${tmp.dir}/srv-rx.pcap`;
    engine.pcapStart({ interface: q.m, rx: true, tx: false, max: 64, file: pcap });
    const out = [...frames(512, 64), ...frames(256, 1000, 512), ...frames(256, 1514, 768)];
    pg.capture(q.pout, 2000);
    await sendWindowed(q.pin, out, 256, () => pg.captured(q.pout).length, 15000, diagnose(q.m, tp));
    const back = pg.captured(q.pout);
    expect(back).toHaveLength(out.length);
    back.forEach((f, i) => expect(f.equals(macSwapped(out[i]!)), `frame ${i}`).toBe(true));
    expect(engine.pcapStop().packets).toBe(64);
    readPcap(pcap).forEach((f, i) => expect(f.equals(macSwapped(out[i]!)), `pcap frame ${i}`).toBe(true));
    const stats = await tp.stop();
    expect(stats).toMatchObject({ rx: out.length, tx: out.length, rxDropped: 0, txDropped: 0 });
    expect(counters(q.m)).toMatchObject({ txPackets: BigInt(out.length), rxPackets: BigInt(out.length), txNoSpace: 0n, rxErrors: 0n });
    await tp.quit();
    await waitFor(() => memif.showMemif(q.m)[0]!.state === 'listening', 5000, 'server listening again');
    expectNoLeak();
  });

  it('Quiver client <-> testpmd server (io), 512-byte ring buffers: chained descriptors both ways, frames unchanged', async () => {
    const q = quiverSide('cli', 'client', { bufferSize: 512 });
    const tp = testpmd({ role: 'server', socket: q.socket, mode: 'io' });
    await memif.waitMemifReady(q.m, 15000);
    const out = [...frames(100, 60), ...frames(100, 512, 100), ...frames(100, 513, 200), ...frames(100, 1514, 300)];
    pg.capture(q.pout, 1000);
    await sendWindowed(q.pin, out, 100, () => pg.captured(q.pout).length, 15000, diagnose(q.m, tp));
    const back = pg.captured(q.pout);
    expect(back).toHaveLength(out.length);
    back.forEach((f, i) => expect(f.equals(out[i]!), `frame ${i}`).toBe(true));
    // 1514 bytes in 512-byte buffers take 3 descriptors, 513 take 2: both peers chained.
    const [d] = memif.showMemif(q.m);
    const slots = 100 + 100 + 2 * 100 + 3 * 100;
    expect(d.rings.find((r) => r.direction === 'tx')).toMatchObject({ head: slots, tail: slots });
    expect(d.rings.find((r) => r.direction === 'rx')!.tail).toBe(slots);
    const stats = await tp.stop();
    expect(stats).toMatchObject({ rx: out.length, tx: out.length, txDropped: 0 });
    await tp.quit();
    await waitFor(() => memif.showMemif(q.m)[0]!.state === 'connecting', 5000, 'client reconnecting');
    expectNoLeak();
  });

  it('testpmd txonly -> Quiver client: its UDP frames arrive, counted exactly (pcap checked)', async () => {
    const q = quiverSide('txo', 'client', { log2RingSize: 12 });
    const pcap = `${tmp.dir}/txo.pcap`;
    const tp = testpmd({ role: 'server', socket: q.socket, mode: 'txonly', args: ['--txpkts=64'] });
    await memif.waitMemifReady(q.m, 15000);
    engine.pcapStart({ interface: q.m, rx: true, tx: false, max: 20, file: pcap });
    const atStart = counters(q.m).rxPackets;
    await waitFor(() => counters(q.m).rxPackets > atStart + 50000n, 10000, 'testpmd traffic');
    const status = engine.pcapStatus();
    const stats = await tp.stop();
    expect(stats.tx).toBeGreaterThan(50000);
    // Everything testpmd managed to put in the ring is received (the port stays connected while
    // the ring drains), and nothing else.
    await waitFor(() => counters(q.m).rxPackets >= BigInt(stats.tx), 5000, 'ring drained');
    await sleep(50);
    expect(counters(q.m).rxPackets).toBe(BigInt(stats.tx));
    expect(counters(q.m).rxBytes).toBe(BigInt(stats.tx) * 64n);
    expect(counters(q.pout).txPackets).toBe(BigInt(stats.tx));
    await tp.quit();
    engine.pcapStop();
    const got = readPcap(pcap);
    expect(got, `capture status ${JSON.stringify(status)}, rx at start ${atStart}`).toHaveLength(20);
    for (const f of got) {
      // testpmd's txonly template: IPv4 198.18.0.1 -> 198.18.0.2, UDP 9 -> 9, 64 bytes.
      expect(f.length).toBe(64);
      expect(f.readUInt16BE(12)).toBe(0x0800);
      expect([...f.subarray(26, 34)]).toEqual([198, 18, 0, 1, 198, 18, 0, 2]);
      expect(f[23]).toBe(17);
      expect([f.readUInt16BE(34), f.readUInt16BE(36)]).toEqual([9, 9]);
    }
    expectNoLeak();
  });

  it('recovers from a testpmd restart in the middle of traffic, as client and as server', async () => {
    for (const role of ['client', 'server'] as const) {
      const tag = `rs-${role}`;
      const q = quiverSide(tag, role);
        const peerRole = role === 'client' ? 'server' : 'client';
      let tp = testpmd({ role: peerRole, socket: q.socket, mode: 'io' });
      await memif.waitMemifReady(q.m, 15000);
      pg.capture(q.pout, 1_000_000);
      pg.addStream(q.pin, { name: `${tag}-flow`, packets: frames(16, 100), rate: 20000, enabled: true });
      await waitFor(() => pg.captured(q.pout).length > 500, 10000, 'traffic through testpmd');
      await tp.kill();  // dies without a word: no DISCONNECT, the control socket just closes
      await waitFor(() => !memif.showMemif(q.m)[0]!.linkUp, 5000, 'link down after the peer died');
      const [d] = memif.showMemif(q.m);
      expect(d.state).toBe(role === 'client' ? 'connecting' : 'listening');
      expect(d.lastDisconnect).toMatch(/peer closed the control socket/);
      const dropped = engine.statsSegment().errors().find((e) => e.node === 'memif-tx' && e.name === 'not-connected');
      await waitFor(() => (engine.statsSegment().errors().find((e) => e.node === 'memif-tx' && e.name === 'not-connected')?.count ?? 0n) > (dropped?.count ?? 0n), 3000, 'drops while down');
      if (peerRole === 'server') {
        try {
          unlinkSync(q.socket);  // a killed DPDK server leaves its socket file behind
        } catch {
          /* already gone */
        }
      }
      const before = pg.captured(q.pout).length;
      tp = testpmd({ role: peerRole, socket: q.socket, mode: 'io' });
      await memif.waitMemifReady(q.m, 15000);
      await waitFor(() => pg.captured(q.pout).length > before + 500, 10000, 'traffic resumed after the restart');
      pg.enableStream(`${tag}-flow`, false);
      expect(memif.showMemif(q.m)[0]!.counters).toMatchObject({ connects: 2, disconnects: 1 });
      await tp.quit();
      // Whatever arrived is a frame we sent, unchanged.
      const sent = frames(16, 100).map((f) => f.toString('hex'));
      for (const f of pg.captured(q.pout).slice(0, 2000)) expect(sent).toContain(f.toString('hex'));
      pg.capture(q.pout, 0);
    }
    await sleep(50);
    expectNoLeak();
  });
});
