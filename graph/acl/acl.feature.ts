// ACLs in the declarative config (`acls:`), applied by difference, and their quiverctl
// commands (`show acl`, `show acl interface`, `show acl sessions`, `clear acl ...`).
//
//   acls:
//     lists:
//       - name: web-in
//         rules:
//           - { action: permit, protocol: tcp, dst: 198.19.0.10/32, dstPort: 80 }
//           - { action: permit+reflect, protocol: udp, dstPort: 53 }
//     interfaces:
//       - { interface: pg0, input: [web-in], inputDefault: deny }
//     sessions: { maxSessionsPerWorker: 65536, tcpEstablished: 86400, udp: 600 }
import { z } from 'zod';
import { type Change, type FeatureModule, type Issue, checkInterface, defineCommand, registerFeature, sameValue } from '../../src/feature.js';
import { jsonSafe } from '../../src/show/tables.js';
import * as acl from './acl.js';
import { type AclView, formatAclInterfaces, formatAclSessions, formatAcls } from './show.js';

const BindingSchema = acl.BindingSchema.extend({ interface: z.string().min(1) }).strict();

export const AclSectionSchema = z
  .object({
    lists: z.array(acl.AclSchema).default([]),
    interfaces: z.array(BindingSchema).default([]),
    sessions: acl.SessionConfigSchema.optional(),
  })
  .strict();
type Section = z.output<typeof AclSectionSchema>;
type Binding = z.output<typeof BindingSchema>;

const SESSION_DEFAULTS: Required<z.output<typeof acl.SessionConfigSchema>> = {
  maxSessionsPerWorker: 65536, tcpEstablished: 86400, tcpTransient: 120, udp: 600, icmp: 60, other: 600,
};

const bindingOf = (b: Binding): acl.AclBinding => ({ input: b.input, output: b.output, inputDefault: b.inputDefault, outputDefault: b.outputDefault });

export const aclFeature: FeatureModule<typeof AclSectionSchema> = {
  key: 'acls',
  description: 'access control lists: named ordered rule lists, per-interface input/output bindings, reflexive sessions',
  schema: AclSectionSchema,
  order: 400,
  validate(section, config) {
    const issues: Issue[] = [];
    if (!section) return issues;
    const names = new Set<string>();
    section.lists.forEach((l, i) => {
      if (names.has(l.name)) issues.push({ path: `acls.lists[${i}].name`, reason: `ACL '${l.name}' is defined twice` });
      names.add(l.name);
    });
    const bound = new Set<string>();
    section.interfaces.forEach((b, i) => {
      const path = `acls.interfaces[${i}]`;
      issues.push(...checkInterface(config, b.interface, `${path}.interface`));
      if (bound.has(b.interface)) issues.push({ path: `${path}.interface`, reason: `'${b.interface}' is listed twice` });
      bound.add(b.interface);
      for (const dir of ['input', 'output'] as const)
        b[dir].forEach((n, k) => {
          if (!names.has(n)) issues.push({ path: `${path}.${dir}[${k}]`, reason: `no ACL named '${n}'` });
          if (b[dir].indexOf(n) !== k) issues.push({ path: `${path}.${dir}[${k}]`, reason: `ACL '${n}' is listed twice` });
        });
    });
    return issues;
  },
  plan(prev, next, { interfaceReset }) {
    const remove: Change[] = [];
    const add: Change[] = [];
    const last: Change[] = [];
    const prevLists = new Map((prev?.lists ?? []).map((l) => [l.name, l.rules]));
    const nextLists = new Map((next?.lists ?? []).map((l, i) => [l.name, { rules: l.rules, path: `acls.lists[${i}]` }]));
    const prevBind = new Map((prev?.interfaces ?? []).map((b) => [b.interface, b]));
    const nextBind = new Map((next?.interfaces ?? []).map((b, i) => [b.interface, { b, path: `acls.interfaces[${i}]` }]));
    const bindingChanged = (name: string) => !sameValue(prevBind.get(name), nextBind.get(name)?.b) || interfaceReset(name);

    // No gap in filtering: lists are created or replaced (one call each) before bindings move
    // to them, and only lists nothing uses any more are deleted, last. Bindings that go away
    // are removed first.
    for (const [name, b] of prevBind)
      if (!nextBind.has(name))
        remove.push({ describe: `remove ACLs from ${name}`, apply: () => acl.applyAcls(name, {}), revert: () => acl.applyAcls(name, bindingOf(b)) });
    for (const [name, n] of nextLists) {
      const before = prevLists.get(name);
      if (before && sameValue(before, n.rules)) continue;
      add.push({
        describe: `${before ? 'replace' : 'create'} acl ${name} (${n.rules.length} rules)`,
        path: n.path,
        apply: () => void acl.setAcl(name, n.rules),
        revert: () => (before ? void acl.setAcl(name, before) : acl.deleteAcl(name)),
      });
    }
    for (const [name, n] of nextBind)
      if (bindingChanged(name)) {
        const before = prevBind.get(name);
        add.push({
          describe: `apply ACLs to ${name}: input [${n.b.input.join(', ')}] output [${n.b.output.join(', ')}]`,
          path: n.path,
          apply: () => acl.applyAcls(name, bindingOf(n.b)),
          revert: () => acl.applyAcls(name, before && !interfaceReset(name) ? bindingOf(before) : {}),
        });
      }
    for (const [name, rules] of prevLists)
      if (!nextLists.has(name))
        last.push({ describe: `delete acl ${name}`, apply: () => acl.deleteAcl(name), revert: () => void acl.setAcl(name, rules) });
    const s0 = { ...SESSION_DEFAULTS, ...(prev?.sessions ?? {}) };
    const s1 = { ...SESSION_DEFAULTS, ...(next?.sessions ?? {}) };
    if (!sameValue(s0, s1))
      add.unshift({
        describe: `acl sessions: ${JSON.stringify(s1)}`,
        path: 'acls.sessions',
        apply: () => void acl.setSessionConfig(s1),
        revert: () => void acl.setSessionConfig(s0),
      });
    return { remove, add, last };
  },
  commands: [
    defineCommand({
      name: 'show acl',
      summary: 'ACLs with every rule and its hits (one ACL by name)',
      args: [{ name: 'name', description: 'ACL name' }],
      options: [{ name: 'max', flags: '--max <n>', description: 'rules shown per ACL in text (default 1000)' }],
      schema: z.object({ name: z.string().min(1).optional(), max: z.coerce.number().int().min(0).optional() }).strict(),
      run: (a) => jsonSafe(acl.showAcl(a.name)),
      format: (list, a) => formatAcls(list as AclView[], a.max ?? 1000),
    }),
    defineCommand({
      name: 'show acl interface',
      summary: 'ACLs applied per interface and direction, with their counters',
      schema: z.object({}).strict(),
      run: () => jsonSafe(acl.aclInterfaces()),
      format: formatAclInterfaces,
    }),
    defineCommand({
      name: 'show acl sessions',
      summary: 'reflexive sessions: 5-tuple, state, age',
      options: [{ name: 'max', flags: '--max <n>', description: 'sessions listed (default 1000)' }],
      schema: z.object({ max: z.coerce.number().int().min(0).max(10_000_000).optional() }).strict(),
      run: (a) => acl.aclSessions(a.max ?? 1000),
      format: formatAclSessions,
    }),
    defineCommand({
      name: 'clear acl sessions',
      summary: 'remove reflexive sessions (all, or one interface\'s)',
      args: [{ name: 'interface', description: 'interface name' }],
      schema: z.object({ interface: z.string().min(1).optional() }).strict(),
      run: (a) => {
        acl.clearSessions(a.interface);
        return 'sessions cleared';
      },
    }),
    defineCommand({
      name: 'clear acl counters',
      summary: 'zero rule hit counters (all ACLs, or one)',
      args: [{ name: 'name', description: 'ACL name' }],
      schema: z.object({ name: z.string().min(1).optional() }).strict(),
      run: (a) => {
        acl.clearAclCounters(a.name);
        return 'counters cleared';
      },
    }),
  ],
};

registerFeature(aclFeature);
