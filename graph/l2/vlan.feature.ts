// VLAN sub-interfaces as a config interface type:
//   interfaces: [{ type: sub, name: eth0.100, parent: eth0, outerVlan: 100 }]
// created after their parents (order 10), deleted before them.
import { z } from 'zod';
import { type Issue, interfaceSchema, registerInterfaceType } from '../../src/feature.js';
import { createSubInterface } from './vlan.js';

const Vid = z.number().int().min(1).max(4094);

export const SubConfigSchema = interfaceSchema('sub', {
  parent: z.string().min(1),
  /** Outer TPID: dot1q 0x8100, dot1ad 0x88a8. */
  encapsulation: z.enum(['dot1q', 'dot1ad']).default('dot1q'),
  outerVlan: Vid,
  /** Present: QinQ, matching exactly two tags. */
  innerVlan: Vid.optional(),
  exactMatch: z.literal(true).default(true),
});
export type SubConfig = z.output<typeof SubConfigSchema>;

/** Tags a sub-interface of the config matches (0 when `name` is no sub-interface). */
export function subInterfaceTags(config: { interfaces?: { type: string; name: string }[] }, name: string): number {
  const s = (config.interfaces ?? []).find((i) => i.name === name);
  if (!s || s.type !== 'sub') return 0;
  return (s as unknown as SubConfig).innerVlan === undefined ? 1 : 2;
}

registerInterfaceType({
  type: 'sub',
  description: 'dot1q / dot1ad (QinQ) sub-interface: exact match on its tag(s) on the parent',
  schema: SubConfigSchema,
  order: 10,
  dependsOn: (spec) => [spec.parent],
  nodes: { input: 'vlan-input', output: 'vlan-output' },
  validate(spec, path, config) {
    const issues: Issue[] = [];
    const all = config.interfaces ?? [];
    const parent = all.find((i) => i.name === spec.parent);
    if (!parent) issues.push({ path: `${path}.parent`, reason: `no interface '${spec.parent}'` });
    else if (parent.type === 'sub') issues.push({ path: `${path}.parent`, reason: `'${spec.parent}' is itself a sub-interface` });
    else if (parent.type === 'bvi') issues.push({ path: `${path}.parent`, reason: `'${spec.parent}' is a BVI, which has no wire to tag` });
    const key = (s: SubConfig) => `${s.parent}/${s.encapsulation}/${s.outerVlan}/${s.innerVlan ?? '-'}`;
    const first = all.find((i) => i.type === 'sub' && key(i as unknown as SubConfig) === key(spec));
    if (first && first.name !== spec.name)
      issues.push({ path: `${path}.${spec.innerVlan === undefined ? 'outerVlan' : 'innerVlan'}`, reason: `'${first.name}' already matches these tags on '${spec.parent}'` });
    return issues;
  },
  create(spec) {
    createSubInterface({ name: spec.name, parent: spec.parent, type: spec.encapsulation, outerVlan: spec.outerVlan, innerVlan: spec.innerVlan });
  },
});
