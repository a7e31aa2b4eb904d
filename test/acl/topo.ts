// A routed pg topology for the ACL tests, and frame helpers: host A behind pgA
// (198.18.0.0/24), router B behind pgB (198.18.1.0/24) towards 198.19.0.0/16. Frames are
// built by hand (gen.ts) and compared byte for byte with what pg captures.
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import * as engine from '../../src/engine.js';
import { ethernet } from '../helpers/packets.js';

export { captured, clear, deltas, errorCount, expectFrames, send } from './pg.js';

export const HOST_A = { ip: '198.18.0.2', mac: '02:00:00:00:0a:02' };
export const ROUTER_B = { ip: '198.18.1.2', mac: '02:00:00:00:0b:02' };
export const FAR = '198.19.0.10'; // beyond router B

export interface Topo {
  macA: string;
  macB: string;
  fromA(p: Buffer): Buffer; // a frame host A sends to pgA
  toB(p: Buffer): Buffer; // the frame pgB sends to router B for IP packet p (TTL already decremented)
  fromB(p: Buffer): Buffer;
  toA(p: Buffer): Buffer;
}

/** workers: the worker polling each interface (multi-worker tests). */
export function routedTopology(a = 'pgA', b = 'pgB', workers: [number, number] | [] = []): Topo {
  for (const [k, [name, addr]] of ([[a, '198.18.0.1/24'], [b, '198.18.1.1/24']] as const).entries()) {
    pg.createPgInterface({ name, worker: workers[k] });
    engine.setInterfaceState(name, { adminUp: true });
    ip.addAddress(name, addr, { announce: false });
    pg.capture(name, 100000);
  }
  ip.addNeighbor({ interface: a, address: HOST_A.ip, mac: HOST_A.mac });
  ip.addNeighbor({ interface: b, address: ROUTER_B.ip, mac: ROUTER_B.mac });
  ip.addRoute({ prefix: '198.19.0.0/16', paths: [{ via: ROUTER_B.ip, interface: b }] });
  const macA = engine.findInterface(a).mac, macB = engine.findInterface(b).mac;
  return {
    macA,
    macB,
    fromA: (p) => ethernet({ dst: macA, src: HOST_A.mac }, p),
    toB: (p) => ethernet({ dst: ROUTER_B.mac, src: macB }, p),
    fromB: (p) => ethernet({ dst: macB, src: ROUTER_B.mac }, p),
    toA: (p) => ethernet({ dst: HOST_A.mac, src: macA }, p),
  };
}

export const HOST6 = { ip: '2001:db8::2', mac: '02:00:00:00:6a:02' };
export const ROUTER6 = { ip: '2001:db8:1::2', mac: '02:00:00:00:6b:02' };
export const FAR6 = '2001:db8:100::10'; // beyond the IPv6 router

/** The same two interfaces with IPv6 too: host A on 2001:db8::/64, 2001:db8:100::/40 via B. */
export function addIpv6(t: Topo, a = 'pgA', b = 'pgB'): Topo {
  ip.addAddress(a, '2001:db8::1/64', { announce: false });
  ip.addAddress(b, '2001:db8:1::1/64', { announce: false });
  ip.addNeighbor({ interface: a, address: HOST6.ip, mac: HOST6.mac });
  ip.addNeighbor({ interface: b, address: ROUTER6.ip, mac: ROUTER6.mac });
  ip.addRoute({ prefix: '2001:db8:100::/40', paths: [{ via: ROUTER6.ip, interface: b }] });
  return t;
}
export const v6 = {
  fromA: (t: Topo, p: Buffer) => ethernet({ dst: t.macA, src: HOST6.mac, type: 0x86dd }, p),
  toB: (t: Topo, p: Buffer) => ethernet({ dst: ROUTER6.mac, src: t.macB, type: 0x86dd }, p),
  fromB: (t: Topo, p: Buffer) => ethernet({ dst: t.macB, src: ROUTER6.mac, type: 0x86dd }, p),
  toA: (t: Topo, p: Buffer) => ethernet({ dst: HOST6.mac, src: t.macA, type: 0x86dd }, p),
};

/** The IPv6 packet as a router forwards it: hop limit - 1. */
export function decHlim(p: Buffer): Buffer {
  const q = Buffer.from(p);
  q[7] = q[7]! - 1;
  return q;
}

/** The IPv4 packet as a router forwards it: TTL - 1, header checksum recomputed from scratch. */
export function decTtl(p: Buffer): Buffer {
  const q = Buffer.from(p);
  q[8] = q[8]! - 1;
  q.writeUInt16BE(0, 10);
  const ihl = (q[0]! & 15) * 4;
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += q.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  q.writeUInt16BE(~sum & 0xffff, 10);
  return q;
}
