// The `interfaces:` section: a list whose `type` picks a registered interface type (pg here;
// drivers register theirs). This module owns what every interface has in common (state, mtu,
// mac, rx mode and placement) and the order of creation and deletion; the type owns creation
// and its own fields.
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Dataplane } from '../dataplane.js';
import { QuiverError } from '../errors.js';
import {
  type Change,
  type InterfaceSpec,
  type InterfaceType,
  type Issue,
  interfaceType,
  interfaceTypes,
  ownFields,
  registerFeature,
  sameValue,
} from '../feature.js';

/** Any registered type, dispatched on `type`; errors keep the path inside the interface. */
const AnyInterface = z.unknown().transform((value, ctx): InterfaceSpec => {
  const known = interfaceTypes().map((t) => t.type);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a mapping with a type and a name' });
    return z.NEVER;
  }
  const type = (value as { type?: unknown }).type;
  const t = typeof type === 'string' ? interfaceType(type) : undefined;
  if (!t) {
    const why = type === undefined ? 'required' : `'${String(type)}' is not an interface type`;
    ctx.addIssue({ code: 'custom', path: ['type'], message: `${why} (one of: ${known.join(', ')})` });
    return z.NEVER;
  }
  const r = t.schema.safeParse(value);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue(issue as z.IssueData);
    return z.NEVER;
  }
  return r.data as InterfaceSpec;
});

export const InterfacesSchema = z.array(AnyInterface);

function typeOf(spec: InterfaceSpec): InterfaceType {
  const t = interfaceType(spec.type);
  if (!t) throw new Error(`interface type '${spec.type}' is not registered`);
  return t;
}
const typeOrder = (spec: InterfaceSpec) => typeOf(spec).order ?? 0;

type Disposition = { kind: 'create'; next: InterfaceSpec } | { kind: 'delete'; prev: InterfaceSpec } | { kind: 'recreate'; prev: InterfaceSpec; next: InterfaceSpec } | { kind: 'update'; prev: InterfaceSpec; next: InterfaceSpec; own: Change[] };

function dispositions(dp: Dataplane, prev: InterfaceSpec[] = [], next: InterfaceSpec[] = []): Map<string, Disposition> {
  const out = new Map<string, Disposition>();
  const before = new Map(prev.map((i) => [i.name, i]));
  const after = new Map(next.map((i) => [i.name, i]));
  for (const [name, p] of before) if (!after.has(name)) out.set(name, { kind: 'delete', prev: p });
  for (const [name, n] of after) {
    const p = before.get(name);
    if (!p) {
      out.set(name, { kind: 'create', next: n });
      continue;
    }
    if (p.type !== n.type) {
      out.set(name, { kind: 'recreate', prev: p, next: n });
      continue;
    }
    const t = typeOf(n);
    let own: Change[] | 'recreate' = [];
    if (!sameValue(ownFields(p), ownFields(n))) own = t.update ? t.update(p, n, dp) : 'recreate';
    if (own === 'recreate') out.set(name, { kind: 'recreate', prev: p, next: n });
    else out.set(name, { kind: 'update', prev: p, next: n, own });
  }
  // An interface living on one that is re-created goes with it: re-create it too.
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, d] of out) {
      if (d.kind !== 'update') continue;
      const parents = typeOf(d.next).dependsOn?.(d.next) ?? [];
      if (parents.some((x) => out.get(x)?.kind === 'recreate')) {
        out.set(name, { kind: 'recreate', prev: d.prev, next: d.next });
        changed = true;
      }
    }
  }
  return out;
}

/** Interfaces this apply deletes or re-creates (PlanContext.interfaceReset). */
export function interfaceResets(dp: Dataplane, prev: Config, next: Config): Set<string> {
  const out = new Set<string>();
  for (const [name, d] of dispositions(dp, prev.interfaces, next.interfaces))
    if (d.kind === 'delete' || d.kind === 'recreate') out.add(name);
  return out;
}

function pathOf(config: Config, name: string): string {
  const i = (config.interfaces ?? []).findIndex((x) => x.name === name);
  return `interfaces[${i}]`;
}

/** Steps for the common fields that differ between a and b (a undefined: just created). */
function commonSteps(dp: Dataplane, a: InterfaceSpec | undefined, b: InterfaceSpec, path: string, defaultRxMode: string, withState = true): Change[] {
  const steps: Change[] = [];
  const name = b.name;
  const live = () => dp.interfaces.get(name);
  for (const field of ['mac', 'mtu'] as const) {
    if (a && sameValue(a[field], b[field])) continue;
    if (!a && b[field] === undefined) continue;
    let old: string | number | undefined;
    steps.push({
      describe: `set interface ${field} ${name} ${b[field] ?? '(default)'}`,
      path: `${path}.${field}`,
      apply() {
        old = live()[field];
        const value = b[field] ?? dp.interfaceDefaults.get(name)?.[field];
        if (value !== undefined && value !== old) dp.interfaces.setState(name, { [field]: value });
      },
      revert() {
        if (old !== undefined) dp.interfaces.setState(name, { [field]: old });
      },
    });
  }
  const wantMode = b.rxMode ?? (a?.rxMode !== undefined ? defaultRxMode : undefined);
  if (wantMode && (!a || a.rxMode !== b.rxMode)) {
    let old: { queue: number; mode: string }[] = [];
    steps.push({
      describe: `set interface rx-mode ${name} ${wantMode}`,
      path: `${path}.rxMode`,
      apply() {
        old = live().rxQueues.map((q) => ({ queue: q.queue, mode: q.mode }));
        dp.interfaces.setRxMode(name, 'all', wantMode as 'polling');
      },
      revert() {
        for (const q of old) dp.interfaces.setRxMode(name, q.queue, q.mode as 'polling');
      },
    });
  }
  (b.rxPlacement ?? []).forEach((p, k) => {
    if (a && (a.rxPlacement ?? []).some((x) => x.queue === p.queue && x.worker === p.worker)) return;
    let old: number | undefined;
    steps.push({
      describe: `set interface rx-placement ${name} queue ${p.queue} worker ${p.worker}`,
      path: `${path}.rxPlacement[${k}]`,
      apply() {
        old = live().rxQueues.find((q) => q.queue === p.queue)?.worker;
        dp.interfaces.setRxPlacement(name, p.queue, p.worker);
      },
      revert() {
        if (old !== undefined) dp.interfaces.setRxPlacement(name, p.queue, old);
      },
    });
  });
  if (withState && (!a || a.state !== b.state)) {
    if (a || b.state === 'up')
      steps.push({
        describe: `set interface state ${name} ${b.state}`,
        path: `${path}.state`,
        apply: () => dp.interfaces.setState(name, { adminUp: b.state === 'up' }),
        revert: () => dp.interfaces.setState(name, { adminUp: b.state !== 'up' }),
      });
  }
  return steps;
}

/** One step that creates the interface with its common fields (undone inside on failure). */
function createStep(dp: Dataplane, spec: InterfaceSpec, path: string, defaultRxMode: string, withState = true): Change {
  const t = typeOf(spec);
  return {
    describe: `create interface ${spec.name} (${[spec.type, ...(['mtu', 'mac', 'rxMode'] as const).filter((f) => spec[f] !== undefined).map((f) => `${f} ${spec[f]}`)].join(', ')})`,
    path,
    async apply() {
      await t.create(spec, dp);
      const i = dp.interfaces.get(spec.name);
      if (!dp.interfaceDefaults.has(spec.name)) dp.interfaceDefaults.set(spec.name, { mtu: i.mtu, mac: i.mac });
      try {
        await runInline(commonSteps(dp, undefined, spec, path, defaultRxMode, withState));
      } catch (e) {
        await deleteInterface(dp, spec);
        throw e;
      }
    },
    revert: () => deleteInterface(dp, spec),
  };
}

async function runInline(steps: Change[]): Promise<void> {
  const done: Change[] = [];
  try {
    for (const s of steps) {
      await s.apply();
      done.push(s);
    }
  } catch (e) {
    for (const d of done.reverse()) await d.revert?.();
    const step = steps[done.length]!;
    if (e instanceof QuiverError && step.path) {
      const reason = e.field && e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
      throw new QuiverError(step.path, reason);
    }
    throw e;
  }
}

async function deleteInterface(dp: Dataplane, spec: InterfaceSpec): Promise<void> {
  const t = typeOf(spec);
  if (t.delete) await t.delete(spec, dp);
  else dp.interfaces.delete(spec.name);
  dp.interfaceDefaults.delete(spec.name);
}

function deleteStep(dp: Dataplane, spec: InterfaceSpec, defaultRxMode: string): Change {
  return {
    describe: `delete interface ${spec.name} (${spec.type})`,
    apply: () => deleteInterface(dp, spec),
    revert: () => createStep(dp, spec, 'interfaces', defaultRxMode).apply(),
  };
}

registerFeature({
  key: 'interfaces',
  description: 'interfaces of every type (pg, af_packet, memif, ...), each with a name and a type',
  schema: InterfacesSchema,
  order: 100,
  validate(list, config) {
    const issues: Issue[] = [];
    const seen = new Map<string, number>();
    (list ?? []).forEach((spec, i) => {
      const path = `interfaces[${i}]`;
      const first = seen.get(spec.name);
      if (first !== undefined) issues.push({ path: `${path}.name`, reason: `'${spec.name}' is already interfaces[${first}]` });
      else seen.set(spec.name, i);
      (spec.rxPlacement ?? []).forEach((p, k) => {
        if (p.worker >= config.workers.count)
          issues.push({ path: `${path}.rxPlacement[${k}].worker`, reason: `${p.worker} does not exist (workers.count is ${config.workers.count})` });
      });
      issues.push(...(typeOf(spec).validate?.(spec, path, config) ?? []));
    });
    return issues;
  },
  plan(_prev, _next, ctx) {
    const { dp, prev, next } = ctx;
    const rxDefault = next.workers.rxMode;
    const remove: Change[] = [];
    const add: Change[] = [];
    const last: Change[] = [];
    const lastSources: Change[] = [];
    const all = [...dispositions(dp, prev.interfaces, next.interfaces).values()];
    const byOrderDesc = (d: Disposition) => -typeOrder('prev' in d ? d.prev : d.next);
    for (const d of [...all].sort((a, b) => byOrderDesc(a) - byOrderDesc(b)))
      if (d.kind === 'delete' || d.kind === 'recreate') remove.push(deleteStep(dp, d.prev, prev.workers.rxMode));
    for (const d of [...all].sort((a, b) => byOrderDesc(b) - byOrderDesc(a))) {
      if (d.kind === 'create' || d.kind === 'recreate') {
        // Created down; up in `last`, once xconnects, bridges and routes are in place.
        const path = pathOf(next, d.next.name);
        add.push(createStep(dp, d.next, path, rxDefault, false));
        if (d.next.state === 'up') {
          const up = commonSteps(dp, { ...d.next, state: 'down' }, d.next, path, rxDefault).filter((c) => c.path === `${path}.state`);
          (typeOf(d.next).sourcesTraffic?.(d.next) ? lastSources : last).push(...up);
        }
      }
      else if (d.kind === 'update') {
        const path = pathOf(next, d.next.name);
        add.push(...d.own.map((c) => ({ ...c, path: c.path ?? path })), ...commonSteps(dp, d.prev, d.next, path, rxDefault));
      }
    }
    return { remove, add, last: [...last, ...lastSources] };
  },
});
