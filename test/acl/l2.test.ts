// ACLs on bridged traffic (l2-input-features and l2-output-features arcs) over pg, byte for
// byte: frames are forwarded unchanged or dropped by rule, VLAN-tagged IP is classified on its
// inner header, non-IP frames (ARP) pass, and a reflexive session works across a bridge.
import { beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import * as bridge from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet } from '../helpers/packets.js';
import { ipv4, ipv6, tcp, udp } from './gen.js';
import { captured, clear, deltas, expectFrames, send } from './pg.js';

useEngine();

const M1 = '02:00:00:00:01:01', M2 = '02:00:00:00:02:02';
beforeAll(() => {
  bridge.createBridgeDomain({ id: 10, learn: false });
  for (const name of ['br1', 'br2', 'br3']) {
    pg.createPgInterface({ name });
    engine.setInterfaceState(name, { adminUp: true });
    bridge.addBridgeMember(10, { interface: name });
    pg.capture(name, 100000);
  }
  bridge.addStaticMac(10, { mac: M1, interface: 'br1' });
  bridge.addStaticMac(10, { mac: M2, interface: 'br2' });
});

const h1 = '198.18.5.1', h2 = '198.18.5.2';
const f12 = (p: Buffer, type = 0x0800) => ethernet({ src: M1, dst: M2, type }, p); // br1 -> br2
const f21 = (p: Buffer, type = 0x0800) => ethernet({ src: M2, dst: M1, type }, p); // br2 -> br1

describe('ACL on bridged frames', () => {
  it('filters on l2 input: frames leave untouched or are dropped; ARP passes', async () => {
    acl.setAcl('l2in', [{ action: 'permit', protocol: 'tcp', dstPort: 80 }, { action: 'permit', ipVersion: 6, protocol: 'udp' }]);
    acl.applyAcls('br1', { input: ['l2in'] });
    clear('br2');
    const arp = f12(Buffer.alloc(28, 1), 0x0806);
    const web = f12(ipv4({ src: h1, dst: h2 }, tcp(1000, 80)));
    const ssh = f12(ipv4({ src: h1, dst: h2 }, tcp(1000, 22)));
    const tagged = ethernet({ src: M1, dst: M2, vlans: [{ vid: 5 }] }, ipv4({ src: h1, dst: h2 }, tcp(1000, 80)));
    const taggedSsh = ethernet({ src: M1, dst: M2, vlans: [{ vid: 5 }] }, ipv4({ src: h1, dst: h2 }, tcp(1000, 22)));
    const v6 = f12(ipv6({ src: '2001:db8:5::1', dst: '2001:db8:5::2' }, udp(1, 2)), 0x86dd);
    const d = await deltas([['acl-l2-in', 'non-ip'], ['acl-l2-in', 'denied-by-default']], () => send('br1', [arp, web, ssh, tagged, taggedSsh, v6]));
    expectFrames(await captured('br2', 4), [arp, web, tagged, v6]);
    expect(d).toEqual([1, 2]);
    acl.applyAcls('br1', {});
    expectNoLeak();
  });

  it('filters on l2 output, per member: a flooded frame is judged on each port', async () => {
    acl.setAcl('l2out', [{ action: 'deny', protocol: 'udp', dstPort: 9 }, { action: 'permit' }]);
    acl.applyAcls('br3', { output: ['l2out'] });
    clear('br2', 'br3');
    const flood = (p: Buffer) => ethernet({ src: M1, dst: 'ff:ff:ff:ff:ff:ff' }, p);
    const drop = flood(ipv4({ src: h1, dst: '198.18.5.255' }, udp(1, 9)));
    const keep = flood(ipv4({ src: h1, dst: '198.18.5.255' }, udp(1, 10)));
    await send('br1', [drop, keep]);
    expectFrames(await captured('br2', 2), [drop, keep]); // no ACL on br2
    expectFrames(await captured('br3', 1), [keep]);
    acl.applyAcls('br3', {});
    expectNoLeak();
  });

  it('keeps reflexive sessions for bridged flows', async () => {
    acl.setAcl('l2r', [{ action: 'permit+reflect', src: `${h1}/32` }]);
    acl.setAcl('l2none', []);
    acl.applyAcls('br1', { input: ['l2r'], output: ['l2none'] });
    clear('br1', 'br2');
    const q = f12(ipv4({ src: h1, dst: h2 }, udp(7000, 53)));
    await send('br1', [q]);
    expectFrames(await captured('br2', 1), [q]);
    const reply = f21(ipv4({ src: h2, dst: h1 }, udp(53, 7000)));
    const other = f21(ipv4({ src: h2, dst: h1 }, udp(53, 7001)));
    await send('br2', [reply, other]);
    expectFrames(await captured('br1', 1), [reply]);
    expect(acl.aclSessions().sessions[0]).toMatchObject({ interface: 'br1', src: h1, dst: h2, srcPort: 7000, dstPort: 53 });
    acl.applyAcls('br1', {});
    expectNoLeak();
  });
});
