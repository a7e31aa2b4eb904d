// ACLs through the API and the declarative config: validation names the rule and field,
// nothing is half applied, apply by difference touches only what changed, a 10k-rule ACL is
// replaced in one native call, the show commands answer.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import { addon } from '../../src/addon.js';
import { Dataplane } from '../../src/dataplane.js';
import { type AclView, formatAcls } from '../../graph/acl/show.js';
import { jsonSafe } from '../../src/show/tables.js';

let dp: Dataplane;
beforeAll(async () => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
  await dp.apply({ interfaces: [{ type: 'pg', name: 'p0' }, { type: 'pg', name: 'p1' }] });
});
afterAll(() => dp.stop());

const MUTATORS = ['aclSet', 'aclDelete', 'aclBind', 'aclSessionConfig'] as const;
async function nativeCalls(fn: () => Promise<unknown>): Promise<string[]> {
  const a = addon() as unknown as Record<string, (...x: unknown[]) => unknown>;
  const calls: string[] = [];
  for (const m of MUTATORS) {
    const orig = a[m]!;
    vi.spyOn(a, m).mockImplementation((...args: unknown[]) => {
      calls.push(`${m}(${typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0])})`);
      return orig.apply(a, args);
    });
  }
  try {
    await fn();
  } finally {
    vi.restoreAllMocks();
  }
  return calls;
}

const web = [
  { action: 'permit', protocol: 'tcp', dst: '198.19.0.10/32', dstPort: 80 },
  { action: 'permit', protocol: 'tcp', dst: '198.19.0.10', dstPort: '8000-8080', tcpFlags: { value: ['syn'], mask: ['syn', 'ack'] } },
  { action: 'permit+reflect', protocol: 'udp', src: '2001:db8::/32', dstPort: [53, 53] },
  { action: 'deny', protocol: 'icmp', icmpType: 8, icmpCode: '0-3' },
  { action: 'deny', ipVersion: 6, protocol: 58 },
] as const;

const config = (lists: unknown, interfaces: unknown, sessions?: unknown) => ({
  interfaces: [{ type: 'pg', name: 'p0' }, { type: 'pg', name: 'p1' }],
  acls: { lists, interfaces, ...(sessions ? { sessions } : {}) },
});

describe('ACL API', () => {
  it('names the rule and field of bad input, and creates nothing', () => {
    const rules = Array.from({ length: 500 }, (_, i) => ({ action: 'deny' as const, protocol: 'tcp' as const, dstPort: i }));
    (rules[412] as { dstPort: number }).dstPort = 70000;
    expect(() => acl.setAcl('bad', rules)).toThrow('rules[412].dstPort: 70000 is not a port');
    expect(acl.showAcl().map((a) => a.name)).not.toContain('bad');
    const cases: [unknown, string][] = [
      [{ action: 'allow' }, 'rules[0].action: '],
      [{ action: 'deny', src: '198.18.0.300/24' }, "rules[0].src: '198.18.0.300/24' is not an IPv4 or IPv6 address or prefix"],
      [{ action: 'deny', src: '198.18.0.0/33' }, "rules[0].src: '198.18.0.0/33' has a prefix length that is not 0..32"],
      [{ action: 'deny', src: '198.18.0.0/16', dst: '2001:db8::/32' }, 'rules[0].dst: is IPv6 but src is IPv4'],
      [{ action: 'deny', ipVersion: 6, dst: '198.18.0.1' }, 'rules[0].dst: is IPv4 but ipVersion is 6'],
      [{ action: 'deny', protocol: 'gre' }, 'rules[0].protocol: "gre" is not any, tcp, udp'],
      [{ action: 'deny', protocol: 256 }, 'rules[0].protocol: 256 is not'],
      [{ action: 'deny', dstPort: 80 }, 'rules[0].dstPort: only with protocol tcp, udp or sctp'],
      [{ action: 'deny', protocol: 'udp', srcPort: '90-80' }, 'rules[0].srcPort: 90-80 is an empty range'],
      [{ action: 'deny', protocol: 'udp', srcPort: [1, 2, 3] }, 'rules[0].srcPort: [1,2,3] is not a port or a range'],
      [{ action: 'deny', protocol: 'tcp', icmpType: 8 }, 'rules[0].icmpType: only with protocol icmp or icmpv6'],
      [{ action: 'deny', protocol: 'icmp', icmpCode: 256 }, 'rules[0].icmpCode: 256 is not an ICMP code'],
      [{ action: 'deny', protocol: 'udp', tcpFlags: { value: 2, mask: 2 } }, 'rules[0].tcpFlags: only with protocol tcp'],
      [{ action: 'deny', protocol: 'tcp', tcpFlags: { value: ['syn', 'ack'], mask: ['syn'] } }, 'rules[0].tcpFlags: value has flags outside the mask'],
      [{ action: 'deny', protocol: 'tcp', tcpFlags: { value: ['sin'], mask: ['syn'] } }, 'rules[0].tcpFlags.value: "sin" is not a TCP flag'],
      [{ action: 'deny', port: 80 }, 'rules[0].port: unknown key'],
    ];
    for (const [rule, message] of cases) expect(() => acl.setAcl('bad', [rule as acl.AclRule]), message).toThrow(message);
    expect(() => acl.setAcl('bad name', [])).toThrow(/^name: must be 1 to 64/);
  });

  it('keeps what it was given: show acl decodes the native copy to the same rules', () => {
    const s = acl.setAcl('web', [...web]);
    expect(s).toMatchObject({ name: 'web', rules: 5, stateful: true });
    expect(s.ip4.rules).toBe(3); // rules of one family stay out of the other's classifier
    expect(s.ip6.rules).toBe(3);
    const [shown] = acl.showAcl('web');
    expect(shown!.entries.map((e) => e.rule)).toEqual([
      { action: 'permit', ipVersion: 4, protocol: 'tcp', dst: '198.19.0.10/32', dstPort: 80 },
      { action: 'permit', ipVersion: 4, protocol: 'tcp', dst: '198.19.0.10/32', dstPort: '8000-8080', tcpFlags: { value: ['syn'], mask: ['syn', 'ack'] } },
      { action: 'permit+reflect', ipVersion: 6, protocol: 'udp', src: '2001:db8::/32', dstPort: 53 },
      { action: 'deny', protocol: 'icmp', icmpType: 8, icmpCode: '0-3' },
      { action: 'deny', ipVersion: 6, protocol: 'icmpv6' },
    ]);
    expect(shown!.entries.every((e) => e.packets === 0n && e.bytes === 0n)).toBe(true);
    const text = formatAcls(jsonSafe([shown!]) as AclView[]);
    expect(text).toMatch(/^acl web: 5 rules, stateful, 0 packets 0 bytes matched, built in /);
    expect(text).toContain('permit+reflect ip6 udp 2001:db8::/32 -> any dport 53');
    expect(text).toContain('permit         ip4 tcp any -> 198.19.0.10/32 dport 8000-8080 flags syn/syn,ack');
  });

  it('binds by name, refuses unknown ACLs and deleting an applied one', () => {
    acl.setAcl('other', [{ action: 'permit' }]);
    expect(() => acl.applyAcls('p0', { input: ['web', 'nope'] })).toThrow("input[1]: no ACL named 'nope'");
    expect(() => acl.applyAcls('p0', { input: ['web', 'web'] })).toThrow("input[1]: ACL 'web' is listed twice");
    expect(() => acl.applyAcls('p0', { output: ['web'], outputDefault: 'allow' as never })).toThrow(/^outputDefault: /);
    expect(() => acl.applyAcls('nope', { input: ['web'] })).toThrow("interface: no interface 'nope'");
    expect(acl.aclInterfaces()).toEqual([]); // nothing half applied
    acl.applyAcls('p0', { input: ['web', 'other'], outputDefault: 'permit', output: ['other'] });
    const [b] = acl.aclInterfaces();
    expect(b).toMatchObject({ interface: 'p0', input: ['web', 'other'], output: ['other'], inputDefault: 'deny', outputDefault: 'permit' });
    expect(b!.inputCounters.permitRule).toBe(0n);
    expect(() => acl.deleteAcl('other')).toThrow("name: ACL 'other' is applied to p0 input");
    expect(() => acl.deleteAcl('nope')).toThrow("name: no ACL named 'nope'");
    acl.applyAcls('p0', {});
    expect(acl.aclInterfaces()).toEqual([]);
    acl.deleteAcl('other');
    acl.deleteAcl('web');
    expect(acl.showAcl()).toEqual([]);
  });

  it('validates session settings', () => {
    expect(() => acl.setSessionConfig({ udp: 0 })).toThrow(/^sessions.udp: /);
    expect(() => acl.setSessionConfig({ maxSessionsPerWorker: 0 })).toThrow(/^sessions.maxSessionsPerWorker: /);
    expect(acl.setSessionConfig({ udp: 30 })).toMatchObject({ udp: 30, tcpTransient: 120, maxSessionsPerWorker: 65536 });
    expect(acl.setSessionConfig({ udp: 600 }).udp).toBe(600);
  });
});

describe('ACLs in the declarative config', () => {
  it('reports every issue with its path and changes nothing', async () => {
    const bad = config(
      [{ name: 'a', rules: [{ action: 'permit', protocol: 'tcp', dstPort: 70000 }] }, { name: 'a', rules: [] }],
      [{ interface: 'p9', input: ['zz'] }],
    );
    await expect(dp.apply(bad)).rejects.toThrow(/acls\.lists\[0\]\.rules\[0\]\.dstPort: 70000 is not a port/);
    const bad2 = config([{ name: 'a', rules: [] }, { name: 'a', rules: [] }], [{ interface: 'p9', input: ['zz'] }]);
    const err = await dp.apply(bad2).catch((e: Error) => e.message);
    expect(err).toMatch(/acls\.lists\[1\]\.name: ACL 'a' is defined twice/);
    expect(err).toMatch(/acls\.interfaces\[0\]\.interface: no interface 'p9'/);
    expect(err).toMatch(/acls\.interfaces\[0\]\.input\[0\]: no ACL named 'zz'/);
    expect(acl.showAcl()).toEqual([]);
  });

  it('applies lists, bindings and session settings, then only what changed', async () => {
    const lists = [{ name: 'web', rules: [...web] }, { name: 'any', rules: [{ action: 'permit' }] }];
    const r1 = await dp.apply(config(lists, [{ interface: 'p0', input: ['web'] }], { udp: 300 }));
    expect(r1.changes).toEqual(expect.arrayContaining(['create acl web (5 rules)', 'create acl any (1 rules)', 'apply ACLs to p0: input [web] output []']));
    expect(acl.sessionConfig().udp).toBe(300);
    expect(await nativeCalls(() => dp.apply(config(lists, [{ interface: 'p0', input: ['web'] }], { udp: 300 })))).toEqual([]);

    // One rule changes: that list is replaced in one call; the binding stays as it is.
    const changed = [{ name: 'web', rules: [...web.slice(0, 4)] }, lists[1]];
    const calls = await nativeCalls(() => dp.apply(config(changed, [{ interface: 'p0', input: ['web'] }], { udp: 300 })));
    expect(calls).toEqual(['aclSet(web)']);
    expect(acl.showAcl('web')[0]!.rules).toBe(4);

    // A binding moves to another list and the old list goes: bind first, delete last.
    const moved = await nativeCalls(() => dp.apply(config([lists[1]], [{ interface: 'p0', input: ['any'], output: ['any'] }])));
    expect(moved).toEqual(['aclSessionConfig({"maxSessionsPerWorker":65536,"tcpEstablished":86400,"tcpTransient":120,"udp":600,"icmp":60,"other":600})', 'aclBind(p0)', 'aclDelete(web)']);
    expect(acl.aclInterfaces()[0]).toMatchObject({ input: ['any'], output: ['any'] });
    expect(acl.showAcl().map((a) => a.name)).toEqual(['any']);

    const shown = (await dp.command('show acl interface')) as { interface: string }[];
    expect(shown.map((x) => x.interface)).toEqual(['p0']);
    await dp.apply(config([], []));
    expect(acl.showAcl()).toEqual([]);
    expect(acl.aclInterfaces()).toEqual([]);
  });

  it('replaces a 10k-rule ACL in one native call', async () => {
    const big = (port: number) =>
      Array.from({ length: 10000 }, (_, i) => ({
        action: 'deny' as const, protocol: 'udp' as const, src: `198.18.${i >> 8}.${i & 255}/32`, dst: '198.19.0.1/32', dstPort: port,
      }));
    await dp.apply(config([{ name: 'big', rules: big(1) }], [{ interface: 'p1', input: ['big'] }]));
    const t0 = performance.now();
    const calls = await nativeCalls(() => dp.apply(config([{ name: 'big', rules: big(2) }], [{ interface: 'p1', input: ['big'] }])));
    const ms = performance.now() - t0;
    expect(calls).toEqual(['aclSet(big)']);
    const [b] = acl.showAcl('big');
    expect(b!.entries[9999]!.rule).toEqual({ action: 'deny', ipVersion: 4, protocol: 'udp', src: '198.18.39.15/32', dst: '198.19.0.1/32', dstPort: 2 });
    console.log(`10k-rule ACL replaced through apply in ${ms.toFixed(0)} ms (native build ${b!.buildMs.toFixed(1)} ms)`);
    await dp.apply(config([], []));
  });

  it('answers show acl and show acl sessions in text and JSON', async () => {
    await dp.apply(config([{ name: 'web', rules: [...web] }], [{ interface: 'p0', input: ['web'] }]));
    const list = (await dp.command('show acl', { name: 'web' })) as { entries: { packets: number }[] }[];
    expect(list[0]!.entries).toHaveLength(5);
    expect(typeof list[0]!.entries[0]!.packets).toBe('number');
    const sessions = (await dp.command('show acl sessions')) as { count: number; sessions: unknown[] };
    expect(sessions).toEqual({ count: 0, sessions: [] });
    await dp.apply(config([], []));
  });
});
