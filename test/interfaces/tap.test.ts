// tap with real traffic: Quiver creates a multi-queue TAP device inside each of two namespaces
// (name, MAC, MTU, IPv4 and IPv6 addresses) and joins them; checksum offload between the two
// kernels passes through Quiver (NEEDS_CSUM in, NEEDS_CSUM out); option errors.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createTapInterface } from '../../src/interfaces/tap.js';
import * as ifs from '../../src/interfaces/index.js';
import { linkExists, randomId } from '../../src/lab/netns.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { linkInfo, useLab } from '../helpers/netns.js';
import { type DriverUnderTest, conformanceTests } from './conformance.js';

useEngine({ workers: 2 });
const lab = useLab({ links: 'none' });

const tap: DriverUnderTest = {
  driver: 'tap',
  create: (_lab, h, name) =>
    createTapInterface({ name, hostName: 'eth0', netns: h.netns, queues: 2, addresses: [h.ip4Prefix, h.ip6Prefix] }),
  linuxSide: (h) => ({ name: 'eth0', netns: h.netns }),
  queues: 2,
  inputNode: 'tap-input',
};

describe('tap', () => {
  it('creates the device inside the namespace with its name, MAC, MTU, addresses and queues', () => {
    const h = lab().hosts[0]!;
    createTapInterface({
      name: 't0', hostName: 'qdtap', netns: h.netns, queues: 2, hostMac: '02:00:5e:00:53:01', mtu: 1400,
      addresses: ['198.18.1.1/24', '2001:db8:1::1/64'],
    });
    const l = linkInfo('qdtap', h.netns) as ReturnType<typeof linkInfo> & { linkinfo: { info_kind: string; info_data: Record<string, unknown> } };
    expect(l.address).toBe('02:00:5e:00:53:01');
    expect(l.mtu).toBe(1400);
    expect(l.linkinfo.info_kind).toBe('tun');
    expect(l.linkinfo.info_data).toMatchObject({ type: 'tap', pi: false, vnet_hdr: true, multi_queue: true, numqueues: 2, persist: false });
    expect(l.flags).toContain('NO-CARRIER');  // Quiver's side is admin down: no cable yet
    const addrs = JSON.parse(execFileSync('ip', ['-n', h.netns, '-j', 'addr', 'show', 'dev', 'qdtap'], { encoding: 'utf8' }))[0].addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
    expect(addrs).toEqual(expect.arrayContaining(['198.18.1.1/24', '2001:db8:1::1/64']));
    expect(engine.findInterface('t0').details).toMatchObject({ hostName: 'qdtap', netns: h.netns, queues: 2, offloads: 'csum' });
    ifs.setAdminState('t0', true);
    expect(linkInfo('qdtap', h.netns).flags).not.toContain('NO-CARRIER');
    ifs.deleteInterface('t0');
    expect(linkExists('qdtap', h.netns)).toBe(false);  // not persistent: gone with its fds
    expectNoLeak();
  });

  conformanceTests(tap, lab);
});

describe('tap specifics', () => {
  it('passed the checksums the senders left undone on to the receiving kernel', () => {
    const e = engine.statsSegment().errors(true).find((x) => x.node === 'tap-output' && x.name === 'checksum-to-kernel')!;
    expect(e.count).toBeGreaterThan(100n);
  });

  it('creates a tap in Quiver\'s own namespace too', () => {
    const name = `qd-${randomId(6)}`;
    createTapInterface({ name: 'tlocal', hostName: name, offloads: 'none' });
    expect(linkExists(name)).toBe(true);
    expect(engine.findInterface('tlocal').details).toMatchObject({ netns: '', offloads: 'none' });
    ifs.deleteInterface('tlocal');
    expect(linkExists(name)).toBe(false);
  });

  it('refuses bad options naming the field, leaving nothing behind', () => {
    const h = lab().hosts[0]!;
    expect(() => createTapInterface({ hostName: 'much-too-long-name' })).toThrow(/^hostName: /);
    expect(() => createTapInterface({ hostName: 'qdt', netns: 'qd-no-such-ns' })).toThrow(/^netns: no network namespace 'qd-no-such-ns'/);
    expect(() => createTapInterface({ hostName: 'qdt', netns: h.netns, addresses: ['198.18.0.300/24'] })).toThrow(/^addresses\[0\]: is not an IPv4 or IPv6 address/);
    expect(() => createTapInterface({ hostName: 'qdt', netns: h.netns, addresses: ['198.18.0.3/33'] })).toThrow(/^addresses\[0\]: is not an IPv4 or IPv6 address/);
    expect(() => createTapInterface({ hostName: 'eth0', netns: h.netns, name: 'dup' })).toThrow(/^hostName: an interface 'eth0' already exists in namespace/);
    expect(() => createTapInterface({ hostName: 'qdt', mac: '01:00:00:00:00:01' })).toThrow(/^mac: /);
    expect(() => createTapInterface({ hostName: 'qdt', netns: h.netns, queues: 65 })).toThrow(/^queues: /);
    expect(linkExists('qdt', h.netns)).toBe(false);
    expect(engine.interfaces().some((i) => i.name === 'dup' || i.name === 'qdt')).toBe(false);
  });
});
