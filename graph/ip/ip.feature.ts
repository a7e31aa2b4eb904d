// L3 in the declarative config and quiverctl: `vrfs` (tables and the interfaces bound to
// them), `addresses`, `routes`, `neighbors` (static) and `ip` (settings), each planned by
// difference; `show ip fib`, `show ip6 fib`, `show ip neighbors`, `show ip6 neighbors`,
// `show ip interface`, `show ip table`, `ping`, and the `set` / `ip route` verbs.
//
//   vrfs:      [{ id: 10, name: blue, ecmpHash: symmetric, interfaces: [pg2] }]
//   addresses: [{ interface: pg0, addresses: [198.18.0.1/24, 2001:db8::1/64] }]
//   routes:    [{ table: 10, prefix: 10.0.0.0/8, paths: [{ via: 198.18.2.2, interface: pg2 }] }]
//   neighbors: [{ interface: pg0, address: 198.18.0.2, mac: 02:00:00:00:00:02 }]
//   ip:        { neighborLimit: 50000, neighborAgeSeconds: 300, holdMs: 1000, icmpRate: 1000, icmpBurst: 100 }
import { z } from 'zod';
import type { Config } from '../../src/config.js';
import { type Change, type FeatureModule, type Issue, checkInterface, defineCommand, registerFeature, sameValue } from '../../src/feature.js';
import * as ip from './ip.js';
import { QuiverError } from '../../src/errors.js';
import { canonicalPrefix, maskWords, parseIp, parsePrefix, prefixProblem } from './ip.js';
import { formatFib, formatInterfacesL3, formatNeighbors, formatPing, formatTables } from './show.js';

// ---- schemas ----------------------------------------------------------------------------------

const VrfsSchema = z.array(
  z
    .object({
      id: z.number().int().min(1, 'table 0 always exists; give 1..4294967295').max(0xffffffff),
      name: z.string().max(64).optional(),
      ecmpHash: z.enum(['five-tuple', 'symmetric']).default('five-tuple'),
      /** Interfaces routed in this table (both families); the others use table 0. */
      interfaces: z.array(z.string().min(1)).default([]),
    })
    .strict(),
);
type Vrfs = z.output<typeof VrfsSchema>;

const AddressesSchema = z.array(
  z
    .object({
      interface: z.string().min(1),
      addresses: z.array(z.string().superRefine((s, ctx) => {
        const bad = prefixProblem(s, true);
        if (bad) ctx.addIssue({ code: z.ZodIssueCode.custom, message: bad });
      })),
    })
    .strict(),
);
type Addresses = z.output<typeof AddressesSchema>;

const RoutesSchema = z.array(ip.RouteSchema);
type Routes = z.output<typeof RoutesSchema>;

const NeighborsSchema = z.array(ip.NeighborSchema.extend({ interface: z.string().min(1) }).strict());
type Neighbors = z.output<typeof NeighborsSchema>;

const SETTING_DEFAULTS = { neighborLimit: 50000, neighborAgeSeconds: 300, holdMs: 1000, icmpRate: 1000, icmpBurst: 100 };

// ---- helpers ----------------------------------------------------------------------------------

/** The table an interface is bound to in a config (0 when no VRF lists it). */
function tableOf(config: Config | undefined, intf: string): number {
  const v = (config?.vrfs as Vrfs | undefined)?.find((x) => x.interfaces.includes(intf));
  return v?.id ?? 0;
}
function tableIds(config: Config): Set<number> {
  return new Set([0, ...((config.vrfs as Vrfs | undefined) ?? []).map((v) => v.id)]);
}
function overlap(a: ReturnType<typeof parsePrefix>, b: ReturnType<typeof parsePrefix>): boolean {
  const len = Math.min(a.len, b.len);
  const x = maskWords(a.words, len), y = maskWords(b.words, len);
  return x.every((w, i) => w === y[i]);
}
const routeKey = (r: { table: number; prefix: string }) => `${r.table} ${canonicalPrefix(r.prefix)}`;
const describeRoute = (r: Routes[number]) =>
  `route table ${r.table} ${r.prefix} ${r.kind === 'forward' ? r.paths.map((p) => (p.via ? `via ${p.via}${p.interface !== undefined ? ` ${p.interface}` : ''}` : `attached ${p.interface}`)).join(', ') : r.kind}`;

// ---- vrfs -------------------------------------------------------------------------------------

const vrfsFeature: FeatureModule<typeof VrfsSchema> = {
  key: 'vrfs',
  description: 'routing tables (VRFs) and the interfaces routed in each',
  schema: VrfsSchema,
  order: 300,
  validate(section, config) {
    const issues: Issue[] = [];
    const ids = new Map<number, number>();
    const owner = new Map<string, string>();
    (section ?? []).forEach((v, i) => {
      if (ids.has(v.id)) issues.push({ path: `vrfs[${i}].id`, reason: `table ${v.id} is already vrfs[${ids.get(v.id)}]` });
      ids.set(v.id, i);
      v.interfaces.forEach((name, k) => {
        const path = `vrfs[${i}].interfaces[${k}]`;
        issues.push(...checkInterface(config, name, path));
        if (owner.has(name)) issues.push({ path, reason: `${name} is already in ${owner.get(name)}` });
        owner.set(name, `vrfs[${i}]`);
      });
    });
    return issues;
  },
  plan(prev, next, { interfaceReset }) {
    const before = new Map((prev ?? []).map((v) => [v.id, v]));
    const after = new Map((next ?? []).map((v, i) => [v.id, { v, path: `vrfs[${i}]` }]));
    const remove: Change[] = [];
    const add: Change[] = [];
    for (const [id, p] of before) {
      const n = after.get(id)?.v;
      for (const name of p.interfaces)
        if (!n?.interfaces.includes(name) || interfaceReset(name))
          remove.push({ describe: `unbind ${name} from table ${id}`, apply: () => ip.setInterfaceTable(name, 0), revert: () => ip.setInterfaceTable(name, id) });
      if (!n)
        remove.push({
          describe: `delete table ${id}`,
          apply: () => ip.deleteTable(id),
          revert: () => ip.addTable({ id, name: p.name, ecmpHash: p.ecmpHash }),
        });
    }
    for (const [id, { v, path }] of after) {
      const p = before.get(id);
      if (!p)
        add.push({ describe: `create table ${id}${v.name ? ` (${v.name})` : ''}`, path, apply: () => ip.addTable({ id, name: v.name, ecmpHash: v.ecmpHash }), revert: () => ip.deleteTable(id) });
      else if (p.name !== v.name || p.ecmpHash !== v.ecmpHash)
        add.push({
          describe: `set table ${id} ecmp hash ${v.ecmpHash}`,
          path,
          apply: () => ip.setTable({ id, name: v.name, ecmpHash: v.ecmpHash }),
          revert: () => ip.setTable({ id, name: p.name, ecmpHash: p.ecmpHash }),
        });
      v.interfaces.forEach((name, k) => {
        if (p?.interfaces.includes(name) && !interfaceReset(name)) return;
        add.push({ describe: `bind ${name} to table ${id}`, path: `${path}.interfaces[${k}]`, apply: () => ip.setInterfaceTable(name, id), revert: () => ip.setInterfaceTable(name, 0) });
      });
    }
    return { remove, add };
  },
};

// ---- addresses --------------------------------------------------------------------------------

const addressesFeature: FeatureModule<typeof AddressesSchema> = {
  key: 'addresses',
  description: 'interface IP addresses (connected and local routes follow)',
  schema: AddressesSchema,
  order: 305,
  validate(section, config) {
    const issues: Issue[] = [];
    const seen: { table: number; p: ReturnType<typeof parsePrefix>; text: string; intf: string }[] = [];
    (section ?? []).forEach((x, i) => {
      issues.push(...checkInterface(config, x.interface, `addresses[${i}].interface`));
      const table = tableOf(config, x.interface);
      x.addresses.forEach((a, k) => {
        const p = parsePrefix(a);
        const clash = seen.find((o) => o.table === table && o.p.family === p.family && overlap(o.p, p));
        if (clash) issues.push({ path: `addresses[${i}].addresses[${k}]`, reason: `${a} overlaps ${clash.text} on ${clash.intf} (table ${table})` });
        seen.push({ table, p, text: a, intf: x.interface });
      });
    });
    return issues;
  },
  plan(prev, next, { interfaceReset, prev: prevConfig, next: nextConfig }) {
    const pairs = (s: Addresses | undefined) => {
      const m = new Map<string, { intf: string; address: string; path: string }>();
      (s ?? []).forEach((x, i) => x.addresses.forEach((a, k) => m.set(`${x.interface} ${a}`, { intf: x.interface, address: a, path: `addresses[${i}].addresses[${k}]` })));
      return m;
    };
    const before = pairs(prev), after = pairs(next);
    // An address goes away and comes back when its interface is re-created or changes table.
    const moved = (intf: string) => interfaceReset(intf) || tableOf(prevConfig, intf) !== tableOf(nextConfig, intf);
    const remove: Change[] = [];
    const add: Change[] = [];
    for (const [k, a] of before)
      if (!after.has(k) || moved(a.intf))
        remove.push({ describe: `delete address ${a.address} from ${a.intf}`, apply: () => ip.deleteAddress(a.intf, a.address), revert: () => ip.addAddress(a.intf, a.address, { announce: false }) });
    for (const [k, a] of after)
      if (!before.has(k) || moved(a.intf))
        add.push({ describe: `add address ${a.address} to ${a.intf}`, path: a.path, apply: () => ip.addAddress(a.intf, a.address), revert: () => ip.deleteAddress(a.intf, a.address) });
    return { remove, add };
  },
};

// ---- routes -----------------------------------------------------------------------------------

const routesFeature: FeatureModule<typeof RoutesSchema> = {
  key: 'routes',
  description: 'static routes (ECMP, recursive next hops, drop, unreachable)',
  schema: RoutesSchema,
  order: 310,
  validate(section, config) {
    const issues: Issue[] = [];
    const tables = tableIds(config);
    const keys = new Map<string, number>();
    (section ?? []).forEach((r, i) => {
      if (!tables.has(r.table)) issues.push({ path: `routes[${i}].table`, reason: `table ${r.table} is not in vrfs` });
      const k = routeKey(r);
      if (keys.has(k)) issues.push({ path: `routes[${i}].prefix`, reason: `table ${r.table} already has ${r.prefix} (routes[${keys.get(k)}])` });
      keys.set(k, i);
      r.paths.forEach((p, j) => {
        if (typeof p.interface === 'string') issues.push(...checkInterface(config, p.interface, `routes[${i}].paths[${j}].interface`));
      });
    });
    return issues;
  },
  plan(prev, next, { interfaceReset }) {
    const index = (s: Routes | undefined) => new Map((s ?? []).map((r, i) => [routeKey(r), { r, path: `routes[${i}]` }]));
    const before = index(prev), after = index(next);
    const touched = (r: Routes[number]) => r.paths.some((p) => typeof p.interface === 'string' && interfaceReset(p.interface));
    const remove: Change[] = [];
    const add: Change[] = [];
    for (const [k, { r }] of before)
      if (!after.has(k)) remove.push({ describe: `delete ${describeRoute(r)}`, apply: () => void ip.deleteRoute({ table: r.table, prefix: r.prefix }), revert: () => ip.addRoute(r) });
    for (const [k, { r, path }] of after) {
      const p = before.get(k)?.r;
      if (p && sameValue(p, r) && !touched(r)) continue;
      add.push({ describe: describeRoute(r), path, apply: () => ip.addRoute(r), revert: () => (p ? ip.addRoute(p) : void ip.deleteRoute({ table: r.table, prefix: r.prefix })) });
    }
    return { remove, add };
  },
};

// ---- neighbors and settings --------------------------------------------------------------------

const neighborsFeature: FeatureModule<typeof NeighborsSchema> = {
  key: 'neighbors',
  description: 'static ARP / ND entries',
  schema: NeighborsSchema,
  order: 315,
  validate: (section, config) => (section ?? []).flatMap((n, i) => checkInterface(config, n.interface, `neighbors[${i}].interface`)),
  plan(prev, next, { interfaceReset }) {
    const key = (n: Neighbors[number]) => `${n.interface} ${n.address}`;
    const before = new Map((prev ?? []).map((n) => [key(n), n]));
    const after = new Map((next ?? []).map((n, i) => [key(n), { n, path: `neighbors[${i}]` }]));
    const remove: Change[] = [];
    const add: Change[] = [];
    for (const [k, n] of before)
      if (!after.has(k) || interfaceReset(n.interface))
        remove.push({ describe: `delete neighbor ${n.address} on ${n.interface}`, apply: () => ip.deleteNeighbor({ interface: n.interface, address: n.address }), revert: () => ip.addNeighbor(n) });
    for (const [k, { n, path }] of after) {
      const p = before.get(k);
      if (p && p.mac === n.mac && !interfaceReset(n.interface)) continue;
      add.push({ describe: `neighbor ${n.address} on ${n.interface} is ${n.mac}`, path, apply: () => ip.addNeighbor(n), revert: () => (p && !interfaceReset(n.interface) ? ip.addNeighbor(p) : ip.deleteNeighbor({ interface: n.interface, address: n.address })) });
    }
    return { remove, add };
  },
};

const settingsFeature: FeatureModule<typeof ip.IpSettingsSchema> = {
  key: 'ip',
  description: 'neighbor limit and aging, hold time for unresolved next hops, ICMP error rate',
  schema: ip.IpSettingsSchema,
  order: 320,
  plan(prev, next) {
    if (sameValue(prev ?? {}, next ?? {})) return {};
    const full = (s: ip.IpSettings | undefined) => ({ ...SETTING_DEFAULTS, ...(s ?? {}) });
    return { add: [{ describe: `ip settings ${JSON.stringify(next ?? {})}`, path: 'ip', apply: () => void ip.configure(full(next)), revert: () => void ip.configure(full(prev)) }] };
  },
};

// ---- commands ---------------------------------------------------------------------------------

const tableOption = { name: 'table', flags: '--table <id>', description: 'table (VRF) id, default 0' };
const num = (def: number) => z.coerce.number().int().min(0).default(def);

function fibCommand(family: 'ip4' | 'ip6') {
  return defineCommand({
    name: `show ${family === 'ip4' ? 'ip' : 'ip6'} fib`,
    summary: `${family === 'ip4' ? 'IPv4' : 'IPv6'} routes of a table; with an address, the route it matches; with a prefix, that route`,
    args: [{ name: 'prefix', description: 'address or prefix', required: false }],
    options: [tableOption, { name: 'limit', flags: '--limit <n>', description: 'at most n routes (default 1000)' }],
    schema: z.object({ prefix: z.string().optional(), table: num(0), limit: num(1000) }).strict(),
    run: (a) => ip.fib({ table: a.table, family, prefix: a.prefix, limit: a.limit }),
    format: (v) => formatFib(v),
  });
}
function neighborCommand(family: 'ip4' | 'ip6') {
  return defineCommand({
    name: `show ${family === 'ip4' ? 'ip' : 'ip6'} neighbors`,
    summary: `${family === 'ip4' ? 'ARP' : 'neighbor discovery'} entries: learned, static and incomplete`,
    schema: z.object({}).strict(),
    run: () => ip.neighbors(family),
    format: (l) => formatNeighbors(l),
  });
}

const commands = [
  fibCommand('ip4'),
  fibCommand('ip6'),
  neighborCommand('ip4'),
  neighborCommand('ip6'),
  defineCommand({ name: 'show ip interface', summary: 'addresses and table of every L3 interface', schema: z.object({}).strict(), run: () => ip.interfaces(), format: formatInterfacesL3 }),
  defineCommand({ name: 'show ip table', summary: 'routing tables (VRFs): routes and FIB memory', schema: z.object({}).strict(), run: () => ip.tables(), format: formatTables }),
  defineCommand({
    name: 'ping',
    summary: 'echo requests from the dataplane itself',
    args: [{ name: 'destination', description: 'IPv4 or IPv6 address', required: true }],
    options: [
      tableOption,
      { name: 'source', flags: '--source <address>', description: 'one of the dataplane addresses' },
      { name: 'count', flags: '--count <n>', description: 'requests (default 3)' },
      { name: 'size', flags: '--size <bytes>', description: 'payload (default 56)' },
      { name: 'interval', flags: '--interval <ms>', description: 'between requests (default 1000)' },
    ],
    schema: z.object({ destination: z.string(), table: num(0), source: z.string().optional(), count: z.coerce.number().int().min(1).max(1000).default(3), size: z.coerce.number().int().min(0).max(1400).default(56), interval: z.coerce.number().int().min(1).max(60000).default(1000) }).strict(),
    run: (a) => ip.ping({ table: a.table, destination: a.destination, source: a.source, count: a.count, size: a.size, intervalMs: a.interval }),
    format: (r, a) => formatPing(a.destination, r),
  }),
  defineCommand({
    name: 'set interface ip address',
    summary: 'add (or with --del remove) an interface address, in the running config',
    args: [
      { name: 'interface', description: 'interface', required: true },
      { name: 'address', description: 'address/length', required: true },
    ],
    options: [{ name: 'del', flags: '--del', description: 'remove it' }],
    schema: z.object({ interface: z.string(), address: z.string(), del: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false) }).strict(),
    run: (a, ctx) =>
      ctx.change((draft) => {
        const list = ((draft.addresses as Addresses | undefined) ?? []).map((x) => ({ ...x, addresses: [...x.addresses] }));
        let entry = list.find((x) => x.interface === a.interface);
        if (!entry) list.push((entry = { interface: a.interface, addresses: [] }));
        entry.addresses = entry.addresses.filter((x) => x !== a.address);
        if (!a.del) entry.addresses.push(a.address);
        draft.addresses = list.filter((x) => x.addresses.length);
      }),
    format: (r) => (r.changes.length ? r.changes.join('\n') : 'no change'),
  }),
  defineCommand({
    name: 'ip route',
    summary: 'ip route add|del [table N] <prefix> [via <address> [<interface>]]... | drop | unreachable',
    args: [{ name: 'words', description: 'the route, VPP style', required: true, variadic: true }],
    schema: z.object({ words: z.array(z.string()).min(2) }).strict(),
    run: (a, ctx) => {
      const r = parseRouteWords(a.words);
      return ctx.change((draft) => {
        const list = ((draft.routes as Routes | undefined) ?? []).filter((x) => routeKey(x) !== routeKey(r.route));
        if (!r.del) list.push(r.route as Routes[number]);
        draft.routes = list;
      });
    },
    format: (r) => (r.changes.length ? r.changes.join('\n') : 'no change'),
  }),
];

/** `add 10.0.0.0/8 via 198.18.1.2 pg1 via 198.18.2.2`, `del table 10 10.0.0.0/8`, `add 0.0.0.0/0 drop`. */
export function parseRouteWords(words: string[]): { del: boolean; route: ip.Route & { table: number; prefix: string } } {
  const w = [...words];
  const verb = w.shift();
  if (verb !== 'add' && verb !== 'del') throw new QuiverError('words', `'${verb}' is not add or del`);
  let table = 0;
  if (w[0] === 'table') {
    w.shift();
    table = Number(w.shift());
    if (!Number.isInteger(table) || table < 0) throw new QuiverError('words', 'table needs a number');
  }
  const prefix = w.shift() ?? '';
  const bad = prefixProblem(prefix, false);
  if (bad) throw new QuiverError('words', bad);
  if (verb === 'del') return { del: true, route: { table, prefix } };
  if (w[0] === 'drop' || w[0] === 'unreachable' || w[0] === 'local') return { del: false, route: { table, prefix, kind: w[0] } };
  const paths: { via?: string; interface?: string }[] = [];
  while (w.length) {
    const word = w.shift()!;
    if (word === 'via') {
      const via = w.shift() ?? '';
      if (!parseIp(via)) throw new QuiverError('words', `'${via}' is not an address`);
      const p: { via?: string; interface?: string } = { via };
      if (w.length && w[0] !== 'via') p.interface = w.shift();
      paths.push(p);
    } else {
      paths.push({ interface: word }); // attached
    }
  }
  return { del: false, route: { table, prefix, paths } };
}

// The commands are the L3 feature's as a whole; they ride with `routes`.
routesFeature.commands = commands;
for (const f of [vrfsFeature, addressesFeature, routesFeature, neighborsFeature, settingsFeature] as FeatureModule[]) registerFeature(f);
