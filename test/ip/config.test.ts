// L3 in the declarative config and quiverctl's verbs, through Dataplane: a whole config
// applied (traffic flows), changed by difference (only what changed is touched), refused
// whole when invalid, re-attached when an interface is re-created; show and set commands.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigError } from '../../src/config.js';
import { Dataplane } from '../../src/dataplane.js';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak } from '../helpers/dataplane.js';
import { clear, expectFrames, out, send } from './l3.js';
import * as pg from '../../graph/pg/pg.js';
import { decTtl, ethernet, udp4 } from './packets.js';

let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 } });
});
afterAll(() => dp.stop());

const MAC_A = '02:00:00:00:aa:01', MAC_B = '02:00:00:00:bb:01';
const base = () => ({
  interfaces: [
    { type: 'pg', name: 'ca', mac: MAC_A },
    { type: 'pg', name: 'cb', mac: MAC_B },
    { type: 'pg', name: 'cc' },
  ],
  vrfs: [{ id: 7, name: 'blue', ecmpHash: 'symmetric', interfaces: ['cc'] }],
  addresses: [
    { interface: 'ca', addresses: ['198.18.0.1/24', '2001:db8::1/64'] },
    { interface: 'cb', addresses: ['198.18.1.1/24'] },
    { interface: 'cc', addresses: ['198.18.0.1/24'] }, // same subnet as ca, other table
  ],
  routes: [
    { prefix: '198.19.0.0/16', paths: [{ via: '198.18.1.2', interface: 'cb' }] },
    { table: 7, prefix: '0.0.0.0/0', kind: 'drop' },
  ],
  neighbors: [{ interface: 'cb', address: '198.18.1.2', mac: '02:00:00:00:bb:02' }],
  ip: { icmpRate: 500 },
});

function issues(e: unknown): string[] {
  return (e as ConfigError).issues.map((i) => `${i.path}: ${i.reason}`);
}

describe('L3 config', () => {
  it('applies tables, addresses, routes and neighbors, and traffic flows', async () => {
    const r = await dp.apply(base());
    expect(r.changes).toEqual(expect.arrayContaining([
      'create table 7 (blue)', 'bind cc to table 7', 'add address 198.18.0.1/24 to ca', 'add address 198.18.0.1/24 to cc',
      'route table 0 198.19.0.0/16 via 198.18.1.2 cb', 'route table 7 0.0.0.0/0 drop', 'neighbor 198.18.1.2 on cb is 02:00:00:00:bb:02',
    ]));
    expect(r.changes.indexOf('create table 7 (blue)')).toBeLessThan(r.changes.indexOf('add address 198.18.0.1/24 to cc'));
    expect(ip.tables().find((t) => t.id === 7)).toMatchObject({ name: 'blue', ecmpHash: 'symmetric', interfaces: 1 });
    expect(ip.configure().icmpRate).toBe(500);
    clear('cb');
    const p = udp4({ src: '198.18.0.9', dst: '198.19.4.4', sport: 1, dport: 2 });
    await send('ca', [ethernet({ dst: MAC_A, src: '02:00:00:00:00:09' }, p)]);
    expectFrames(await out('cb', 1), [ethernet({ dst: '02:00:00:00:bb:02', src: MAC_B }, decTtl(p))]);
    expectNoLeak();
  });

  it('changes only what differs', async () => {
    const next = base();
    next.routes[0] = { prefix: '198.19.0.0/16', paths: [{ via: '198.18.1.3', interface: 'cb' }] };
    next.addresses[1] = { interface: 'cb', addresses: ['198.18.1.1/24', '198.18.9.1/24'] };
    next.vrfs[0]!.ecmpHash = 'five-tuple';
    const r = await dp.apply(next);
    expect(r.changes.sort()).toEqual(['add address 198.18.9.1/24 to cb', 'route table 0 198.19.0.0/16 via 198.18.1.3 cb', 'set table 7 ecmp hash five-tuple'].sort());
    expect(ip.fib({ prefix: '198.19.0.0/16' }).entries[0]!.paths).toEqual([{ via: '198.18.1.3', interface: 'cb' }]);
    expect((await dp.apply(next)).changes).toEqual([]);
  });

  it('moves an interface between tables by re-adding its addresses', async () => {
    const next = base();
    next.vrfs[0]!.interfaces = [];
    next.addresses[2] = { interface: 'cc', addresses: ['198.18.5.1/24'] };
    const r = await dp.apply(next);
    expect(r.changes).toEqual(expect.arrayContaining(['delete address 198.18.0.1/24 from cc', 'unbind cc from table 7', 'add address 198.18.5.1/24 to cc']));
    expect(ip.interfaces().find((i) => i.interface === 'cc')).toMatchObject({ table: 0, addresses: ['198.18.5.1/24'] });
    await dp.apply(base());
    expect(ip.interfaces().find((i) => i.interface === 'cc')).toMatchObject({ table: 7, addresses: ['198.18.0.1/24'] });
  });

  it('refuses an invalid config whole, naming every field', async () => {
    const bad = base() as Record<string, unknown> & ReturnType<typeof base>;
    bad.addresses = [...bad.addresses, { interface: 'cb', addresses: ['198.18.1.77/25'] }, { interface: 'nope', addresses: ['198.18.50.1/24'] }];
    bad.routes = [...bad.routes, { table: 9, prefix: '10.0.0.0/8', kind: 'drop' }, { prefix: '198.19.0.0/16', kind: 'drop' }];
    bad.vrfs = [...bad.vrfs, { id: 8, interfaces: ['cc'] }];
    const before = ip.fib({ limit: 100 });
    await expect(dp.apply(bad)).rejects.toThrow();
    const got = await dp.apply(bad).catch(issues);
    expect(got).toEqual(expect.arrayContaining([
      "addresses[3].addresses[0]: 198.18.1.77/25 overlaps 198.18.1.1/24 on cb (table 0)",
      "addresses[4].interface: no interface 'nope'",
      'routes[2].table: table 9 is not in vrfs',
      'routes[3].prefix: table 0 already has 198.19.0.0/16 (routes[0])',
      'vrfs[1].interfaces[0]: cc is already in vrfs[0]',
    ]));
    expect(ip.fib({ limit: 100 })).toEqual(before);
    const syntax = await dp.apply({ ...base(), routes: [{ prefix: '10.0.0.1/8', paths: [{ via: 'x' }] }] }).catch(issues);
    expect(syntax).toEqual(['routes[0].prefix: 10.0.0.1/8 has host bits set']);
  });

  it('re-attaches addresses and routes when an interface is re-created', async () => {
    const next = base();
    (next.interfaces[1] as Record<string, unknown>).streams = [];
    next.interfaces[1] = { type: 'pg', name: 'cb', mac: MAC_B, worker: 0 } as never;
    const r = await dp.apply(next);
    expect(r.changes).toEqual(expect.arrayContaining(['add address 198.18.1.1/24 to cb', 'route table 0 198.19.0.0/16 via 198.18.1.2 cb', 'neighbor 198.18.1.2 on cb is 02:00:00:00:bb:02']));
    expect(ip.fib({ prefix: '198.19.0.0/16' }).entries[0]!.resolved).toEqual([expect.objectContaining({ kind: 'rewrite', interface: 'cb' })]);
    pg.capture('cb', 100);
    const p = udp4({ src: '198.18.0.9', dst: '198.19.4.5', sport: 1, dport: 2 });
    await send('ca', [ethernet({ dst: MAC_A, src: '02:00:00:00:00:09' }, p)]);
    expectFrames(await out('cb', 1), [ethernet({ dst: '02:00:00:00:bb:02', src: MAC_B }, decTtl(p))]);
    expectNoLeak();
  });

  it('serves show and set commands', async () => {
    await dp.apply(base());
    const fibText = await dp.command('show ip fib', { prefix: '198.19.1.1' });
    expect((fibText as ip.FibView).entries.map((e) => e.prefix)).toEqual(['198.19.0.0/16']);
    const added = await dp.command('ip route', { words: ['add', 'table', '7', '10.9.0.0/16', 'via', '198.18.0.2', 'cc'] });
    expect((added as { changes: string[] }).changes).toEqual(['route table 7 10.9.0.0/16 via 198.18.0.2 cc']);
    expect((dp.config().routes as unknown[]).length).toBe(3);
    await dp.command('ip route', { words: ['del', 'table', '7', '10.9.0.0/16'] });
    expect((dp.config().routes as unknown[]).length).toBe(2);
    await dp.command('set interface ip address', { interface: 'cb', address: '2001:db8:1::1/64' });
    expect(ip.interfaces().find((i) => i.interface === 'cb')!.addresses).toContain('2001:db8:1::1/64');
    await dp.command('set interface ip address', { interface: 'cb', address: '2001:db8:1::1/64', del: 'true' });
    expect(ip.interfaces().find((i) => i.interface === 'cb')!.addresses).not.toContain('2001:db8:1::1/64');
    const nb = (await dp.command('show ip neighbors')) as ip.NeighborInfo[];
    expect(nb).toEqual([expect.objectContaining({ interface: 'cb', address: '198.18.1.2', state: 'static' })]);
    await expect(dp.command('ip route', { words: ['add', '10.0.0.0/33'] })).rejects.toThrow(/bad prefix length/);
  });
});
