// L2 overlay over pg: tunnels as bridge-domain members. A broadcast from a local port is
// replicated head-end to every tunnel of the domain (one outer packet per remote VTEP), MACs
// are learned on the tunnel they arrive from, and known unicast then leaves on that tunnel
// only. Tunnels share a split-horizon group, as a full mesh needs (a frame from one remote is
// never flooded to the others). Outer packets leave and arrive on pgU, our underlay interface
// (the remote VTEPs are static neighbors there).
import { beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as acl from '../../graph/acl/acl.js';
import * as ip from '../../graph/ip/ip.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { ethernet } from '../helpers/packets.js';
import { innerFrame, vxlanFrame } from './packets.js';

useEngine();

const LOCAL_MAC = '02:00:00:00:01:01'; // pgU's
const REMOTE_MAC = '02:00:00:00:01:02'; // the remote VTEPs'
const LOCAL = '198.18.0.1';
const REMOTES = ['198.18.0.11', '198.18.0.12', '198.18.0.13', '198.18.0.14'];
const VNI = 5000;
const HOST = '02:aa:00:00:00:01'; // behind pgIn
const remoteHost = (k: number) => `02:bb:00:00:00:${(k + 1).toString(16).padStart(2, '0')}`; // behind REMOTES[k]
let streams = 0;

async function send(intf: string, packets: Buffer[]): Promise<void> {
  const name = `s${streams++}`;
  pg.addStream(intf, { name, packets, count: packets.length, enabled: true });
  await pg.waitStream(name);
  await waitFor(() => engine.buffers(true).inFlight === 0, 5000, 'all buffers back in the pool');
  pg.deleteStream(name);
}
const txPackets = (name: string) => engine.statsSegment().interfaceCounters(engine.findInterface(name).index).txPackets;
/** Outer destination of each captured packet (IPv4 underlay). */
const outerDst = (f: Buffer) => [...f.subarray(30, 34)].join('.');

beforeAll(() => {
  pg.createPgInterface({ name: 'pgIn' });
  pg.createPgInterface({ name: 'pgU', mac: LOCAL_MAC });
  for (const n of ['pgIn', 'pgU']) engine.setInterfaceState(n, { adminUp: true });
  ip.addAddress('pgU', `${LOCAL}/24`, { announce: false });
  for (const r of REMOTES) ip.addNeighbor({ interface: 'pgU', address: r, mac: REMOTE_MAC });
  l2.createBridgeDomain({ id: 10 });
  l2.addBridgeMember(10, { interface: 'pgIn' });
  REMOTES.forEach((dst, k) => {
    vxlan.createTunnel({ name: `t${k}`, src: LOCAL, dst, vni: VNI });
    engine.setInterfaceState(`t${k}`, { adminUp: true });
    l2.addBridgeMember(10, { interface: `t${k}`, splitHorizonGroup: 1 });
  });
});

describe('L2 overlay: tunnels in a bridge domain', () => {
  it('replicates a broadcast head-end: one outer packet per remote VTEP, byte for byte', async () => {
    const arp = ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: HOST, type: 0x0806 }, Buffer.alloc(46, 0x11));
    pg.capture('pgU', 100);
    pg.capture('pgIn', 100);
    await send('pgIn', [arp]);
    const out = pg.captured('pgU');
    expect(out.map(outerDst).sort()).toEqual(REMOTES);
    // Each copy is its own outer packet: its own IPv4 ID (DF is off), the same source port.
    expect(new Set(out.map((f) => f.readUInt16BE(18))).size).toBe(4);
    for (const f of out) {
      const expected = vxlanFrame(
        { dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: LOCAL, dst: outerDst(f), sport: f.readUInt16BE(34), id: f.readUInt16BE(18), vni: VNI },
        arp,
      );
      expect(f.toString('hex')).toBe(expected.toString('hex'));
    }
    expect(pg.captured('pgIn')).toHaveLength(0); // not back to where it came from
    REMOTES.forEach((_, k) => expect(txPackets(`t${k}`), `t${k}`).toBe(1n));
    expectNoLeak();
  });

  it('learns a remote MAC on its tunnel; known unicast then goes to that tunnel only', async () => {
    pg.capture('pgU', 100);
    pg.capture('pgIn', 100);
    // Remote host 2 (behind 198.18.0.13) answers the local host.
    const reply = innerFrame({ srcMac: remoteHost(2), dstMac: HOST, size: 80 });
    await send('pgU', [vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: REMOTES[2]!, dst: LOCAL, sport: 50123, vni: VNI }, reply)]);
    // HOST was learned on pgIn by the broadcast: delivered there only, never to another tunnel.
    expect(pg.captured('pgIn').map((f) => f.toString('hex'))).toEqual([reply.toString('hex')]);
    expect(pg.captured('pgU')).toHaveLength(0);
    const fib = Object.fromEntries(l2.showL2fib(10).map((e) => [e.mac, e.interface]));
    expect(fib).toMatchObject({ [HOST]: 'pgIn', [remoteHost(2)]: 't2' });

    const before = REMOTES.map((_, k) => txPackets(`t${k}`));
    const toRemote = innerFrame({ srcMac: HOST, dstMac: remoteHost(2), size: 90 });
    await send('pgIn', [toRemote, toRemote]);
    const out = pg.captured('pgU');
    expect(out.map(outerDst)).toEqual([REMOTES[2], REMOTES[2]]);
    expect(out[0]!.subarray(50).toString('hex')).toBe(toRemote.toString('hex'));
    expect(REMOTES.map((_, k) => txPackets(`t${k}`) - before[k]!)).toEqual([0n, 0n, 2n, 0n]);
    expectNoLeak();
  });

  it('decap hands an untagged inner frame straight to l2-fwd (the tunnel is a plain member); a tagged one goes through ethernet-input; both arrive byte for byte', async () => {
    const nodes = ['ethernet-input', 'l2-fwd'];
    const packets = (n: string) => engine.statsSegment().nodes().filter((x) => x.name === n).reduce((a, x) => a + x.vectors, 0n);
    const outer = (inner: Buffer) => vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: REMOTES[1]!, dst: LOCAL, sport: 50125, vni: VNI }, inner);
    const untagged = innerFrame({ srcMac: remoteHost(1), dstMac: HOST, size: 80 });
    const tagged = ethernet({ dst: HOST, src: remoteHost(1), vlans: [{ vid: 100 }], type: 0x0800 }, untagged.subarray(14));
    for (const [inner, ethernetInputs] of [[untagged, 1n], [tagged, 2n]] as const) {
      pg.capture('pgIn', 10);
      const before = nodes.map(packets);
      await send('pgU', [outer(inner)]);
      // The outer packet meets ethernet-input on pgU in both cases.
      expect(nodes.map((n, k) => packets(n) - before[k]!), `${inner === tagged ? 'tagged' : 'untagged'}`).toEqual([ethernetInputs, 1n]);
      expect(pg.captured('pgIn').map((f) => f.toString('hex'))).toEqual([inner.toString('hex')]);
    }
    // In one vector (the decap fast path then sees the tagged frame right after an untagged one
    // with the same outer headers): still only the tagged one through ethernet-input.
    pg.capture('pgIn', 10);
    const before = nodes.map(packets);
    await send('pgU', [outer(untagged), outer(tagged), outer(untagged), outer(untagged)]);
    expect(nodes.map((n, k) => packets(n) - before[k]!)).toEqual([5n, 4n]);
    // (The tagged frame takes a longer path through the graph, so it may arrive last.)
    expect(pg.captured('pgIn').map((f) => f.toString('hex')).sort()).toEqual([untagged, tagged, untagged, untagged].map((f) => f.toString('hex')).sort());
    // An l2-input feature on the tunnel (an input ACL) brings l2-input back into the path.
    acl.setAcl('tunnel-in', [{ action: 'permit' }]);
    acl.applyAcls('t1', { input: ['tunnel-in'] });
    try {
      pg.capture('pgIn', 10);
      const before = ['l2-input', 'acl-l2-in', 'l2-fwd'].map(packets);
      await send('pgU', [outer(untagged)]);
      expect(['l2-input', 'acl-l2-in', 'l2-fwd'].map((n, k) => packets(n) - before[k]!)).toEqual([1n, 1n, 1n]);
      expect(pg.captured('pgIn').map((f) => f.toString('hex'))).toEqual([untagged.toString('hex')]);
    } finally {
      acl.applyAcls('t1', {});
    }
    expectNoLeak();
  });

  it('a frame to an unknown MAC from a tunnel is flooded to local ports only (split horizon)', async () => {
    pg.capture('pgU', 100);
    pg.capture('pgIn', 100);
    const unknown = innerFrame({ srcMac: remoteHost(0), dstMac: '02:cc:00:00:00:99', size: 70 });
    await send('pgU', [vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: REMOTES[0]!, dst: LOCAL, sport: 50124, vni: VNI }, unknown)]);
    expect(pg.captured('pgIn')).toHaveLength(1);
    expect(pg.captured('pgU')).toHaveLength(0);
    expect(l2.showL2fib(10).find((e) => e.mac === remoteHost(0))?.interface).toBe('t0');
    expectNoLeak();
  });
});
