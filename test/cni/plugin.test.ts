// quiver-cni as a runtime sees it, without a dataplane: VERSION, every class of error with
// its code, IPAM delegation to Debian's host-local (version negotiation, release when the
// attach fails), result shapes per version. The daemon is either absent (its errors) or a
// scripted stand-in on a unix socket that answers the CNI endpoints: that isolates what
// the plugin itself must do. The real daemon is exercised in attach.test.ts.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttachmentRecord, AttachRequest } from '../../cni/protocol.js';
import { type Attachment, CniRuntime, type ConfList } from './runtime.js';

const rt = new CniRuntime();
const work = mkdtempSync(join(tmpdir(), 'quiver-cni-plugin-'));
const dataDir = join(work, 'ipam');
const socket = join(work, 'quiver.sock');
afterAll(() => {
  rt.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function list(version: string, plugin: Record<string, unknown> = {}, name = 'plugnet'): ConfList {
  return {
    cniVersion: version,
    name,
    plugins: [
      {
        type: 'quiver-cni',
        attachment: 'tap',
        bridgeDomain: 1,
        daemonSocket: socket,
        ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '198.18.10.0/24' }], [{ subnet: '2001:db8:10::/64' }]], routes: [{ dst: '0.0.0.0/0' }] },
        ...plugin,
      },
    ],
  };
}
// Our own namespace stands in for the pod's: ADD needs an existing CNI_NETNS to get past env checks.
const pod = (id: string, ifname = 'eth0'): Attachment => ({ containerId: id, netns: '/proc/self/ns/net', ifname });

/** Addresses host-local holds for the network (its files are named by address). */
function allocated(network = 'plugnet'): string[] {
  const dir = join(dataDir, network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/i.test(f) && /[.:]/.test(f)) : [];
}

async function raw(env: Record<string, string>, stdin: string) {
  return rt.exec('quiver-cni', env, stdin);
}

describe('VERSION', () => {
  it('lists 0.4.0, 1.0.0 and 1.1.0 and answers in the version asked', async () => {
    for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
      const r = await raw(rt.env('VERSION'), JSON.stringify({ cniVersion: v }));
      expect(r.code).toBe(0);
      expect(r.json).toEqual({ cniVersion: v, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    }
    const empty = await raw(rt.env('VERSION'), '');
    expect(empty.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });
});

describe('errors carry the spec code and name what is wrong', () => {
  const conf = (over: Record<string, unknown>) => JSON.stringify({ ...rt.pluginConfig(list('1.1.0'), list('1.1.0').plugins[0]!, {}), ...over });

  it('4: environment', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...rt.env('ADD', pod('c1')), CNI_COMMAND: '' }, /CNI_COMMAND: is not set/],
      [{ ...rt.env('ADD', pod('c1')), CNI_COMMAND: 'ATTACH' }, /CNI_COMMAND: 'ATTACH' is not a CNI command/],
      [rt.env('ADD', { containerId: 'c1', ifname: 'eth0' }), /missing for ADD: CNI_NETNS/],
      [rt.env('DEL', { netns: '/proc/self/ns/net' }), /missing for DEL: CNI_CONTAINERID, CNI_IFNAME/],
      [rt.env('ADD', pod('c1', 'averyveryverylongname')), /CNI_IFNAME: 'averyveryverylongname' is longer than 15/],
      [rt.env('ADD', pod('c1', 'et/h0')), /CNI_IFNAME: 'et\/h0' contains/],
      [rt.env('ADD', pod('-c1')), /CNI_CONTAINERID: '-c1' must start with a letter or digit/],
      [rt.env('ADD', { ...pod('c1'), netns: '/var/run/netns/qn-does-not-exist' }), /CNI_NETNS: \/var\/run\/netns\/qn-does-not-exist: no such network namespace/],
      [{ ...rt.env('ADD', pod('c1')), CNI_ARGS: 'K8S_POD_NAME' }, /CNI_ARGS: 'K8S_POD_NAME' is not KEY=VALUE/],
    ];
    for (const [env, msg] of cases) {
      const r = await raw(env, conf({}));
      expect(r.code, JSON.stringify(env)).toBe(1);
      expect(r.json?.code, r.stdout).toBe(4);
      expect(r.json?.msg).toMatch(msg);
    }
  });

  it('6: stdin that is not a JSON object', async () => {
    for (const stdin of ['{"cniVersion": "1.1.0",', '[1,2]', 'null']) {
      const r = await raw(rt.env('ADD', pod('c1')), stdin);
      expect(r.json?.code, stdin).toBe(6);
      expect(r.json?.msg).toMatch(/network configuration on stdin is not/);
    }
  });

  it('7: invalid configuration, naming the key', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ attachment: 'vhost-user' }, /^attachment: "vhost-user" is not an attachment type \(one of: tap, memif\)$/],
      [{ attachment: undefined }, /^attachment: is required/],
      [{ bridgeDomain: undefined }, /^bridgeDomain: a tap attachment needs bridgeDomain \(L2\) or vrf \(routed\)$/],
      [{ vrf: 2 }, /^vrf: give bridgeDomain \(L2 attach\) or vrf \(routed attach\), not both$/],
      [{ attachment: 'memif', bridgeDomain: undefined, vrf: 1 }, /^vrf: a routed attach needs a kernel interface in the pod \(tap\)/],
      [{ bridgeDomain: 0 }, /^bridgeDomain: 0 is not an integer in 1\.\.16777214$/],
      [{ mtu: 70000 }, /^mtu: 70000 is not an integer/],
      [{ mac: 'zz:00:00:00:00:01' }, /^mac: 'zz:00:00:00:00:01' is not a MAC address/],
      [{ bridgedomain: 1 }, /^bridgedomain: unknown key/],
      [{ memif: { socketDir: '/run/x' } }, /^memif: applies to attachment 'memif' only$/],
      [{ attachment: 'memif', memif: { ringSize: 20 } }, /^memif\.ringSize: 20 is not an integer in 4\.\.14$/],
      [{ attachment: 'memif', memif: { socketdir: '/x' } }, /^memif\.socketdir: unknown key/],
      [{ daemonSocket: 'quiver.sock' }, /^daemonSocket: 'quiver\.sock' is not an absolute path$/],
      [{ ipam: { subnet: '198.18.0.0/24' } }, /^ipam\.type: is required/],
      [{ ipam: { type: '../../bin/sh' } }, /^ipam\.type: '\.\.\/\.\.\/bin\/sh' must be a plugin name/],
      [{ name: undefined }, /^name: is required$/],
      [{ runtimeConfig: { mac: 'nope' } }, /^runtimeConfig\.mac: "nope" is not a MAC address$/],
      [{ prevResult: { cniVersion: '1.0.0', ips: [{ address: '198.18.0.300/24' }] } }, /^prevResult: ips\[0\]\.address: '198\.18\.0\.300\/24' is not an address\/prefix$/],
    ];
    for (const [over, msg] of cases) {
      const r = await raw(rt.env('ADD', pod('c1')), conf(over));
      expect(r.json?.code, JSON.stringify(over)).toBe(7);
      expect(r.json?.msg).toMatch(msg);
    }
  });

  it('1: a cniVersion we do not speak, and GC/STATUS before 1.1.0', async () => {
    for (const v of ['0.3.1', '2.0.0']) {
      const r = await raw(rt.env('ADD', pod('c1')), conf({ cniVersion: v }));
      expect(r.json?.code).toBe(1);
      expect(r.json?.details).toContain(`config is "${v}", quiver-cni supports 0.4.0, 1.0.0, 1.1.0`);
    }
    const gc = await raw(rt.env('GC'), conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }));
    expect(gc.json).toMatchObject({ code: 1, msg: 'config version does not allow GC', cniVersion: '1.0.0' });
    const st = await raw(rt.env('STATUS'), conf({ cniVersion: '0.4.0' }));
    expect(st.json).toMatchObject({ code: 1, msg: 'config version does not allow STATUS', cniVersion: '0.4.0' });
  });
});

describe('daemon down', () => {
  const nowhere = join(work, 'no-daemon.sock');
  it('STATUS reports 50 and ADD fails with 11 before allocating an address', async () => {
    const st = await rt.status(list('1.1.0', { daemonSocket: nowhere }));
    expect(st.json?.code).toBe(50);
    expect(st.json?.msg).toBe(`quiver daemon not reachable at ${nowhere} (no such socket: is the daemon running?)`);
    const add = await rt.add(list('1.1.0', { daemonSocket: nowhere }), pod('down1'));
    expect(add.json?.code).toBe(11);
    expect(add.json?.details).toMatch(/start the quiver daemon/);
    expect(allocated()).toEqual([]);
  });

  it('DEL fails with 11 (the runtime retries) rather than release an address still routed', async () => {
    const r = await rt.del(list('1.1.0', { daemonSocket: nowhere }), pod('down1'));
    expect(r.json?.code).toBe(11);
  });
});

// ---------------------------------------------------------------------------------------------
// A scripted daemon: records what it is asked, answers per the protocol, fails on demand.

interface Scripted {
  server: Server;
  requests: { path: string; body: Record<string, unknown> }[];
  records: Map<string, AttachmentRecord>;
  failAdd?: string;
}
const stub: Scripted = { server: createServer(), requests: [], records: new Map() };

beforeAll(async () => {
  stub.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      stub.requests.push({ path: req.url ?? '', body });
      const k = `${body.network}/${body.containerId}/${body.ifname}`;
      const reply = (status: number, o: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(o));
      if (req.url === '/v1/cni/get') return reply(200, { attachment: stub.records.get(k) ?? null });
      if (req.url === '/v1/cni/add') {
        if (stub.failAdd) return reply(400, { error: { field: 'bridgeDomain', message: stub.failAdd } });
        const r = body as AttachRequest;
        const rec: AttachmentRecord = { ...r, quiverInterface: 'tap-x', podMac: '02:fe:00:00:00:01', created: 'now' };
        if (r.type === 'memif') rec.socketPath = `${r.memif!.socketDir}/${r.pod?.uid ?? r.containerId}/${r.ifname}.sock`;
        stub.records.set(k, rec);
        return reply(200, rec);
      }
      if (req.url === '/v1/cni/del') return reply(200, { removed: stub.records.delete(k) });
      if (req.url === '/v1/cni/status') return reply(200, { ready: true, attachments: stub.records.size });
      if (req.url === '/v1/cni/gc') {
        const keep = new Set((body.valid as { containerID: string; ifname: string }[]).map((v) => `${v.containerID}/${v.ifname}`));
        const removed = [...stub.records.values()].filter((r) => r.network === body.network && !keep.has(`${r.containerId}/${r.ifname}`));
        for (const r of removed) stub.records.delete(`${r.network}/${r.containerId}/${r.ifname}`);
        return reply(200, { removed });
      }
      if (req.url === '/v1/cni/check') return reply(200, { problems: [] });
      reply(404, { error: { field: '', message: `no route ${req.url}` } });
    });
  });
  await new Promise<void>((r) => stub.server.listen(socket, r));
});
afterAll(() => new Promise<void>((r) => stub.server.close(() => r())));

describe('with a scripted daemon', () => {
  it('ADD speaks host-local 1.0.0 for a 1.1.0 config and answers in each requested shape', async () => {
    for (const [i, v] of ['0.4.0', '1.0.0', '1.1.0'].entries()) {
      const a = pod(`shape${i}`);
      const r = await rt.add(list(v), a);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const j = r.json!;
      expect(j.cniVersion).toBe(v);
      const ips = j.ips as Record<string, unknown>[];
      expect(ips).toHaveLength(2);
      expect(ips[0]).toMatchObject({ address: expect.stringMatching(/^198\.18\.10\.\d+\/24$/), gateway: '198.18.10.1', interface: 0 });
      expect(ips[1]).toMatchObject({ address: expect.stringMatching(/^2001:db8:10::[0-9a-f]+\/64$/), interface: 0 });
      // 0.4.0 carries the family in "version"; 1.0.0 and later do not.
      if (v === '0.4.0') expect(ips.map((x) => x.version)).toEqual(['4', '6']);
      else expect(ips.every((x) => !('version' in x))).toBe(true);
      const itf = (j.interfaces as Record<string, unknown>[])[0]!;
      expect(itf).toMatchObject({ name: 'eth0', mac: '02:fe:00:00:00:01', sandbox: '/proc/self/ns/net' });
      // mtu on an interface exists from 1.1.0 on.
      if (v === '1.1.0') expect(itf.mtu).toBe(1500);
      else expect('mtu' in itf).toBe(false);
      expect(j.routes).toEqual([{ dst: '0.0.0.0/0' }]);
      // What the daemon was asked: the IPAM addresses, the bridge domain, the MTU.
      const sent = stub.requests.filter((q) => q.path === '/v1/cni/add').at(-1)!.body;
      expect(sent).toMatchObject({ network: 'plugnet', containerId: a.containerId, ifname: 'eth0', type: 'tap', bridgeDomain: 1, mtu: 1500 });
      expect((sent.ips as { address: string }[]).map((x) => x.address)).toEqual(ips.map((x) => x.address));
    }
    expect(allocated()).toHaveLength(6);
  });

  it('memif: the result carries socketPath (1.1.0) in the per-pod directory', async () => {
    const l = list('1.1.0', { attachment: 'memif', memif: { socketDir: '/run/quiver/memif-test' }, bridgeDomain: undefined, ipam: undefined });
    const a = { ...pod('memif1', 'memif0'), args: { IgnoreUnknown: 'true', K8S_POD_NAMESPACE: 'cnf', K8S_POD_NAME: 'upf-0', K8S_POD_UID: 'uid-123' } };
    const r = await rt.add(l, a);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json!.interfaces).toEqual([{ name: 'memif0', sandbox: '/proc/self/ns/net', mtu: 1500, socketPath: '/run/quiver/memif-test/uid-123/memif0.sock' }]);
    expect(stub.requests.at(-1)!.body.pod).toEqual({ namespace: 'cnf', name: 'upf-0', uid: 'uid-123' });
    // 1.0.0 has no socketPath field: the shape drops it.
    const old = await rt.add(list('1.0.0', { attachment: 'memif', bridgeDomain: undefined, ipam: undefined }), pod('memif2', 'memif0'));
    expect((old.json!.interfaces as object[])[0]).toEqual({ name: 'memif0', sandbox: '/proc/self/ns/net' });
  });

  it('a second ADD for the same container and ifname fails cleanly and keeps the first address', async () => {
    const before = allocated();
    const r = await rt.add(list('1.1.0'), pod('shape2'));
    expect(r.json?.code).toBe(100);
    expect(r.json?.msg).toMatch(/container shape2 is already attached to network plugnet as eth0/);
    expect(allocated()).toEqual(before);
  });

  it('when the daemon refuses the attach, the address IPAM allocated is released', async () => {
    const before = allocated();
    stub.failAdd = 'bridge domain 1 does not exist';
    try {
      const r = await rt.add(list('1.1.0'), pod('refused'));
      expect(r.json).toMatchObject({ code: 101, msg: 'quiver daemon: bridge domain 1 does not exist' });
      expect(r.stderr).toMatch(/ADD failed after IPAM allocated 198\.18\.10\.\d+\/24, 2001:db8:10::[0-9a-f]+\/64: released/);
    } finally {
      stub.failAdd = undefined;
    }
    expect(allocated()).toEqual(before);
  });

  it('IPAM failure: a clear error and nothing attached', async () => {
    const l = list('1.0.0', { ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '198.18.11.0/30' }]] } }, 'tiny');
    expect((await rt.add(l, pod('t1'))).code).toBe(0); // a /30 holds one address (.2): .1 is the gateway
    const adds = stub.requests.filter((q) => q.path === '/v1/cni/add').length;
    const r = await rt.add(l, pod('t2'));
    expect(r.json?.code).toBe(102);
    expect(r.json?.msg).toMatch(/^IPAM plugin host-local: failed to allocate for range 0: no IP addresses available in range set/);
    expect(r.json?.details).toBe('its error code 999');
    expect(stub.requests.filter((q) => q.path === '/v1/cni/add')).toHaveLength(adds);
    expect(await rt.del(l, pod('t1'))).toMatchObject({ code: 0 });
  });

  it('an IPAM plugin missing from CNI_PATH is a config error naming the search path', async () => {
    const r = await rt.add(list('1.1.0', { ipam: { type: 'no-such-ipam' } }), pod('noipam'));
    expect(r.json?.code).toBe(7);
    expect(r.json?.msg).toBe("ipam.type: IPAM plugin 'no-such-ipam' not found in CNI_PATH");
    expect(r.json?.details).toBe(`searched ${rt.path.join(':')}`);
  });

  it('DEL releases the address, and twice is fine', async () => {
    const a = pod('shape1');
    const n = allocated().length;
    expect((await rt.del(list('1.0.0'), a)).code).toBe(0);
    expect(allocated()).toHaveLength(n - 2);
    const again = await rt.del(list('1.0.0'), a);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/no attachment recorded \(already deleted\)/);
  });

  it('CHECK needs prevResult (code 7) and passes it on', async () => {
    const l = list('1.1.0');
    const noPrev = await raw(rt.env('CHECK', pod('shape2')), JSON.stringify(rt.pluginConfig(l, l.plugins[0]!, {})));
    expect(noPrev.json).toMatchObject({ code: 7, msg: 'prevResult: is required for CHECK (the result of the ADD being checked)' });
    const prev = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: '/proc/self/ns/net' }], ips: [{ address: '198.18.10.9/24', interface: 0 }] };
    const r = await raw(rt.env('CHECK', pod('shape2')), JSON.stringify(rt.pluginConfig(l, l.plugins[0]!, {}, prev)));
    // host-local's own CHECK runs first: it knows this container has another address.
    expect(r.code).toBe(0);
    expect(stub.requests.at(-1)).toMatchObject({ path: '/v1/cni/check', body: { expect: { addresses: ['198.18.10.9/24'] } } });
  });

  it('GC removes what is not listed and releases those addresses', async () => {
    const before = allocated().length;
    const r = await rt.gc(list('1.1.0'), [{ containerID: 'shape2', ifname: 'eth0' }]);
    expect(r.code, r.stdout).toBe(0);
    // shape0 and the two memif pods (shape1 was deleted): only shape0 had addresses.
    expect(r.stderr).toMatch(/GC removed 3 stale attachment/);
    expect(allocated()).toHaveLength(before - 2);
    expect(stub.records.has('plugnet/shape2/eth0')).toBe(true);
  });

  it('STATUS succeeds when the daemon is ready', async () => {
    const r = await rt.status(list('1.1.0'));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toBe('');
  });
});
