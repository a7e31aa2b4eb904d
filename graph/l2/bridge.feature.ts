// Bridge domains as a config feature (`bridgeDomains:`), the BVI interface type, and the
// quiverctl commands `show bridge-domain [id] [--detail]`, `show l2fib [bd]`, `clear l2fib [bd]`.
//
//   interfaces:
//     - { type: bvi, name: bvi10 }
//   bridgeDomains:
//     - id: 10
//       macAge: 300
//       members:
//         - { interface: eth0.100, tagRewrite: { op: pop-1 } }
//         - { interface: eth1, splitHorizonGroup: 1 }
//         - { interface: bvi10, bvi: true }
//       staticMacs: [{ mac: 02:00:00:00:00:01, interface: eth1 }]
import { z } from 'zod';
import {
  type Change,
  type Issue,
  checkInterface,
  defineCommand,
  interfaceSchema,
  registerFeature,
  registerInterfaceType,
  sameValue,
} from '../../src/feature.js';
import * as l2 from './bridge.js';
import { TagRewriteSchema, setTagRewrite } from './vlan.js';
import { subInterfaceTags } from './vlan.feature.js';

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

const MemberConfigSchema = z
  .object({
    interface: z.string().min(1),
    splitHorizonGroup: z.number().int().min(0).max(255).default(0),
    bvi: z.boolean().default(false),
    learn: z.boolean().optional(),
    /** On entry to the bridge domain; the inverse applies on exit. */
    tagRewrite: TagRewriteSchema.optional(),
  })
  .strict();
type MemberConfig = z.output<typeof MemberConfigSchema>;

const BridgeDomainConfigSchema = z
  .object({
    id: z.number().int().min(1).max(l2.MAX_BRIDGE_DOMAIN_ID),
    learn: z.boolean().default(true),
    forward: z.boolean().default(true),
    uuFlood: z.boolean().default(true),
    flood: z.boolean().default(true),
    macAge: z.number().int().min(0).max(1_000_000).default(300),
    macLimit: z.number().int().min(0).max(l2.MAC_TABLE_CAPACITY).default(0),
    members: z.array(MemberConfigSchema).default([]),
    staticMacs: z
      .array(z.object({ mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)'), interface: z.string().min(1) }).strict())
      .default([]),
  })
  .strict();
type BridgeDomainConfig = z.output<typeof BridgeDomainConfigSchema>;

export const BridgeDomainsSchema = z.array(BridgeDomainConfigSchema);
type Section = z.output<typeof BridgeDomainsSchema>;

const settingsOf = (b: BridgeDomainConfig): l2.BridgeDomainSettings => ({
  learn: b.learn, forward: b.forward, uuFlood: b.uuFlood, flood: b.flood, macAge: b.macAge, macLimit: b.macLimit,
});

function join(id: number, m: MemberConfig): void {
  l2.addBridgeMember(id, { interface: m.interface, splitHorizonGroup: m.splitHorizonGroup, bvi: m.bvi, learn: m.learn });
  setTagRewrite(m.interface, m.tagRewrite ?? { op: 'disable' });
}
function leave(m: MemberConfig): void {
  if (m.tagRewrite && m.tagRewrite.op !== 'disable') setTagRewrite(m.interface, { op: 'disable' });
  l2.removeBridgeMember(m.interface);
}

function validate(section: Section | undefined, config: Parameters<typeof checkInterface>[0]): Issue[] {
  const issues: Issue[] = [];
  const ids = new Map<number, number>();
  const memberOf = new Map<string, string>();
  const typeOf = (name: string) => (config.interfaces ?? []).find((i) => i.name === name)?.type;
  // An interface is in one L2 mode at a time: cross-connected receivers cannot be members.
  const xc = new Set(((config.xconnect as { rx: string; tx: string; bidirectional?: boolean }[] | undefined) ?? []).flatMap((x) => (x.bidirectional === false ? [x.rx] : [x.rx, x.tx])));
  (section ?? []).forEach((b, i) => {
    const path = `bridgeDomains[${i}]`;
    const dup = ids.get(b.id);
    if (dup !== undefined) issues.push({ path: `${path}.id`, reason: `bridge domain ${b.id} is already bridgeDomains[${dup}]` });
    else ids.set(b.id, i);
    let bvi: string | undefined;
    b.members.forEach((m, k) => {
      const mp = `${path}.members[${k}]`;
      const missing = checkInterface(config, m.interface, `${mp}.interface`);
      issues.push(...missing);
      if (missing.length) return;
      if (xc.has(m.interface)) issues.push({ path: `${mp}.interface`, reason: `'${m.interface}' is cross-connected (xconnect); an interface is in one L2 mode` });
      const other = memberOf.get(m.interface);
      if (other) issues.push({ path: `${mp}.interface`, reason: `'${m.interface}' is already a member (${other})` });
      else memberOf.set(m.interface, mp);
      const isBvi = typeOf(m.interface) === 'bvi';
      if (m.bvi && !isBvi) issues.push({ path: `${mp}.bvi`, reason: `'${m.interface}' is not a BVI interface (type: bvi)` });
      if (!m.bvi && isBvi) issues.push({ path: `${mp}.bvi`, reason: `'${m.interface}' is a BVI; it joins with bvi: true` });
      if (m.bvi && bvi) issues.push({ path: `${mp}.bvi`, reason: `bridge domain ${b.id} already has BVI '${bvi}'` });
      if (m.bvi) bvi = m.interface;
      const op = m.tagRewrite?.op ?? 'disable';
      const pops = op.startsWith('pop-') || op.startsWith('translate-') ? Number(op.split('-')[1]) : 0;
      const tags = subInterfaceTags(config, m.interface);
      if (pops > tags)
        issues.push({ path: `${mp}.tagRewrite.op`, reason: `${op} needs a sub-interface with ${pops} tag(s); '${m.interface}' has ${tags}` });
    });
    const macs = new Set<string>();
    b.staticMacs.forEach((s, k) => {
      const sp = `${path}.staticMacs[${k}]`;
      if (parseInt(s.mac.slice(0, 2), 16) & 1) issues.push({ path: `${sp}.mac`, reason: `${s.mac} is a multicast address` });
      if (macs.has(s.mac.toLowerCase())) issues.push({ path: `${sp}.mac`, reason: `${s.mac} is listed twice` });
      macs.add(s.mac.toLowerCase());
      if (!b.members.some((m) => m.interface === s.interface))
        issues.push({ path: `${sp}.interface`, reason: `'${s.interface}' is not a member of bridge domain ${b.id}` });
    });
  });
  return issues;
}

const showBridgeDomain = defineCommand({
  name: 'show bridge-domain',
  summary: 'bridge domains: settings, learned/static MACs, BVI; with --detail their members',
  args: [{ name: 'id', description: 'bridge domain id' }],
  options: [{ name: 'detail', flags: '--detail', description: 'members with split-horizon group, BVI, learning, tag rewrite' }],
  schema: z.object({ id: z.coerce.number().int().min(1).optional(), detail: z.boolean().optional() }).strict(),
  run: (a) => l2.showBridgeDomain(a.id, { detail: a.detail ?? false }),
  format: (rows, a) => l2.formatBridgeDomains(rows, a.detail ?? false),
});

const showL2fib = defineCommand({
  name: 'show l2fib',
  summary: 'the MAC table: MAC, bridge domain, interface, static/learned, age',
  args: [{ name: 'bd', description: 'only this bridge domain id' }],
  schema: z.object({ bd: z.coerce.number().int().min(1).optional() }).strict(),
  run: (a) => l2.showL2fib(a.bd),
  format: (rows) => l2.formatL2fib(rows),
});

const clearL2fib = defineCommand({
  name: 'clear l2fib',
  summary: 'removes learned MACs (static entries stay)',
  args: [{ name: 'bd', description: 'only this bridge domain id' }],
  schema: z.object({ bd: z.coerce.number().int().min(1).optional() }).strict(),
  run: (a) => ({ removed: l2.clearL2fib(a.bd) }),
  format: (r) => `${r.removed} learned MAC(s) removed`,
});

registerInterfaceType({
  type: 'bvi',
  description: 'bridge virtual interface: the L3 interface of a bridge domain',
  schema: interfaceSchema('bvi', {}),
  nodes: { input: 'bvi-input', output: 'bvi-output' },
  create: (spec) => void l2.createBvi({ name: spec.name }),
});

registerFeature({
  key: 'bridgeDomains',
  description: 'l2 bridge domains: learning, flooding, split horizon, static MACs, BVI, tag rewrite of members',
  schema: BridgeDomainsSchema,
  order: 200,
  validate,
  plan(prevSection, nextSection, { interfaceReset }) {
    const prev = new Map((prevSection ?? []).map((b) => [b.id, b]));
    const next = new Map((nextSection ?? []).map((b, i) => [b.id, { b, path: `bridgeDomains[${i}]` }]));
    const remove: Change[] = [];
    const add: Change[] = [];
    const staysMember = (n: BridgeDomainConfig | undefined, name: string) =>
      !!n && n.members.some((m) => m.interface === name) && !interfaceReset(name);
    // Static MACs, then members, then the domain: each needs the next one to exist.
    for (const p of prev.values()) {
      const n = next.get(p.id)?.b;
      for (const s of p.staticMacs)
        if (!staysMember(n, s.interface) || !n!.staticMacs.some((x) => sameValue(x, s)))
          remove.push({
            describe: `delete static mac ${s.mac} from bridge domain ${p.id}`,
            apply: () => l2.deleteStaticMac(p.id, s.mac),
            revert: () => l2.addStaticMac(p.id, s),
          });
      for (const m of p.members)
        if (!staysMember(n, m.interface))
          remove.push({
            describe: `remove ${m.interface} from bridge domain ${p.id}`,
            apply: () => leave(m),
            revert: () => join(p.id, m),
          });
      if (!n)
        remove.push({
          describe: `delete bridge domain ${p.id}`,
          apply: () => l2.deleteBridgeDomain(p.id),
          revert: () => void l2.createBridgeDomain({ id: p.id, ...settingsOf(p) }),
        });
    }
    for (const { b: n, path } of next.values()) {
      const p = prev.get(n.id);
      if (!p)
        add.push({
          describe: `create bridge domain ${n.id}`,
          path,
          apply: () => void l2.createBridgeDomain({ id: n.id, ...settingsOf(n) }),
          revert: () => l2.deleteBridgeDomain(n.id),
        });
      else if (!sameValue(settingsOf(p), settingsOf(n)))
        add.push({
          describe: `set bridge domain ${n.id} ${JSON.stringify(settingsOf(n))}`,
          path,
          apply: () => l2.setBridgeDomain(n.id, settingsOf(n)),
          revert: () => l2.setBridgeDomain(n.id, settingsOf(p)),
        });
      n.members.forEach((m, k) => {
        const pm = p?.members.find((x) => x.interface === m.interface);
        const fresh = !pm || interfaceReset(m.interface);
        if (!fresh && sameValue(pm, m)) return;
        add.push({
          describe: `${fresh ? 'add' : 'update'} ${m.interface} in bridge domain ${n.id}`,
          path: `${path}.members[${k}]`,
          apply: () => join(n.id, m),
          revert: () => (fresh ? leave(m) : join(n.id, pm!)),
        });
      });
      n.staticMacs.forEach((s, k) => {
        const kept = p?.staticMacs.some((x) => sameValue(x, s)) && !interfaceReset(s.interface);
        if (kept) return;
        add.push({
          describe: `add static mac ${s.mac} -> ${s.interface} in bridge domain ${n.id}`,
          path: `${path}.staticMacs[${k}]`,
          apply: () => l2.addStaticMac(n.id, s),
          revert: () => l2.deleteStaticMac(n.id, s.mac),
        });
      });
    }
    return { remove, add };
  },
  commands: [showBridgeDomain, showL2fib, clearL2fib],
});
