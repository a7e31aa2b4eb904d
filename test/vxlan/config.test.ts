// VXLAN tunnels in the declarative config: created by apply, validated with paths, re-created
// when an own field changes, removed by difference; `show vxlan tunnel` (JSON and text).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { command } from '../../src/feature.js';
import type { TunnelRow } from '../../graph/vxlan/vxlan.feature.js';
import { expectNoLeak } from '../helpers/dataplane.js';

let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
});
afterAll(() => dp.stop());

const tunnels = (...extra: Record<string, unknown>[]) => ({
  interfaces: [
    { type: 'pg', name: 'pg0' },
    { type: 'vxlan', name: 'vx1', src: '198.18.0.1', dst: '198.18.0.2', vni: 100 },
    { type: 'vxlan', name: 'vx2', src: '2001:db8::1', dst: '2001:db8::2', vni: 200, dstPort: 8472, ttl: 9, mtu: 8930 },
    ...extra,
  ],
});

async function applyError(config: unknown): Promise<string> {
  try {
    await dp.apply(config);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('apply succeeded');
}

describe('vxlan in the config', () => {
  it('creates tunnels after the other interfaces, with defaults and the common fields applied', async () => {
    const r = await dp.apply(tunnels());
    expect(r.changes).toEqual([
      'create interface pg0 (pg)',
      'create interface vx1 (vxlan)',
      'create interface vx2 (vxlan, mtu 8930)',
      'set interface state pg0 up',
      'set interface state vx1 up',
      'set interface state vx2 up',
    ]);
    const rows = (await dp.command('show vxlan tunnel')) as TunnelRow[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ name: 'vx1', src: '198.18.0.1', dst: '198.18.0.2', vni: 100, dstPort: 4789, encapVrf: 0, encapVrfFound: true, ttl: 64, df: false, family: 'ip4', adminUp: true, mtu: 1450, mode: 'l3' });
    expect(rows[1]).toMatchObject({ name: 'vx2', family: 'ip6', dstPort: 8472, ttl: 9, mtu: 8930 });
    expect(rows[0]!.counters).toEqual({ rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: 0 });
    const text = command('show vxlan tunnel')!.format!(rows, {});
    expect(text).toContain('vx1 src 198.18.0.1 dst 198.18.0.2 vni 100 dst-port 4789 encap-vrf 0 ttl 64');
    expect(text).toContain('vx2 src 2001:db8::1 dst 2001:db8::2 vni 200 dst-port 8472 encap-vrf 0 ttl 9');
    expect(text).toContain('up, mode l3, mtu 1450');
    await expect(dp.command('show vxlan tunnel', { name: 'nope' })).rejects.toThrow(/^name: no VXLAN tunnel 'nope'/);
  });

  it('an unchanged apply touches nothing; a changed VNI re-creates only that tunnel', async () => {
    expect((await dp.apply(tunnels())).changes).toEqual([]);
    const next = tunnels();
    (next.interfaces[1] as { vni: number }).vni = 101;
    const before = dp.interfaces.get('vx2').index;
    const r = await dp.apply(next);
    expect(r.changes).toEqual(['delete interface vx1 (vxlan)', 'create interface vx1 (vxlan)', 'set interface state vx1 up']);
    expect(dp.interfaces.get('vx2').index).toBe(before);
    expect(((await dp.command('show vxlan tunnel', { name: 'vx1' })) as TunnelRow[])[0]!.vni).toBe(101);
  });

  it('refuses invalid tunnels naming the path, changing nothing', async () => {
    const bad = async (t: Record<string, unknown>) => applyError(tunnels({ type: 'vxlan', name: 'vx3', ...t }));
    expect(await bad({ src: '198.18.0.1', dst: '2001:db8::9', vni: 1 })).toBe('config: interfaces[3].dst: is IPv6 but src is IPv4');
    expect(await bad({ src: '198.18.0.1', vni: 1 })).toMatch(/^config: interfaces\[3\]\.dst: Required/);
    expect(await bad({ src: '198.18.0.1', dst: '198.18.0.3', vni: 16777216 })).toMatch(/^config: interfaces\[3\]\.vni: /);
    expect(await bad({ src: '198.18.0.1', dst: '198.18.0.3', vni: 1, dstPort: 4790 })).toBe('config: interfaces[3].dstPort: must be 4789 or 8472 (the ports Quiver decapsulates)');
    expect(await bad({ src: '198.18.0.1', dst: '198.18.0.3', vni: 1, colour: 'red' })).toMatch(/^config: interfaces\[3\]\.colour: /);
    expect(await bad({ src: '2001:db8::1', dst: '2001:db8::3', vni: 1, df: true })).toBe('config: interfaces[3].df: applies to an IPv4 underlay only (IPv6 never fragments in the network)');
    expect(await bad({ src: '198.18.0.1', dst: '198.18.0.2', vni: 100 })).toMatch(/^config: interfaces\[3\]\.vni: interfaces\[1\] already carries VNI 100/);
    expect(await bad({ src: '198.18.0.1', dst: '198.18.0.3', vni: 1, encapVrf: 7 })).toBe('config: interfaces[3].encapVrf: table 7 is not in vrfs');
    expect(dp.interfaces.list().map((i) => i.name).sort()).toEqual(['pg0', 'vx1', 'vx2']);
  });

  it('an encap table declared in vrfs: the tunnel is created before the table and uses it once it exists', async () => {
    const cfg = {
      ...tunnels({ type: 'vxlan', name: 'vx3', src: '198.18.0.1', dst: '198.18.0.3', vni: 1, encapVrf: 42 }),
      vrfs: [{ id: 42 }],
    };
    const r = await dp.apply(cfg);
    expect(r.changes.indexOf('create interface vx3 (vxlan)')).toBeLessThan(r.changes.findIndex((c) => c.includes('42')));
    const row = ((await dp.command('show vxlan tunnel', { name: 'vx3' })) as TunnelRow[])[0]!;
    expect(row).toMatchObject({ encapVrf: 42, encapVrfFound: true, adminUp: true });
    // No packet was sent yet, so nothing was dropped for want of the table.
    expect(dp.stats.errors(true).find((e) => e.node === 'vxlan4-encap' && e.name === 'no-encap-table')!.count).toBe(0n);
  });

  it('removing a tunnel from the config deletes its interface', async () => {
    const r = await dp.apply({ interfaces: [{ type: 'pg', name: 'pg0' }] });
    expect(r.changes.filter((c) => c.startsWith('delete interface'))).toEqual([
      'delete interface vx1 (vxlan)', 'delete interface vx2 (vxlan)', 'delete interface vx3 (vxlan)',
    ]);
    expect(await dp.command('show vxlan tunnel')).toEqual([]);
    expectNoLeak();
  });
});
