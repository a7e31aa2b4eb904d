// quiver/memif (the library a CNF uses without the daemon) against Quiver's memif interfaces, in
// both roles: batched send/receive, the async iterator on interrupts, 9000-byte frames chained
// through the dataplane, reconnection, the example responder checked against scapy, a hostile
// peer, and option validation.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { respond, runResponder } from '../../memif/examples/responder.js';
import { Memif } from '../../memif/lib/index.js';
import * as memif from '../../memif/memif.js';
import { packageRoot } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { frames, sendWindowed, tempDir } from './helpers.js';

useEngine({ workers: 1 });
const tmp = tempDir();
const opened: Memif[] = [];
afterAll(() => {
  opened.forEach((m) => m.close());
  tmp.cleanup();
});
function open(o: Parameters<typeof Memif.open>[0]): Memif {
  const m = Memif.open(o);
  opened.push(m);
  return m;
}
const up = (...n: string[]) => n.forEach((x) => engine.setInterfaceState(x, { adminUp: true }));

/** Receives until `n` packets arrived (the iterator is tested separately). */
async function receiveN(m: Memif, n: number, timeoutMs = 5000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  await waitFor(() => {
    for (const p of m.receive()) got.push(Buffer.from(p));
    return got.length >= n;
  }, timeoutMs, `${n} packets (got ${got.length})`);
  return got;
}

describe('quiver/memif library', () => {
  it('as a client of a Quiver server: batched send and receive, byte-exact, with counters', async () => {
    const socket = `${tmp.dir}/l1.sock`;
    memif.createMemif({ name: 'l1-s', role: 'server', socket, id: 5 });
    pg.createPgInterface({ name: 'l1-p' });
    up('l1-s', 'l1-p');
    xconnectPair('l1-s', 'l1-p');
    const m = open({ role: 'client', socket, id: 5, interfaceName: 'cnf0' });
    await m.waitConnected();
    expect(m.status()).toMatchObject({ role: 'client', state: 'connected', peer: { name: expect.stringMatching(/^Quiver/), interfaceName: 'l1-s' } });
    expect(memif.showMemif('l1-s')[0]!.peer).toEqual({ name: 'quiver/memif', interfaceName: 'cnf0' });
    // Quiver -> library
    const down = frames(300, 128);
    const got: Buffer[] = [];
    await sendWindowed('l1-p', down, 100, () => {
      for (const p of m.receive()) got.push(Buffer.from(p));
      return got.length;
    });
    got.forEach((f, i) => expect(f.equals(down[i]!), `down ${i}`).toBe(true));
    // library -> Quiver, as Buffer[] and as one batch buffer
    pg.capture('l1-p', 1000);
    const upf = frames(200, 90, 1000);
    expect(m.send(upf.slice(0, 100))).toBe(100);
    const rest = upf.slice(100);
    expect(m.sendBatch(Buffer.concat(rest), Uint32Array.from(rest.map((f) => f.length)))).toBe(100);
    await waitFor(() => pg.captured('l1-p').length === 200, 3000, 'library frames at pg');
    pg.captured('l1-p').forEach((f, i) => expect(f.equals(upf[i]!), `up ${i}`).toBe(true));
    expect(m.status().counters).toMatchObject({ rxPackets: 300, txPackets: 200, txNoSpace: 0, violations: 0 });
    expect(engine.statsSegment().interfaceCounters(engine.findInterface('l1-s').index)).toMatchObject({ rxPackets: 200n, txPackets: 300n });
    // A full ring: what does not fit is reported, not silently lost.
    const many = frames(1100, 64);
    const s = m.send(many);
    expect(s).toBeLessThanOrEqual(1024);
    expect(m.status().counters.txNoSpace).toBe(1100 - s);
    const pgTx = () => engine.statsSegment().interfaceCounters(engine.findInterface('l1-p').index).txPackets;
    await waitFor(() => pgTx() === BigInt(200 + s), 3000, 'ring drained');
    expectNoLeak();
  });

  it('as a server for a Quiver client, with the async iterator woken by interrupts', async () => {
    const socket = `${tmp.dir}/l2.sock`;
    const m = open({ role: 'server', socket, id: 1, log2RingSize: 8 });
    memif.createMemif({ name: 'l2-c', role: 'client', socket, id: 1, log2RingSize: 8 });
    pg.createPgInterface({ name: 'l2-p' });
    up('l2-c', 'l2-p');
    xconnectPair('l2-c', 'l2-p');
    await m.waitConnected();
    await memif.waitMemifConnected('l2-c');  // the client goes live on CONNECTED, just after the server
    expect(memif.showMemif('l2-c')[0]!.regions[0]!.size).toBe(2 * (128 + 16 * 256) + 2 * 256 * 2048);
    const seen: Buffer[] = [];
    const loop = (async () => {
      for await (const batch of m) {
        for (const p of batch) seen.push(Buffer.from(p));
        m.send(batch);  // echo
        if (seen.length >= 60) break;
      }
    })();
    pg.capture('l2-p', 100);
    for (let k = 0; k < 6; k++) {
      pg.addStream('l2-p', { name: `l2-${k}`, packets: frames(10, 100, k * 10), count: 10, enabled: true });
      await pg.waitStream(`l2-${k}`);
      await new Promise((r) => setTimeout(r, 20));  // idle in between: the iterator sleeps on the eventfd
    }
    await loop;
    const sent = Array.from({ length: 6 }, (_, k) => frames(10, 100, k * 10)).flat();
    expect(seen.map((f) => f.toString('hex'))).toEqual(sent.map((f) => f.toString('hex')));
    await waitFor(() => pg.captured('l2-p').length === 60, 3000, 'echoes');
    expect(m.status().rings.map((r) => r.direction)).toEqual(['rx', 'tx']);
    expectNoLeak();
  });

  it('carries 9000-byte frames chained across descriptors and pool buffers through Quiver', async () => {
    const socket = `${tmp.dir}/l3.sock`;
    memif.createMemif({ name: 'l3-a', role: 'server', socket, id: 1, mtu: 9000 });
    memif.createMemif({ name: 'l3-b', role: 'server', socket, id: 2, mtu: 9000 });
    up('l3-a', 'l3-b');
    xconnectPair('l3-a', 'l3-b');
    const a = open({ role: 'client', socket, id: 1 });
    const b = open({ role: 'client', socket, id: 2, bufferSize: 1024 });
    await a.waitConnected();
    await b.waitConnected();
    const jumbo = [...frames(20, 9000), ...frames(5, 2113, 50), ...frames(5, 4224, 60)];
    expect(a.send(jumbo)).toBe(jumbo.length);
    const got = await receiveN(b, jumbo.length);
    got.forEach((f, i) => expect(f.equals(jumbo[i]!), `jumbo ${i} (${jumbo[i]!.length} bytes)`).toBe(true));
    // 9000 bytes: 5 descriptors of 2048 from a, 9 of 1024 towards b.
    expect(a.status().rings.find((r) => r.direction === 'tx')!.head).toBe(20 * 5 + 5 * 2 + 5 * 3);
    expect(b.status().rings.find((r) => r.direction === 'rx')!.tail).toBe(20 * 9 + 5 * 3 + 5 * 5);
    expect(b.send(got.slice(0, 3))).toBe(3);
    const back = await receiveN(a, 3);
    back.forEach((f, i) => expect(f.equals(jumbo[i]!)).toBe(true));
    expectNoLeak();
  });

  it('uses every negotiated queue pair: the library sends on queue 1, Quiver polls both rx rings', async () => {
    const socket = `${tmp.dir}/lq.sock`;
    memif.createMemif({ name: 'lq-s', role: 'server', socket, id: 0, rxQueues: 2, txQueues: 2 });
    pg.createPgInterface({ name: 'lq-p' });
    up('lq-s', 'lq-p');
    xconnectPair('lq-s', 'lq-p');
    const m = open({ role: 'client', socket, id: 0, rxQueues: 2, txQueues: 2 });
    await m.waitConnected();
    await memif.waitMemifConnected('lq-s');
    const [d] = memif.showMemif('lq-s');
    expect(d.rings.map((r) => `${r.direction}${r.queue}`)).toEqual(['rx0', 'rx1', 'tx0', 'tx1']);
    expect(engine.findInterface('lq-s').rxQueues.map((q) => q.queue)).toEqual([0, 1]);
    pg.capture('lq-p', 100);
    const f0 = frames(10, 70), f1 = frames(10, 80, 100);
    expect(m.send(f0, 0)).toBe(10);
    expect(m.send(f1, 1)).toBe(10);
    await waitFor(() => pg.captured('lq-p').length === 20, 3000, 'both queues forwarded');
    const got = pg.captured('lq-p').map((f) => f.toString('hex')).sort();
    expect(got).toEqual([...f0, ...f1].map((f) => f.toString('hex')).sort());
    const rx = memif.showMemif('lq-s')[0]!.rings.filter((r) => r.direction === 'rx');
    expect(rx.map((r) => r.head)).toEqual([10, 10]);
    expectNoLeak();
  });

  it('IP mode: raw IP packets without an L2 header, cross-connected as is; unroutable ones counted', async () => {
    const socket = `${tmp.dir}/lip.sock`;
    memif.createMemif({ name: 'lip-s', role: 'server', socket, id: 0, mode: 'ip' });
    memif.createMemif({ name: 'lip-t', role: 'server', socket, id: 1, mode: 'ip' });
    up('lip-s', 'lip-t');
    xconnectPair('lip-s', 'lip-t');
    const a = open({ role: 'client', socket, id: 0, mode: 'ip' });
    const b = open({ role: 'client', socket, id: 1, mode: 'ip' });
    await a.waitConnected();
    await b.waitConnected();
    const ip = frames(5, 100).map((f) => f.subarray(14));  // IPv4/UDP, no Ethernet header
    expect(a.send(ip)).toBe(5);
    const got = await receiveN(b, 5);
    got.forEach((f, i) => expect(f.equals(ip[i]!)).toBe(true));
    // Not cross-connected: IPv4 would go to ip4-input (not built yet), garbage is not IP at all.
    engine.setInterfaceState('lip-t', { adminUp: true });
    const { xconnect } = await import('../../graph/l2/xconnect.js');
    xconnect('lip-t', null);
    const err = (name: string) => engine.statsSegment().errors(true).find((e) => e.node === 'memif-input' && e.name === name)!.count;
    // Once an ip4-input node exists the IPv4 packets go there instead of being counted.
    const next = engine.statsSegment().directory().nodes.find((n) => n.name === 'memif-input')!.next;
    const k = next.findIndex((n) => n.name === 'ip4-input');
    const toIp4 = () => engine.statsSegment().arcs().filter((x) => x.from === 'memif-input')[k]!.packets;
    const before = { noIp: err('no-ip-input'), bad: err('bad-ip-version'), arc: toIp4() };
    expect(b.send([...ip.slice(0, 3), Buffer.from([0x10, 1, 2, 3])])).toBe(4);
    const delivered = () => (next[k]!.resolved ? toIp4() - before.arc : err('no-ip-input') - before.noIp);
    await waitFor(() => err('bad-ip-version') - before.bad === 1n && delivered() === 3n, 3000, 'IP mode dispatch');
    expectNoLeak();
  });

  it('reconnects by itself when the Quiver side goes away and comes back', async () => {
    const socket = `${tmp.dir}/l4.sock`;
    memif.createMemif({ name: 'l4-s', role: 'server', socket, id: 0 });
    up('l4-s');
    const m = open({ role: 'client', socket, id: 0 });
    await m.waitConnected();
    const events: string[] = [];
    m.on('disconnected', (why) => events.push(`down: ${why}`));
    m.on('connected', () => events.push('up'));
    memif.deleteMemif('l4-s');
    await waitFor(() => events.length === 1, 3000, 'disconnected event');
    expect(events[0]).toMatch(/^down: peer: interface deleted/);
    expect(m.status().state).not.toBe('connected');
    memif.createMemif({ name: 'l4-s', role: 'server', socket, id: 0 });
    up('l4-s');
    await m.waitConnected(5000);
    expect(events).toEqual([events[0], 'up']);
    expect(m.status().counters).toMatchObject({ connects: 2, disconnects: 1 });
  });

  it('runs the example responder: ARP and ICMP echo answered as scapy says', async () => {
    const py = `
from scapy.all import Ether, ARP, IP, ICMP, raw
A, B = '02:00:00:00:00:01', '02:00:00:00:aa:01'
arp = Ether(src=A, dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc=A, psrc='198.18.0.1', pdst='198.18.0.2')
arp_reply = Ether(src=B, dst=A)/ARP(op=2, hwsrc=B, psrc='198.18.0.2', hwdst=A, pdst='198.18.0.1')
data = b'quiver-memif' * 5
ping = Ether(src=A, dst=B)/IP(src='198.18.0.1', dst='198.18.0.2', id=77, ttl=33)/ICMP(type=8, id=0x1234, seq=7)/data
pong = Ether(src=B, dst=A)/IP(src='198.18.0.2', dst='198.18.0.1', id=77, ttl=64)/ICMP(type=0, id=0x1234, seq=7)/data
other = Ether(src=A, dst=B)/IP(src='198.18.0.1', dst='198.18.0.9')/ICMP(type=8)
for p in (arp, arp_reply, ping, pong, other): print(raw(p).hex())
`;
    const [arp, arpReply, ping, pong, other] = execFileSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' })
      .trim().split('\n').map((h) => Buffer.from(h, 'hex'));
    const me = { mac: Buffer.from([2, 0, 0, 0, 0xaa, 1]), ip: Buffer.from([198, 18, 0, 2]) };
    expect(respond(arp!, me)!.equals(arpReply!.subarray(0, 42))).toBe(true);
    expect(respond(other!, me)).toBeNull();
    const socket = `${tmp.dir}/l5.sock`;
    memif.createMemif({ name: 'l5-s', role: 'server', socket, id: 0 });
    pg.createPgInterface({ name: 'l5-p' });
    up('l5-s', 'l5-p');
    xconnectPair('l5-s', 'l5-p');
    const m = open({ role: 'client', socket, id: 0 });
    const running = runResponder(m, me);
    await m.waitConnected();
    pg.capture('l5-p', 10);
    pg.addStream('l5-p', { name: 'l5', packets: [arp!, other!, ping!], count: 6, enabled: true });
    await pg.waitStream('l5');
    await waitFor(() => pg.captured('l5-p').length === 4, 3000, 'replies');
    const replies = pg.captured('l5-p');
    // Quiver pads nothing: the ARP reply is 42 bytes where scapy pads to 60.
    expect(replies.map((r) => r.toString('hex'))).toEqual([arpReply!.subarray(0, 42), pong!, arpReply!.subarray(0, 42), pong!].map((r) => r.toString('hex')));
    m.close();
    expect(await running).toBe(4);
  });

  it('as a server, disconnects a hostile client and keeps listening', async () => {
    const socket = `${tmp.dir}/l6.sock`;
    const m = open({ role: 'server', socket, id: 0, log2RingSize: 4 });
    const script = join(packageRoot(), 'test/memif/rogue_peer.py');
    const run = (scenario: string) =>
      new Promise<{ closed: boolean; disconnect: string | null }>((resolve, reject) =>
        execFile('/usr/bin/python3', [script, socket, scenario], { timeout: 15000 }, (err, out) => (err ? reject(err) : resolve(JSON.parse(out)))));
    const ring = run('bad-desc-offset');
    const drained = (async () => {
      for (let i = 0; i < 100 && m.status().counters.violations === 0; i++) {
        m.receive();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await ring;
    await drained;
    expect(r).toMatchObject({ closed: true, disconnect: 'invalid descriptor from peer' });
    expect(m.status().counters.violations).toBe(1);
    expect(await run('region-small')).toMatchObject({ closed: true, disconnect: expect.stringMatching(/not a file of at least/) });
    expect(await run('bad-cookie')).toMatchObject({ closed: true, disconnect: expect.stringMatching(/wrong cookie/) });
    expect(m.status().state).toBe('listening');
  });

  it('lets a listener close the port from inside an event, and after waitConnected with no await in between', async () => {
    const socket = `${tmp.dir}/l7.sock`;
    memif.createMemif({ name: 'l7-s', role: 'server', socket, id: 0 });
    up('l7-s');
    const a = open({ role: 'client', socket, id: 0 });
    const closedInListener = new Promise<void>((resolve) => a.on('connected', () => {
      a.close();
      resolve();
    }));
    await closedInListener;
    await waitFor(() => memif.showMemif('l7-s')[0]!.state === 'listening', 3000, 'server listening again');
    const b = open({ role: 'client', socket, id: 0 });
    await b.waitConnected();
    for (let i = 0; i < 1000; i++) b.receiveBatch();
    b.close();
    const waiting = b.readable();  // resolves at once on a closed port
    await waiting;
    await waitFor(() => memif.showMemif('l7-s')[0]!.state === 'listening', 3000, 'server listening after the second close');
    expect(memif.showMemif('l7-s')[0]!.counters).toMatchObject({ connects: 2, disconnects: 2 });
  });

  it('refuses bad options naming the field', () => {
    expect(() => Memif.open({ role: 'client', socket: 'x.sock' })).toThrow(/^socket: must be an absolute path/);
    expect(() => Memif.open({ role: 'peer' as never, socket: '/x' })).toThrow(/^role: /);
    expect(() => Memif.open({ role: 'client', socket: '/x', log2RingSize: 0 })).toThrow(/^log2RingSize: /);
    expect(() => Memif.open({ role: 'client', socket: '/x', secret: 'y'.repeat(30) })).toThrow(/^secret: /);
    expect(() => Memif.open({ role: 'client', socket: '/x', zeroCopy: true } as never)).toThrow(/^zeroCopy: unknown key/);
    expect(() => Memif.open({ role: 'server', socket: '/proc/qm-no/x.sock' })).toThrow(/^socket: cannot create directory/);
  });
});
