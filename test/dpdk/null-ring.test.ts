// DPDK ports inside the test process: net_ring (a port looped back to itself through its own
// rings) and net_null (a source that fills mbufs, a sink that frees them). Packets cross
// between pg and DPDK ports byte for byte, counters are exact on both sides (Quiver's and
// rte_eth_stats), DPDK allocates nothing when Quiver's own buffers go round (zero copy), and
// every buffer comes back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, sleep, waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';

beforeAll(() => {
  dpdk.initDpdk({ logLevel: 'notice' });
  engine.start({ workers: 2, buffers: 16384 });
});
afterAll(() => {
  if (engine.running()) engine.stop();
});

const counters = (name: string) => engine.statsSegment().interfaceCounters(engine.findInterface(name).index);
const up = (...names: string[]) => names.forEach((n) => engine.setInterfaceState(n, { adminUp: true }));
const mempool = () => dpdk.showDpdk().mempool!;

function frames(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const payload = Buffer.alloc(18 + ((i * 37) % 1400), i & 0xff);
    out.push(ethernet({ src: '02:00:00:00:01:01', dst: '02:00:00:00:02:02' }, ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + i, dport: 7, payload })));
  }
  return out;
}

describe('dpdk driver, in process', () => {
  it('reports DPDK in version and show dpdk', () => {
    expect(engine.version().dpdk).toMatch(/^22\.11/);
    const s = dpdk.showDpdk();
    expect(s.eal.initialised).toBe(true);
    expect(s.eal.args).toEqual(expect.arrayContaining(['--no-huge', '--no-pci']));
    expect(s.eal.iovaMode).toBe('va');
  });

  it('loops pg frames through a net_ring port byte for byte without DPDK allocating a buffer', async () => {
    pg.createPgInterface({ name: 'pgA', worker: 0 });
    pg.createPgInterface({ name: 'pgB', worker: 0 });
    dpdk.createDpdkInterface({ name: 'ring0', port: 'net_ring0', rxMode: 'adaptive', workers: [0] });
    up('pgA', 'pgB', 'ring0');
    xconnect('pgA', 'ring0');
    xconnect('ring0', 'pgB');
    const sent = frames(500);
    pg.capture('pgB', 1000);
    const before = mempool();
    pg.addStream('pgA', { name: 'loop', packets: sent, count: 500, enabled: true });
    await pg.waitStream('loop');
    await waitFor(() => pg.captured('pgB').length === 500, 5000, 'all frames back from net_ring');
    const got = pg.captured('pgB');
    got.forEach((f, i) => expect(f.equals(sent[i]!), `frame ${i}`).toBe(true));
    const bytes = BigInt(sent.reduce((n, f) => n + f.length, 0));
    const c = counters('ring0');
    expect([c.txPackets, c.rxPackets, c.txBytes, c.rxBytes]).toEqual([500n, 500n, bytes, bytes]);
    const st = dpdk.dpdkInterfaceDetails('ring0').stats!;
    expect([st.opackets, st.ipackets]).toEqual([500, 500]);
    // Zero copy: the same buffers went out and came back; DPDK took none from the pool.
    expect(mempool().dequeued - before.dequeued).toBe(0);
    expect(mempool()).toMatchObject({ ops: 'quiver', size: 16384, extmemRegistered: true });
    expectNoLeak();
    // No rx interrupts: adaptive polls under load and sleeps ~1 ms slices when idle.
    // A spinning worker makes millions of idle loops; this one makes ~64 between sleeps.
    const w0 = () => engine.statsSegment().workerCounters()[0]!;
    const before0 = w0();
    await sleep(300);
    const after0 = w0();
    const sleeps = after0.sleeps - before0.sleeps;
    expect(sleeps).toBeGreaterThan(5n);
    expect(after0.idleLoops - before0.idleLoops).toBeLessThan(200n * sleeps);
    expect(() => engine.setRxMode('ring0', 0, 'interrupt')).toThrow(/^mode: driver dpdk does not support interrupt/);
  });

  it('receives from net_null into pg and transmits pg frames into net_null, counts exact', async () => {
    dpdk.createDpdkInterface({ name: 'null0', port: 'net_null0', args: 'size=96,copy=1', rxMode: 'adaptive', workers: [1] });
    dpdk.createDpdkInterface({ name: 'null1', port: 'net_null1', rxMode: 'adaptive', workers: [1] });
    pg.createPgInterface({ name: 'pgC', worker: 1 });
    pg.createPgInterface({ name: 'pgD', worker: 1 });
    xconnect('null0', 'pgD');
    xconnect('pgC', 'null1');
    pg.capture('pgD', 50);
    up('pgC', 'pgD', 'null1');
    // null1 is polled too; its zero frames are not for us in L3 mode and counted as such.
    const tx = frames(3000);
    pg.addStream('pgC', { name: 'tonull', packets: tx, count: 3000, enabled: true });
    await pg.waitStream('tonull');
    await waitFor(() => counters('null1').txPackets === 3000n, 5000, 'null1 tx');
    // net_null and net_ring count packets, not bytes, in 22.11.
    expect(dpdk.dpdkInterfaceDetails('null1').stats!.opackets).toBe(3000);
    expect(counters('null1').txBytes).toBe(BigInt(tx.reduce((n, f) => n + f.length, 0)));

    up('null0');
    await sleep(100);
    engine.setInterfaceState('null0', { adminUp: false });
    const c0 = counters('null0');
    const st0 = dpdk.dpdkInterfaceDetails('null0').stats!;
    expect(c0.rxPackets).toBeGreaterThan(1000n);
    expect(c0.rxPackets).toBe(BigInt(st0.ipackets));
    expect(c0.rxBytes).toBe(c0.rxPackets * 96n);
    await waitFor(() => counters('pgD').txPackets === c0.rxPackets, 2000, 'pgD got all null0 frames');
    const seen = pg.captured('pgD');
    expect(seen).toHaveLength(50);
    expect(seen.every((f) => f.equals(Buffer.alloc(96)))).toBe(true);
    engine.setInterfaceState('null1', { adminUp: false }); // an endless source: stop it to count buffers
    expectNoLeak();
  });

  it('spreads a two-queue net_ring port over two workers and shares one tx queue safely', async () => {
    dpdk.createDpdkInterface({ name: 'ring1', port: 'net_ring1', rxQueues: 2, txQueues: 2, rxMode: 'adaptive', workers: [0, 1] });
    dpdk.createDpdkInterface({ name: 'ring2', port: 'net_ring2', txQueues: 1, rxMode: 'adaptive', workers: [0] });
    expect(dpdk.dpdkInterfaceDetails('ring2').txQueueShared).toBe(true);
    pg.createPgInterface({ name: 'pgE', worker: 0 });
    pg.createPgInterface({ name: 'pgF', worker: 1 });
    pg.createPgInterface({ name: 'pgOut', worker: 0 });
    up('ring1', 'ring2', 'pgE', 'pgF', 'pgOut');
    // Worker 0 sends through tx queue 0, worker 1 through tx queue 1: each ring comes back on
    // the rx queue of the same number, polled by the same worker.
    xconnect('pgE', 'ring1');
    xconnect('pgF', 'ring1');
    xconnect('ring1', 'ring2');
    xconnect('ring2', 'pgOut');
    // Paced: ring2's single ring (1024 slots) is drained by one worker while two fill it.
    pg.addStream('pgE', { name: 'e', size: 128, count: 4000, rate: 40_000, enabled: true });
    pg.addStream('pgF', { name: 'f', size: 256, count: 3000, rate: 30_000, enabled: true });
    await pg.waitStream('e');
    await pg.waitStream('f');
    await waitFor(() => counters('pgOut').txPackets === 7000n, 5000, 'all frames through ring1 and ring2');
    const d1 = dpdk.dpdkInterfaceDetails('ring1');
    expect(d1.stats!.rxQueuePackets).toEqual([4000, 3000]);
    expect(d1.stats!.txQueuePackets).toEqual([4000, 3000]);
    const c2 = counters('ring2');
    expect([c2.rxPackets, c2.txPackets, c2.txBytes]).toEqual([7000n, 7000n, 4000n * 128n + 3000n * 256n]);
    expect(dpdk.dpdkInterfaceDetails('ring2').stats!.txQueuePackets).toEqual([7000]);
    expectNoLeak();
  });

  it('gives every buffer back when the DPDK interfaces are deleted', async () => {
    // Leave packets sitting in a ring: they are held by DPDK until the port is deleted.
    engine.setInterfaceState('ring0', { adminUp: false });
    pg.addStream('pgA', { name: 'strand', size: 100, count: 300, enabled: true });
    await pg.waitStream('strand');
    await sleep(50);
    expect(counters('ring0').txPackets).toBeGreaterThanOrEqual(500n);
    expectNoLeak();
    for (const n of ['ring0', 'ring1', 'ring2', 'null0', 'null1']) dpdk.deleteDpdkInterface(n);
    const b = engine.buffers(true);
    expect(b.held).toBe(0);
    expect(b.inFlight).toBe(0);
    expect(dpdk.showDpdk().ports.map((p) => p.name)).toEqual([]);
  });

  it('refuses bad arguments naming the field', () => {
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_bogus0' })).toThrow(/^port: no DPDK port 'net_bogus0'/);
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_null9', rxMode: 'interrupt' as never })).toThrow(/^rxMode: /);
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_null9', rxQueues: 2, workers: [0] })).toThrow(/^workers: lists 1 workers for 2/);
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_null9', workers: [5] })).toThrow(/^workers\[0\]: no worker 5/);
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_ring9', rxQueues: 17 })).toThrow(/^rxQueues: .* at most 16/);
    expect(() => dpdk.createDpdkInterface({ name: 'pgA', port: 'net_null9' })).toThrow(/^name: interface 'pgA' already exists/);
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_null9,size=3' })).toThrow(/^port: give device arguments in args/);
    // PMD modes that put packets in memory of their own, not in Quiver's slots, are refused.
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_memif9', args: 'role=server,socket=/tmp/qk-never.sock,socket-abstract=no,zero-copy=yes' })).toThrow(
      /^port: .*net_memif9.*zero-copy=yes/,
    );
    expect(() => dpdk.createDpdkInterface({ name: 'x', port: 'net_af_xdp9', args: 'iface=lo' })).toThrow(/^port: net_af_xdp: its UMEM is the mempool's memory/);
    expect(() => dpdk.initDpdk({ logLevel: 'loud' as never })).toThrow(/^dpdk.logLevel: /);
    expect(() => dpdk.initDpdk({ hugepages: false, socketMemoryMb: [64] })).toThrow(/^dpdk.socketMemoryMb: needs hugepages/);
    expect(() => dpdk.initDpdk({ memoryMb: 256 })).toThrow(/^dpdk: EAL is already initialised in this process/);
    expect(() => dpdk.initDpdk({ logLevel: 'notice', vdevs: ['net_nosuch0'] })).toThrow(/^dpdk.vdevs\[0\]: cannot probe 'net_nosuch0': EAL: failed to parse device/);
    // Nothing was left half made: no interface, no hot-plugged device.
    expect(engine.interfaces().filter((i) => i.driver === 'dpdk')).toEqual([]);
    expect(dpdk.showDpdk().ports).toEqual([]);
  });

  it('probes the config vdevs once and makes an EAL-probed port an interface it leaves in place', () => {
    dpdk.initDpdk({ logLevel: 'notice', vdevs: ['net_null5,size=80'] });
    dpdk.initDpdk({ logLevel: 'notice', vdevs: ['net_null5,size=80'] }); // same section again: nothing to do
    const port = dpdk.showDpdk().ports.find((p) => p.name === 'net_null5')!;
    expect(port.interface).toBeNull();
    dpdk.createDpdkInterface({ name: 'n5', port: port.portId });
    expect(dpdk.dpdkInterfaceDetails('n5')).toMatchObject({ device: 'net_null5', hotplugged: false, driver: 'net_null' });
    expect(() => dpdk.createDpdkInterface({ name: 'n5b', port: 'net_null5' })).toThrow(/^port: DPDK port \d+ is already interface 'n5'/);
    dpdk.deleteDpdkInterface('n5');
    expect(dpdk.showDpdk().ports.find((p) => p.name === 'net_null5')!.interface).toBeNull();
    expect(() => dpdk.deleteDpdkInterface('pgA')).toThrow(/^interface: 'pgA' is not a DPDK interface/);
  });
});
