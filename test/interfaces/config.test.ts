// af_xdp, af_packet and tap as config interface types: `apply` creates them (mixed drivers on
// one path), traffic flows, a change is applied by difference, a removal detaches from Linux,
// and bad specs are refused with their path before anything changes.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { type Lab, createLab, destroyLab } from '../../src/lab/lab.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';
import { linkInfo, ping } from '../helpers/netns.js';

let dp: Dataplane;
let veths: Lab;
let bare: Lab;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
  veths = createLab({ prefix: 'qd-', hosts: 2, offloads: 'off' });
  bare = createLab({ prefix: 'qd-', hosts: 1, links: 'none' });
});
afterAll(() => {
  dp.stop();
  destroyLab(veths);
  destroyLab(bare);
});

const config = (extra: Record<string, unknown> = {}) => {
  const [a, b] = veths.hosts as [Lab['hosts'][0], Lab['hosts'][0]];
  const t = bare.hosts[0]!;
  return {
    interfaces: [
      { type: 'af_packet', name: 'qa', hostInterface: a.quiverSide, ...extra },
      { type: 'af_xdp', name: 'qb', hostInterface: b.quiverSide, ringSize: 512 },
      { type: 'tap', name: 'qt', hostName: 'eth0', netns: t.netns, addresses: [t.ip4Prefix, t.ip6Prefix], mtu: 1400 },
    ],
    xconnect: [{ rx: 'qa', tx: 'qb' }],  // bidirectional by default
  };
};

describe('drivers in the declarative config', () => {
  it('creates af_packet, af_xdp and tap interfaces from a config; af_packet <-> af_xdp carries ping', async () => {
    await dp.apply(config());
    const [a, b] = veths.hosts as [Lab['hosts'][0], Lab['hosts'][0]];
    await waitFor(() => dp.interfaces.get('qa').linkUp && dp.interfaces.get('qb').linkUp, 3000, 'links up');
    await ping(a, b, 4);
    await ping(b, a, 6);
    const t = bare.hosts[0]!;
    const tapInfo = linkInfo('eth0', t.netns);
    expect(tapInfo.mtu).toBe(1400);
    expect(tapInfo.flags).not.toContain('NO-CARRIER');  // state up (the default) = carrier
    expect(execFileSync('ip', ['-n', t.netns, 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' })).toContain(t.ip4Prefix);
    expect(dp.interfaces.get('qb').details).toMatchObject({ xdpMode: 'native', ringSize: 512 });
    expectNoLeak();
  });

  it('applies a change by difference and a removal detaches from Linux', async () => {
    const [a, b] = veths.hosts as [Lab['hosts'][0], Lab['hosts'][0]];
    const before = dp.interfaces.get('qa').index;
    const next = config();
    next.interfaces[0] = { ...next.interfaces[0]!, mtu: 1400 } as (typeof next.interfaces)[0];
    await dp.apply(next);
    expect(dp.interfaces.get('qa').index).toBe(before);  // changed in place, not re-created
    expect(linkInfo(a.quiverSide).mtu).toBe(1400);
    await dp.apply({ interfaces: [next.interfaces[0]] });
    expect(() => dp.interfaces.get('qb')).toThrow();
    expect(linkInfo(b.quiverSide).xdp).toBeUndefined();
    expect(execFileSync('ip', ['-n', bare.hosts[0]!.netns, '-br', 'link'], { encoding: 'utf8' })).not.toContain('eth0');
    expectNoLeak();
  });

  it('refuses bad interface specs naming the path, changing nothing', async () => {
    const running = dp.config();
    await expect(dp.apply({ interfaces: [{ type: 'af_xdp', name: 'x', hostInterface: 'qd-ghost' }] })).rejects.toThrow(
      "interfaces[0].hostInterface: no Linux interface 'qd-ghost'",
    );
    const h = veths.hosts[0]!.quiverSide;
    await expect(
      dp.apply({ interfaces: [{ type: 'af_packet', name: 'x', hostInterface: h }, { type: 'af_xdp', name: 'y', hostInterface: h }] }),
    ).rejects.toThrow(`interfaces[1].hostInterface: '${h}' is already attached by interfaces[0]`);
    await expect(dp.apply({ interfaces: [{ type: 'tap', name: 't', hostName: 'eth0', netns: 'qd-nowhere' }] })).rejects.toThrow(
      "interfaces[0].netns: no network namespace 'qd-nowhere'",
    );
    await expect(dp.apply({ interfaces: [{ type: 'af_xdp', name: 'x', hostInterface: h, ringSize: 100 }] })).rejects.toThrow(
      /interfaces\[0\]\.ringSize: must be a power of two/,
    );
    expect(dp.config()).toEqual(running);
  });
});
