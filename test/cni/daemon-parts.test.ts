// The daemon-side building blocks on their own: the pod-side configuration of a tap (run
// against a real interface in a real namespace, read back with iproute2) and the state file
// (atomic, survives a reload, refuses a corrupt file).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { podAddressing } from '../../cni/daemon/manager.js';
import { configurePod, podBatch, readPod } from '../../cni/daemon/podnet.js';
import { networkOf } from '../../cni/plugin/spec.js';
import { AttachmentStore } from '../../cni/daemon/store.js';
import type { AttachmentRecord } from '../../cni/protocol.js';
import { createPodNetns, deleteAllPodNetns, inNs, sh } from './netns.js';

const dir = mkdtempSync(join(tmpdir(), 'quiver-cni-parts-'));
afterAll(() => {
  deleteAllPodNetns();
  rmSync(dir, { recursive: true, force: true });
});

describe('pod side of a tap attachment', () => {
  const spec = {
    ifname: 'eth0',
    mtu: 1400,
    mac: '02:00:c6:12:00:05',
    ips: [
      { address: '198.18.20.5/24', gateway: '198.18.20.1' },
      { address: '2001:db8:20::5/64', gateway: '2001:db8:20::1' },
    ],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '198.19.0.0/16', gw: '198.18.20.254' }, { dst: '::/0' }],
  };

  it('is one iproute2 batch: MAC, MTU, addresses (IPv6 without DAD), up, routes via the IPAM gateway', () => {
    expect(podBatch({ netns: '/x', ...spec })).toBe(
      [
        'link set dev eth0 address 02:00:c6:12:00:05',
        'link set dev eth0 mtu 1400',
        'addr add 198.18.20.5/24 dev eth0',
        'addr add 2001:db8:20::5/64 dev eth0 nodad',
        'link set dev eth0 up',
        'route add 0.0.0.0/0 via 198.18.20.1 dev eth0',
        'route add 198.19.0.0/16 via 198.18.20.254 dev eth0',
        'route add ::/0 via 2001:db8:20::1 dev eth0',
      ].join('\n') + '\n',
    );
  });

  it('applied in a namespace, reads back as configured; a missing device reads as absent', async () => {
    const ns = createPodNetns('parts');
    // A veth end stands in for the TAP the daemon creates (both are plain netdevs to iproute2).
    sh('ip', ['link', 'add', 'qn-parts-h', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    try {
      await configurePod({ netns: ns.path, ...spec });
      const pod = await readPod(ns.path, 'eth0');
      expect(pod).toMatchObject({ mac: '02:00:c6:12:00:05', mtu: 1400, up: true });
      expect(pod!.addresses).toEqual(expect.arrayContaining(['198.18.20.5/24', '2001:db8:20::5/64']));
      expect(pod!.routes).toEqual(
        expect.arrayContaining([
          { dst: '0.0.0.0/0', gw: '198.18.20.1' },
          { dst: '198.19.0.0/16', gw: '198.18.20.254' },
          { dst: '::/0', gw: '2001:db8:20::1' },
        ]),
      );
      expect(inNs(ns.name, 'ip', ['-4', 'route', 'show', 'default'])).toMatch(/default via 198\.18\.20\.1 dev eth0/);
      expect(await readPod(ns.path, 'eth9')).toBeUndefined();
      // A bad batch names the namespace and the failing command.
      await expect(configurePod({ netns: ns.path, ...spec, ifname: 'eth9' })).rejects.toThrow(new RegExp(`in ${ns.path}: ip -batch -: .*eth9`));
    } finally {
      sh('ip', ['link', 'del', 'qn-parts-h']);
    }
  });
});

describe('routed attach addressing', () => {
  const req = {
    network: 'r', containerId: 'c', ifname: 'eth0', netns: '/x', type: 'tap' as const, vrf: 0, mtu: 1500,
    ips: [{ address: '198.18.60.7/24', gateway: '198.18.60.1' }, { address: '2001:db8:60::7/64', gateway: '2001:db8:60::1' }],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '198.19.0.0/16', gw: '198.18.60.254' }],
  };

  it('host prefixes for the pod, its subnet and every route through the gateway of the family', () => {
    expect(podAddressing(req)).toEqual({
      ips: [{ address: '198.18.60.7/32', gateway: '198.18.60.1' }, { address: '2001:db8:60::7/128', gateway: '2001:db8:60::1' }],
      routes: [
        { dst: '198.18.60.0/24', gw: '198.18.60.1' },
        { dst: '2001:db8:60::/64', gw: '2001:db8:60::1' },
        { dst: '0.0.0.0/0', gw: '198.18.60.1' },
        // A gateway other than Quiver's is not reachable on a routed link: Quiver's is used.
        { dst: '198.19.0.0/16', gw: '198.18.60.1' },
      ],
    });
    // L2: as IPAM gave them.
    expect(podAddressing({ ...req, vrf: undefined, bridgeDomain: 1 })).toEqual({ ips: req.ips, routes: req.routes });
    expect(() => podAddressing({ ...req, ips: [{ address: '198.18.60.7/24' }] })).toThrow(/vrf: a routed attach needs a gateway for 198\.18\.60\.7\/24/);
  });

  it('pins the gateways to Quiver\'s MAC and routes onlink', () => {
    const p = podAddressing(req);
    expect(podBatch({ netns: '/x', ifname: 'eth0', mtu: 1500, ...p, gatewayMac: '02:fe:00:00:00:09' })).toBe(
      [
        'link set dev eth0 mtu 1500',
        'addr add 198.18.60.7/32 dev eth0',
        'addr add 2001:db8:60::7/128 dev eth0 nodad',
        'link set dev eth0 up',
        'neigh replace 198.18.60.1 lladdr 02:fe:00:00:00:09 dev eth0 nud permanent',
        'neigh replace 2001:db8:60::1 lladdr 02:fe:00:00:00:09 dev eth0 nud permanent',
        'route add 198.18.60.0/24 via 198.18.60.1 dev eth0 onlink',
        'route add 2001:db8:60::/64 via 2001:db8:60::1 dev eth0 onlink',
        'route add 0.0.0.0/0 via 198.18.60.1 dev eth0 onlink',
        'route add 198.19.0.0/16 via 198.18.60.1 dev eth0 onlink',
      ].join('\n') + '\n',
    );
  });

  it('networkOf clears host bits (IPv4 and IPv6, canonical text)', () => {
    expect(networkOf('198.18.5.7/24')).toBe('198.18.5.0/24');
    expect(networkOf('198.18.5.7/0')).toBe('0.0.0.0/0');
    expect(networkOf('2001:db8:60:1:2:3:4:5/48')).toBe('2001:db8:60::/48');
    expect(networkOf('2001:db8::1/128')).toBe('2001:db8::1/128');
    expect(networkOf('2001:0:0:1::5/64')).toBe('2001:0:0:1::/64');
  });
});

describe('attachment state file', () => {
  const rec = (id: string): AttachmentRecord => ({
    network: 'n1', containerId: id, ifname: 'eth0', netns: `/var/run/netns/${id}`, type: 'tap', bridgeDomain: 1, mtu: 1500,
    ips: [{ address: '198.18.0.2/24' }], routes: [], quiverInterface: `tap-${id}`, created: '2026-01-01T00:00:00.000Z',
  });

  it('persists every change atomically and reloads it', () => {
    const file = join(dir, 'state', 'attachments.json');
    const s = new AttachmentStore(file);
    expect(s.load()).toEqual([]);
    s.put(rec('a'));
    s.put(rec('b'));
    s.delete({ network: 'n1', containerId: 'a', ifname: 'eth0' });
    s.delete({ network: 'n1', containerId: 'zz', ifname: 'eth0' }); // absent: nothing happens
    const again = new AttachmentStore(file);
    expect(again.load()).toEqual([rec('b')]);
    expect(again.list('n1').map((r) => r.containerId)).toEqual(['b']);
    expect(again.list('n2')).toEqual([]);
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe(1);
  });

  it('refuses a corrupt file instead of starting empty', () => {
    const file = join(dir, 'corrupt.json');
    writeFileSync(file, '{"format": 1, "attachments": [');
    expect(() => new AttachmentStore(file).load()).toThrow(/cni state file .*corrupt\.json: .*move it away/);
  });

  it('a write that fails leaves memory as the file is', () => {
    const file = join(dir, 'ro', 'attachments.json');
    const s = new AttachmentStore(file);
    s.put(rec('a'));
    sh('chmod', ['0500', join(dir, 'ro')]);
    try {
      // root ignores mode bits; make the temp file's name a directory instead.
      sh('mkdir', ['-p', `${file}.tmp`]);
      expect(() => s.put(rec('b'))).toThrow();
      expect(s.list().map((r) => r.containerId)).toEqual(['a']);
    } finally {
      sh('chmod', ['0700', join(dir, 'ro')]);
    }
  });
});
