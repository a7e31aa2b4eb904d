// pg as a config interface type: `interfaces: [{type: pg, name: pg0, streams: [...]}]`.
// The worked example of an interface type (src/feature.ts registerInterfaceType).
import { z } from 'zod';
import { type Change, type Issue, interfaceSchema, registerInterfaceType, sameValue } from '../../src/feature.js';
import { PgStreamSchema } from './pg.js';

/** A stream as the config holds it: no in-memory packets, and listed means running. */
const ConfigStreamSchema = PgStreamSchema.omit({ packets: true }).extend({ enabled: z.boolean().default(true) }).strict();
type ConfigStream = z.output<typeof ConfigStreamSchema>;

export const PgConfigSchema = interfaceSchema('pg', {
  /** The worker that polls it (default: the engine spreads interfaces over workers). */
  worker: z.number().int().min(0).optional(),
  streams: z.array(ConfigStreamSchema).optional(),
});
type PgSpec = z.output<typeof PgConfigSchema>;

registerInterfaceType({
  type: 'pg',
  description: 'packet generator: synthesized or replayed streams; counts and can keep what it sends',
  schema: PgConfigSchema,
  nodes: { input: 'pg-input', output: 'pg-output' },
  // An enabled stream starts the moment its interface is up.
  sourcesTraffic: (spec) => (spec.streams ?? []).some((s) => s.enabled),
  validate(spec, path, config) {
    const issues: Issue[] = [];
    if (spec.worker !== undefined && spec.worker >= config.workers.count)
      issues.push({ path: `${path}.worker`, reason: `${spec.worker} does not exist (workers.count is ${config.workers.count})` });
    // Stream names are global in the engine: unique across every pg interface.
    const first = new Map<string, string>();
    (config.interfaces ?? []).forEach((i, n) => {
      if (i.type === 'pg') ((i as PgSpec).streams ?? []).forEach((s, k) => first.has(s.name) || first.set(s.name, `interfaces[${n}].streams[${k}]`));
    });
    (spec.streams ?? []).forEach((s, k) => {
      const here = `${path}.streams[${k}]`;
      if (first.get(s.name) !== here) issues.push({ path: `${here}.name`, reason: `stream '${s.name}' is already ${first.get(s.name)}` });
    });
    (spec.streams ?? []).forEach((s, k) => {
      const sources = [s.pcap, s.template].filter((x) => x !== undefined).length;
      if (sources > 1) issues.push({ path: `${path}.streams[${k}].pcap`, reason: 'give one of pcap or template' });
      if (s.size !== undefined && (s.sizeMin !== undefined || s.sizeMax !== undefined))
        issues.push({ path: `${path}.streams[${k}].size`, reason: 'give either size or sizeMin/sizeMax' });
    });
    return issues;
  },
  create(spec, dp) {
    dp.interfaces.createPg({ name: spec.name, worker: spec.worker });
    try {
      for (const s of spec.streams ?? []) dp.pg.addStream(spec.name, s);
    } catch (e) {
      dp.interfaces.delete(spec.name);
      throw e;
    }
  },
  update(prev, next, dp): Change[] | 'recreate' {
    if (prev.worker !== next.worker) return 'recreate';
    const before = new Map((prev.streams ?? []).map((s) => [s.name, s]));
    const after = new Map((next.streams ?? []).map((s) => [s.name, s]));
    const steps: Change[] = [];
    const remove = (s: ConfigStream): Change => ({
      describe: `pg ${next.name}: delete stream ${s.name}`,
      apply: () => dp.pg.deleteStream(s.name),
      revert: () => dp.pg.addStream(next.name, s),
    });
    const add = (s: ConfigStream): Change => ({
      describe: `pg ${next.name}: add stream ${s.name}`,
      apply: () => dp.pg.addStream(next.name, s),
      revert: () => dp.pg.deleteStream(s.name),
    });
    for (const [name, s] of before) if (!after.has(name)) steps.push(remove(s));
    for (const [name, s] of after) {
      const p = before.get(name);
      if (!p) steps.push(add(s));
      else if (sameValue(p, s)) continue;
      else if (sameValue({ ...p, enabled: true }, { ...s, enabled: true }))
        steps.push({
          describe: `pg ${next.name}: ${s.enabled ? 'enable' : 'disable'} stream ${name}`,
          apply: () => dp.pg.enableStream(name, s.enabled),
          revert: () => dp.pg.enableStream(name, p.enabled),
        });
      else steps.push(remove(p), add(s));
    }
    return steps;
  },
});
