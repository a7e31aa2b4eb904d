// Bridge domains, sub-interfaces and BVIs in the declarative config: validation with paths,
// apply by difference (only what changed), traffic through what was applied, the quiverctl
// commands (show bridge-domain, show l2fib, clear l2fib).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import * as l2 from '../../graph/l2/bridge.js';

let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
});
afterAll(() => dp.stop());

const base = () => ({
  interfaces: [
    { type: 'pg', name: 'trunk' },
    { type: 'pg', name: 'access' },
    { type: 'pg', name: 'other' },
    { type: 'sub', name: 'trunk.100', parent: 'trunk', outerVlan: 100 },
    { type: 'bvi', name: 'bvi10', mac: '02:00:00:00:10:10' },
  ],
  bridgeDomains: [
    {
      id: 10,
      macAge: 60,
      members: [
        { interface: 'trunk.100', tagRewrite: { op: 'pop-1' } },
        { interface: 'access' },
        { interface: 'bvi10', bvi: true },
      ],
      staticMacs: [{ mac: '02:00:00:00:0a:0a', interface: 'access' }],
    },
  ],
});

async function send(intf: string, frame: Buffer): Promise<void> {
  const name = `c${Math.random().toString(36).slice(2, 8)}`;
  dp.pg.addStream(intf, { name, packets: [frame], count: 1, enabled: true });
  await dp.pg.waitStream(name);
  await waitFor(() => dp.buffers(true).inFlight === 0, 5000, 'buffers back');
  dp.pg.deleteStream(name);
}

describe('bridge domains in the config', () => {
  it('applies sub-interfaces, a BVI and a bridge domain, and bridges through them', async () => {
    const r = await dp.apply(base());
    expect(r.changes).toEqual(
      expect.arrayContaining([
        'create interface trunk.100 (sub)',
        'create interface bvi10 (bvi, mac 02:00:00:00:10:10)',
        'create bridge domain 10',
        'add trunk.100 in bridge domain 10',
        'add static mac 02:00:00:00:0a:0a -> access in bridge domain 10',
      ]),
    );
    // Interfaces are created before the bridge takes them, and come up last.
    const order = (s: string) => r.changes.indexOf(s);
    expect(order('create interface trunk.100 (sub)')).toBeLessThan(order('add trunk.100 in bridge domain 10'));
    expect(order('add trunk.100 in bridge domain 10')).toBeLessThan(order('set interface state trunk.100 up'));
    const [bd] = l2.showBridgeDomain(10, { detail: true });
    expect(bd).toMatchObject({ id: 10, macAge: 60, bvi: 'bvi10', static: 2 });
    expect(bd!.members.find((m) => m.interface === 'trunk.100')!.tagRewrite).toMatchObject({ op: 'pop-1' });

    for (const i of ['trunk', 'access']) dp.pg.capture(i, 10);
    const payload = ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2 });
    await send('trunk', ethernet({ src: '02:00:00:00:0b:0b', dst: '02:00:00:00:0a:0a', vlans: [{ vid: 100 }] }, payload));
    expect(dp.pg.captured('access').map((f) => f.toString('hex'))).toEqual([
      ethernet({ src: '02:00:00:00:0b:0b', dst: '02:00:00:00:0a:0a' }, payload).toString('hex'),
    ]);
    await send('access', ethernet({ src: '02:00:00:00:0a:0a', dst: '02:00:00:00:0b:0b' }, payload));
    expect(dp.pg.captured('trunk').map((f) => f.toString('hex'))).toEqual([
      ethernet({ src: '02:00:00:00:0a:0a', dst: '02:00:00:00:0b:0b', vlans: [{ vid: 100 }] }, payload).toString('hex'),
    ]);
    expectNoLeak();
  });

  it('changes only what differs, and serves the show and clear commands', async () => {
    const next = base();
    next.bridgeDomains[0]!.macAge = 120;
    next.bridgeDomains[0]!.members[1] = { interface: 'access', splitHorizonGroup: 2 } as never;
    next.bridgeDomains[0]!.members.push({ interface: 'other' });
    next.bridgeDomains[0]!.staticMacs = [];
    const r = await dp.apply(next);
    expect(r.changes).toEqual([
      'delete static mac 02:00:00:00:0a:0a from bridge domain 10',
      'set bridge domain 10 {"learn":true,"forward":true,"uuFlood":true,"flood":true,"macAge":120,"macLimit":0}',
      'update access in bridge domain 10',
      'add other in bridge domain 10',
    ]);
    const rows = (await dp.command('show bridge-domain', { id: '10', detail: true })) as l2.BridgeDomainInfo[];
    expect(rows[0]!.members.map((m) => [m.interface, m.splitHorizonGroup])).toEqual([
      ['trunk.100', 0], ['access', 2], ['bvi10', 0], ['other', 0],
    ]);
    const fib = (await dp.command('show l2fib', { bd: '10' })) as l2.L2FibEntry[];
    // 0a:0a was static while it talked: deleting the entry forgot it.
    expect(fib.map((e) => `${e.mac} ${e.interface} ${e.static ? 'static' : 'learned'}`)).toEqual([
      '02:00:00:00:0b:0b trunk.100 learned',
      '02:00:00:00:10:10 bvi10 static',
    ]);
    expect(await dp.command('clear l2fib', {})).toEqual({ removed: 1 });
    // Removing the section tears it down: members leave, then the domain goes.
    const gone = await dp.apply({ interfaces: base().interfaces });
    expect(gone.changes).toEqual([
      'remove trunk.100 from bridge domain 10', 'remove access from bridge domain 10', 'remove bvi10 from bridge domain 10',
      'remove other from bridge domain 10', 'delete bridge domain 10',
    ]);
    expect(l2.showBridgeDomain()).toEqual([]);
    expect(dp.interfaces.get('trunk.100').mode).toBe('l3');
    expect(l2.l2InterfaceConfig('trunk.100').tagRewrite).toBeNull();
  });

  it('re-creating a parent re-creates its sub-interface, with its bridge membership and tag rewrite', async () => {
    await dp.apply(base());
    const next = base();
    (next.interfaces[0] as Record<string, unknown>).worker = 0; // a pg's worker: re-created
    const r = await dp.apply(next);
    const order = (x: string) => r.changes.indexOf(x);
    for (const step of ['remove trunk.100 from bridge domain 10', 'delete interface trunk.100 (sub)', 'delete interface trunk (pg)',
      'create interface trunk (pg)', 'create interface trunk.100 (sub)', 'add trunk.100 in bridge domain 10', 'set interface state trunk.100 up'])
      expect(r.changes, step).toContain(step);
    expect(order('delete interface trunk.100 (sub)')).toBeLessThan(order('delete interface trunk (pg)'));
    expect(order('create interface trunk (pg)')).toBeLessThan(order('create interface trunk.100 (sub)'));
    expect(dp.interfaces.get('trunk.100')).toMatchObject({ mode: 'bridge', adminUp: true });
    const [bd] = l2.showBridgeDomain(10, { detail: true });
    expect(bd!.members.find((m) => m.interface === 'trunk.100')!.tagRewrite).toMatchObject({ op: 'pop-1' });
    dp.pg.capture('access', 10);
    const payload = ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2 });
    await send('trunk', ethernet({ src: '02:00:00:00:0b:0b', dst: '02:00:00:00:0a:0a', vlans: [{ vid: 100 }] }, payload));
    expect(dp.pg.captured('access').map((f) => f.toString('hex'))).toEqual([
      ethernet({ src: '02:00:00:00:0b:0b', dst: '02:00:00:00:0a:0a' }, payload).toString('hex'),
    ]);
    await dp.apply({ interfaces: base().interfaces });
    expectNoLeak();
  });

  it('refuses an invalid config with every issue and its path, changing nothing', async () => {
    const bad = base();
    bad.interfaces.push({ type: 'sub', name: 'trunk.100b', parent: 'trunk', outerVlan: 100 } as never);
    bad.bridgeDomains.push({ id: 10, members: [{ interface: 'access' }, { interface: 'nope' }], staticMacs: [] } as never);
    bad.bridgeDomains[0]!.members[0] = { interface: 'trunk.100', tagRewrite: { op: 'pop-2' } } as never;
    bad.bridgeDomains[0]!.members.push({ interface: 'other', bvi: true } as never);
    bad.bridgeDomains[0]!.staticMacs.push({ mac: '02:00:00:00:0c:0c', interface: 'trunk' });
    await expect(dp.apply(bad)).rejects.toThrow(
      new RegExp(
        [
          "interfaces\\[5\\]\\.outerVlan: 'trunk.100' already matches these tags on 'trunk'",
          'bridgeDomains\\[0\\]\\.members\\[0\\]\\.tagRewrite\\.op: pop-2 needs a sub-interface with 2 tag\\(s\\)',
          "bridgeDomains\\[0\\]\\.members\\[3\\]\\.bvi: 'other' is not a BVI interface",
          "bridgeDomains\\[0\\]\\.staticMacs\\[1\\]\\.interface: 'trunk' is not a member of bridge domain 10",
          'bridgeDomains\\[1\\]\\.id: bridge domain 10 is already bridgeDomains\\[0\\]',
          "bridgeDomains\\[1\\]\\.members\\[0\\]\\.interface: 'access' is already a member",
          "bridgeDomains\\[1\\]\\.members\\[1\\]\\.interface: no interface 'nope'",
        ].join('[\\s\\S]*'),
      ),
    );
    await expect(dp.apply({ ...base(), bridgeDomains: [{ id: 1, bogus: true }] })).rejects.toThrow(/bridgeDomains\[0\]\.bogus: unknown key/);
    await expect(dp.apply({ ...base(), xconnect: [{ rx: 'access', tx: 'other' }] })).rejects.toThrow(
      /bridgeDomains\[0\]\.members\[1\]\.interface: 'access' is cross-connected/,
    );
    expect(l2.showBridgeDomain()).toEqual([]);
  });
});
