// The bridge's short path over pg: a plain member (no tag rewrite, no l2-input feature) has
// ethernet-input hand its frames straight to l2-fwd, and a tx member without egress rewrite or
// l2-output feature gets them from l2-fwd straight into its tx node (pg-output here), past
// interface-output, which sees only frames for a down interface (and drops them). Each thing that
// needs l2-input or l2-output (a tag rewrite either way, an ACL on either arc) brings the node
// back for that interface only, and removing it restores the short path. Frames compare byte
// for byte; the arcs' packet counters say which way they went.
import { describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as vlan from '../../graph/l2/vlan.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import * as engine from '../../src/engine.js';
import { arcPackets, clearCaptures, errorCount, expectFrames, pgUp, send } from './helpers.js';

useEngine();

const A = '02:00:00:00:da:01';
const B = '02:00:00:00:db:01';
const payload = ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 7, dport: 9 });
const ARCS = [
  ['ethernet-input', 'l2-fwd'],
  ['ethernet-input', 'l2-input'],
  ['l2-fwd', 'pg-output'],
  ['l2-fwd', 'l2-output'],
] as const;

/** Sends one frame and returns how many packets took each arc of ARCS meanwhile. */
async function arcsOf(intf: string, frame: Buffer): Promise<Record<string, number>> {
  const before = ARCS.map(([f, t]) => arcPackets(f, t));
  await send(intf, [frame]);
  return Object.fromEntries(ARCS.map(([f, t], k) => [`${f} -> ${t}`, Number(arcPackets(f, t) - before[k]!)]));
}
const path = (input: 'l2-fwd' | 'l2-input', output: 'pg-output' | 'l2-output') =>
  Object.fromEntries(ARCS.map(([f, t]) => [`${f} -> ${t}`, (f === 'ethernet-input' ? t === input : t === output) ? 1 : 0]));

describe('bridge short path', () => {
  it('skips l2-input and l2-output for plain members, and only for them', async () => {
    pgUp('da', 'db');
    l2.createBridgeDomain({ id: 70 });
    l2.addBridgeMember(70, { interface: 'da' });
    l2.addBridgeMember(70, { interface: 'db' });
    const aToB = ethernet({ src: A, dst: B }, payload);
    const bToA = ethernet({ src: B, dst: A }, payload);
    await send('db', [ethernet({ src: B, dst: 'ff:ff:ff:ff:ff:ff' }, payload)]); // B is learned on db
    clearCaptures('da', 'db');

    expect(await arcsOf('da', aToB)).toEqual(path('l2-fwd', 'pg-output'));
    expectFrames('db', [aToB]);

    // Ingress push on da (egress pop back): da's frames need l2-input, frames to da l2-output.
    vlan.setTagRewrite('da', { op: 'push-1', vlans: [300] });
    clearCaptures('da', 'db');
    expect(await arcsOf('da', aToB)).toEqual(path('l2-input', 'pg-output'));
    const tagged = ethernet({ src: A, dst: B, vlans: [{ vid: 300 }] }, payload);
    expectFrames('db', [tagged]);
    expect(await arcsOf('db', ethernet({ src: B, dst: A, vlans: [{ vid: 300 }] }, payload))).toEqual(path('l2-fwd', 'l2-output'));
    expectFrames('da', [bToA]);
    vlan.setTagRewrite('da', { op: 'disable' });
    clearCaptures('da', 'db');
    expect(await arcsOf('da', aToB)).toEqual(path('l2-fwd', 'pg-output'));
    expectFrames('db', [aToB]);

    // An input ACL on da, an output ACL on db: each brings its node back, and applies.
    acl.setAcl('direct-in', [{ action: 'deny', protocol: 'udp', dstPort: 9 }]);
    acl.applyAcls('da', { input: ['direct-in'] });
    clearCaptures('db');
    expect(await arcsOf('da', aToB)).toEqual({ ...path('l2-input', 'pg-output'), 'l2-fwd -> pg-output': 0 });
    expectFrames('db', []);
    acl.applyAcls('da', {});
    acl.setAcl('direct-out', [{ action: 'permit' }]);
    acl.applyAcls('db', { output: ['direct-out'] });
    expect(await arcsOf('da', aToB)).toEqual(path('l2-fwd', 'l2-output'));
    expectFrames('db', [aToB]);
    acl.applyAcls('db', {});
    clearCaptures('db');
    expect(await arcsOf('da', aToB)).toEqual(path('l2-fwd', 'pg-output'));
    expectFrames('db', [aToB]);

    // A down tx interface: interface-output takes the frame and counts the drop.
    engine.setInterfaceState('db', { adminUp: false });
    clearCaptures('db');
    const toDown = arcPackets('l2-fwd', 'interface-output');
    const downDrops = errorCount('interface-output', 'admin-down');
    expect(await arcsOf('da', aToB)).toEqual({ ...path('l2-fwd', 'pg-output'), 'l2-fwd -> pg-output': 0 });
    expect(arcPackets('l2-fwd', 'interface-output') - toDown).toBe(1n);
    expect(errorCount('interface-output', 'admin-down') - downDrops).toBe(1n);
    expectFrames('db', []);
    engine.setInterfaceState('db', { adminUp: true });

    // Out of the bridge and back: the short path follows membership.
    l2.removeBridgeMember('da');
    l2.addBridgeMember(70, { interface: 'da' });
    clearCaptures('db');
    expect(await arcsOf('da', aToB)).toEqual(path('l2-fwd', 'pg-output'));
    expectFrames('db', [aToB]);
    expectNoLeak();
  });
});
