// Traffic between attached pods. A routed attach (vrf): two pods in different subnets reach
// each other through Quiver's FIB (the hop shows in the TTL), IPv4 and IPv6. A memif pod: a
// quiver/memif application connects to the socket from the ADD result and exchanges ARP
// and ICMP with a tap pod in the same bridge domain (frames built and checked here, byte by byte).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memif } from '../../memif/lib/index.js';
import { QUIVERCTL, killLeftovers, removeDir, runNode } from '../control/helpers.js';
import { checksum, ip4, mac } from '../helpers/packets.js';
import { type CniDaemon, quiverList, startCniDaemon } from './helpers.js';
import { createPodNetns, deleteAllPodNetns, inNs } from './netns.js';
import { type Attachment, CniRuntime } from './runtime.js';

const rt = new CniRuntime();
let d: CniDaemon;
beforeAll(async () => {
  d = await startCniDaemon({ bridgeDomains: [{ id: 3 }] });
});
afterAll(async () => {
  await d?.stop();
  killLeftovers();
  deleteAllPodNetns();
  rt.cleanup();
  if (d) removeDir(d.dir);
});

async function ctl(...args: string[]): Promise<unknown> {
  const r = await runNode(QUIVERCTL, ['-s', d.socket, ...args, '--json']);
  if (r.code !== 0) throw new Error(`quiverctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const addr = (res: Record<string, unknown>, v6: boolean) =>
  (res.ips as { address: string }[]).map((i) => i.address.split('/')[0]!).find((a) => a.includes(':') === v6)!;

describe('routed attach (vrf)', () => {
  it('pods in two subnets reach each other through Quiver, IPv4 and IPv6', async () => {
    const routed = (name: string, n: number) =>
      quiverList(d, name, {
        attachment: 'tap',
        vrf: 0,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: `198.18.${n}.0/24`, gateway: `198.18.${n}.1` }], [{ subnet: `2001:db8:${n}::/64`, gateway: `2001:db8:${n}::1` }]],
          routes: [{ dst: '198.18.0.0/15' }, { dst: '2001:db8::/32' }],
        },
      });
    const netA = routed('routed-a', 60);
    const netB = routed('routed-b', 61);
    const nsA = createPodNetns('rt-a');
    const nsB = createPodNetns('rt-b');
    const a: Attachment = { containerId: 'rt-a', netns: nsA.path, ifname: 'eth0' };
    const b: Attachment = { containerId: 'rt-b', netns: nsB.path, ifname: 'eth0' };
    const ra = await rt.add(netA, a);
    const rb = await rt.add(netB, b);
    expect([ra.code, rb.code], ra.stdout + rb.stdout).toEqual([0, 0]);
    // The pod holds its address alone (/32, /128) and sends everything to the gateway.
    expect((ra.json!.ips as { address: string }[]).map((i) => i.address)).toEqual([expect.stringMatching(/^198\.18\.60\.\d+\/32$/), expect.stringMatching(/^2001:db8:60::[0-9a-f]+\/128$/)]);
    expect(ra.json!.routes).toEqual(
      expect.arrayContaining([{ dst: '198.18.60.0/24', gw: '198.18.60.1' }, { dst: '198.18.0.0/15', gw: '198.18.60.1' }, { dst: '2001:db8::/32', gw: '2001:db8:60::1' }]),
    );
    expect(inNs(nsA.name, 'ip', ['route', 'show', '198.18.0.0/15'])).toMatch(/via 198\.18\.60\.1 dev eth0 onlink/);
    // Quiver's FIB has a host route to each pod.
    const fib = (await ctl('show', 'ip', 'fib')) as { entries: { prefix: string }[] };
    expect(fib.entries.map((e) => e.prefix)).toContain(`${addr(rb.json!, false)}/32`);

    // One routed hop: the reply comes back with TTL 64 - 1.
    expect(inNs(nsA.name, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', addr(rb.json!, false)])).toMatch(/3 received/);
    expect(inNs(nsA.name, 'ping', ['-c', '1', '-W', '2', addr(rb.json!, false)])).toMatch(/ttl=63/);
    expect(inNs(nsB.name, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', addr(ra.json!, true)])).toMatch(/3 received/);
    expect(inNs(nsB.name, 'ping', ['-6', '-c', '1', '-W', '2', addr(ra.json!, true)])).toMatch(/ttl=63|hlim=63/);
    expect((await rt.check(netA, a)).code).toBe(0);

    expect((await rt.del(netA, a)).code).toBe(0);
    expect((await rt.del(netB, b)).code).toBe(0);
    const after = (await ctl('show', 'ip', 'fib')) as { entries: { prefix: string }[] };
    expect(after.entries.map((e) => e.prefix)).not.toContain(`${addr(rb.json!, false)}/32`);
    expect(((await ctl('show', 'buffers')) as { inFlight: number }).inFlight).toBe(0);
  });
});

// ---- frames, written out by hand ----
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
function eth(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}
function arpRequest(srcMac: string, srcIp: string, targetIp: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0); // ethernet
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6); // request
  mac(srcMac).copy(a, 8);
  ip4(srcIp).copy(a, 14);
  ip4(targetIp).copy(a, 24);
  return eth(BROADCAST, srcMac, 0x0806, a);
}
function icmpEcho(srcMac: string, dstMac: string, src: string, dst: string, id: number, seq: number, data: Buffer): Buffer {
  const icmp = Buffer.alloc(8 + data.length);
  icmp[0] = 8;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(seq, 6);
  data.copy(icmp, 8);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  ip4(src).copy(ip, 12);
  ip4(dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return eth(dstMac, srcMac, 0x0800, Buffer.concat([ip, icmp]));
}

/**
 * Sends `frame` and waits for a frame that matches, sending again every 250 ms as an
 * application would (right after connecting, the peer may not have had receive slots yet).
 */
async function exchange(m: Memif, frame: Buffer, match: (f: Buffer) => boolean, timeoutMs = 4000): Promise<Buffer> {
  const until = Date.now() + timeoutMs;
  let next = 0;
  while (Date.now() < until) {
    if (Date.now() >= next) {
      m.send([frame]);
      next = Date.now() + 250;
    }
    for (const f of m.receive()) if (match(f)) return f;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no answer within ${timeoutMs} ms: memif ${JSON.stringify(m.status().counters)}`);
}

describe('memif pod', () => {
  it('a quiver/memif application on the ADD result socketPath exchanges ARP and ICMP with a tap pod', async () => {
    // Two networks on one subnet (one bridge domain), each allocating from its own part of it.
    const ipam = (rangeStart: string, rangeEnd: string) => ({ type: 'host-local', ranges: [[{ subnet: '198.18.70.0/24', rangeStart, rangeEnd }]] });
    const tapNet = quiverList(d, 'bd3-tap', { attachment: 'tap', bridgeDomain: 3, ipam: ipam('198.18.70.2', '198.18.70.99') });
    const memifNet = quiverList(d, 'bd3-memif', { attachment: 'memif', bridgeDomain: 3, mac: '02:00:00:00:70:01', ipam: ipam('198.18.70.200', '198.18.70.250') });
    const nsT = createPodNetns('mx-tap');
    const nsM = createPodNetns('mx-memif');
    const t: Attachment = { containerId: 'mx-tap', netns: nsT.path, ifname: 'eth0' };
    const m: Attachment = { containerId: 'mx-memif', netns: nsM.path, ifname: 'memif0' };
    const rtT = await rt.add(tapNet, t);
    const rtM = await rt.add(memifNet, m);
    expect([rtT.code, rtM.code], rtT.stdout + rtM.stdout).toEqual([0, 0]);
    const itf = (rtM.json!.interfaces as { socketPath: string; mac: string }[])[0]!;
    const tapIp = addr(rtT.json!, false);
    const tapMac = (rtT.json!.interfaces as { mac: string }[])[0]!.mac;
    const myIp = addr(rtM.json!, false);
    const myMac = itf.mac;
    expect(myMac).toBe('02:00:00:00:70:01');
    expect(myIp).toBe('198.18.70.200');

    const app = Memif.open({ role: 'client', socket: itf.socketPath, appName: 'cnf-test' });
    try {
      await app.waitConnected(5000);
      // ARP: who has the tap pod's address? Its kernel answers through the bridge domain.
      const reply = await exchange(app, arpRequest(myMac, myIp, tapIp), (f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2);
      expect(reply.subarray(0, 6)).toEqual(mac(myMac));
      expect(reply.subarray(6, 12)).toEqual(mac(tapMac));
      expect(reply.subarray(22, 28)).toEqual(mac(tapMac)); // sender hardware address
      expect(reply.subarray(28, 32)).toEqual(ip4(tapIp)); // sender protocol address
      expect(reply.subarray(38, 42)).toEqual(ip4(myIp)); // target protocol address
      // ICMP echo to the tap pod: the reply mirrors id, sequence and data.
      const data = Buffer.from('quiver-cni memif <-> tap');
      const echo = await exchange(app, icmpEcho(myMac, tapMac, myIp, tapIp, 0x5151, 7, data), (f) => f.readUInt16BE(12) === 0x0800 && f[23] === 1 && f[34] === 0);
      expect(echo.subarray(26, 30)).toEqual(ip4(tapIp));
      expect(echo.subarray(30, 34)).toEqual(ip4(myIp));
      expect(echo.readUInt16BE(38)).toBe(0x5151);
      expect(echo.readUInt16BE(40)).toBe(7);
      expect(echo.subarray(42, 42 + data.length)).toEqual(data);
      expect(checksum(echo.subarray(34, 42 + data.length))).toBe(0);
      expect(checksum(echo.subarray(14, 34))).toBe(0);
    } finally {
      app.close();
    }
    expect((await rt.del(memifNet, m)).code).toBe(0);
    expect((await rt.del(tapNet, t)).code).toBe(0);
    expect(((await ctl('show', 'buffers')) as { inFlight: number }).inFlight).toBe(0);
  });
});
