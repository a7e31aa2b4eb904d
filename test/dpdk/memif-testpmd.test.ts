// A net_memif port in Quiver (server) against dpdk-testpmd (client) in a child process:
// testpmd txonly -> Quiver with exact counts, and Quiver pg -> testpmd io -> Quiver, every frame
// back byte for byte, counted on both sides.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { Testpmd } from '../../native/dpdk/testpmd.js';

const sock = join(tmpdir(), `qk-memif-${randomBytes(4).toString('hex')}.sock`);
const memif = (role: string) => `role=${role},id=0,socket=${sock},socket-abstract=no`;
let tp: Testpmd | undefined;

const counters = (name: string) => engine.statsSegment().interfaceCounters(engine.findInterface(name).index);

beforeAll(async () => {
  dpdk.initDpdk({ logLevel: 'notice' });
  engine.start({ workers: 1, buffers: 16384 });
  dpdk.createDpdkInterface({ name: 'memif0', port: 'net_memif0', args: memif('server'), rxMode: 'adaptive' });
  pg.createPgInterface({ name: 'pgIn' });
  pg.createPgInterface({ name: 'pgOut' });
  for (const n of ['memif0', 'pgIn', 'pgOut']) engine.setInterfaceState(n, { adminUp: true });
  xconnect('pgIn', 'memif0');
  xconnect('memif0', 'pgOut');
  // For jumbo frames: memif0 -> ring0 (looped back) -> pgOut.
  dpdk.createDpdkInterface({ name: 'ring0', port: 'net_ring0', rxMode: 'adaptive' });
  engine.setInterfaceState('ring0', { adminUp: true });
  xconnect('ring0', 'pgOut');
  tp = await Testpmd.start([`net_memif0,${memif('client')}`]);
  await waitFor(() => engine.findInterface('memif0').linkUp, 15000, 'memif connected to testpmd');
}, 60000);

afterAll(async () => {
  // Quiver's port stops before testpmd goes: DPDK 22.11's net_memif unmaps the shared regions
  // when the peer disconnects, under a worker that may be inside rx_burst.
  if (engine.running()) engine.stop();
  await tp?.quit();
  rmSync(sock, { force: true });
});

describe('dpdk net_memif against dpdk-testpmd', () => {
  it('receives everything testpmd txonly sent, counted exactly', async () => {
    engine.clearInterfaces();
    await tp!.command('set fwd txonly');
    await tp!.command('start');
    await waitFor(() => counters('memif0').rxPackets > 20000n, 10000, 'txonly traffic');
    const st = await tp!.stop();
    expect(st.txPackets).toBeGreaterThan(20000);
    // Whatever testpmd enqueued sits in the memif ring until Quiver takes it: none is lost.
    await waitFor(() => counters('memif0').rxPackets === BigInt(st.txPackets), 5000, `Quiver rx == testpmd tx ${st.txPackets}`);
    const c = counters('memif0');
    expect(c.rxBytes).toBe(BigInt(st.txPackets) * 64n);
    expect(counters('pgOut').txPackets).toBe(BigInt(st.txPackets));
    expect(dpdk.dpdkInterfaceDetails('memif0').stats!.ipackets).toBe(st.txPackets);
    expectNoLeak();
  });

  it('sends pg frames through testpmd io and gets every one back byte for byte', async () => {
    engine.clearInterfaces();
    await tp!.command('set fwd io');
    await tp!.command('start');
    const frames: Buffer[] = [];
    for (let i = 0; i < 64; i++)
      frames.push(ethernet({ src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' }, ipv4Udp({ src: '198.18.1.1', dst: '198.18.2.2', sport: 4000 + i, dport: 9, payload: Buffer.alloc(18 + i * 20, i) })));
    pg.capture('pgOut', 5000);
    // Closed loop, 500 frames at a time: a chunk never exceeds the memif ring (1024), so a
    // testpmd descheduled on a busy machine delays the echo but cannot make Quiver drop.
    for (let chunk = 0; chunk < 6; chunk++) {
      pg.addStream('pgIn', { name: `echo${chunk}`, packets: frames, count: 500, enabled: true });
      await pg.waitStream(`echo${chunk}`);
      await waitFor(() => pg.captured('pgOut').length === 500 * (chunk + 1), 10000, `chunk ${chunk} back`);
    }
    const st = await tp!.stop();
    expect([st.rxPackets, st.txPackets]).toEqual([3000, 3000]);
    pg.captured('pgOut').forEach((f, i) => expect(f.equals(frames[(i % 500) % 64]!), `frame ${i}`).toBe(true));
    const c = counters('memif0');
    let sum = 0;
    for (let i = 0; i < 3000; i++) sum += frames[(i % 500) % 64]!.length;
    const bytes = BigInt(sum);
    expect([c.txPackets, c.rxPackets, c.txBytes, c.rxBytes]).toEqual([3000n, 3000n, bytes, bytes]);
    expectNoLeak();
  });

  it('carries frames longer than a buffer as chains: memif rx, net_ring tx and rx, pg', async () => {
    engine.clearInterfaces();
    xconnect('memif0', 'ring0');
    pg.capture('pgOut', 0);
    pg.capture('pgOut', 200);
    // 3000-byte frames in two 1500-byte mbufs; Quiver's slots hold 2240 bytes after the
    // headroom DPDK PMDs leave, so every frame arrives as a two-buffer chain.
    engine.traceClear();
    engine.traceAdd('dpdk-input', 4);
    await tp!.command('set txpkts 1500,1500');
    await tp!.command('set fwd txonly');
    await tp!.command('start');
    await waitFor(() => counters('memif0').rxPackets >= 1000n, 10000, 'jumbo txonly traffic');
    const st = await tp!.stop();
    await waitFor(() => counters('pgOut').txPackets === BigInt(st.txPackets), 5000, `pgOut == testpmd tx ${st.txPackets}`);
    const r = counters('ring0');
    expect([r.txPackets, r.rxPackets, r.txBytes, r.rxBytes]).toEqual([BigInt(st.txPackets), BigInt(st.txPackets), BigInt(st.txPackets) * 3000n, BigInt(st.txPackets) * 3000n]);
    const got = pg.captured('pgOut');
    expect(got.length).toBe(200);
    for (const f of got) {
      expect(f.length).toBe(3000);
      expect(f.readUInt16BE(12)).toBe(0x0800);
      expect(f.readUInt16BE(14 + 2)).toBe(3000 - 14); // IPv4 total length: the whole frame arrived
      expect([...f.subarray(14 + 12, 14 + 20)]).toEqual([198, 18, 0, 1, 198, 18, 0, 2]); // testpmd txonly's addresses
    }
    const entries = engine.traceGet().flatMap((t) => t.entries);
    const memifRx = entries.filter((e) => e.node === 'dpdk-input' && / -> interface \d+: 3000 bytes in 2 segment\(s\)/.test(e.text));
    const ringTx = entries.filter((e) => e.node === 'dpdk-tx' && /: 3000 bytes in 2 segment\(s\)/.test(e.text));
    expect(memifRx.length).toBeGreaterThan(0);
    expect(ringTx.length).toBeGreaterThan(0);
    engine.traceClear();
    await tp!.command('set txpkts 64');
    xconnect('memif0', 'pgOut');
    expectNoLeak();
  });
});
