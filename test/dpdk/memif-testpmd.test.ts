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
  tp = await Testpmd.start([`net_memif0,${memif('client')}`]);
  await waitFor(() => engine.findInterface('memif0').linkUp, 15000, 'memif connected to testpmd');
}, 60000);

afterAll(async () => {
  await tp?.quit();
  if (engine.running()) engine.stop();
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
});
