// The declarative config: one YAML or JSON document. The engine-level sections are here;
// every other top-level key belongs to a registered feature (src/feature.ts). Unknown keys
// are errors. Validation reports every problem with its field path before anything changes.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { QuiverError } from './errors.js';
import { type InterfaceSpec, type Issue, features } from './feature.js';
import { issuePath } from './validate.js';
import './features/index.js';

export const DEFAULT_SOCKET = '/run/quiver/quiver.sock';

const WorkersSchema = z
  .object({
    count: z.number().int().min(1).max(64).default(1),
    cores: z.array(z.number().int().min(0)).optional(),
    rxMode: z.enum(['polling', 'interrupt', 'adaptive']).default('adaptive'),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.cores && w.cores.length !== w.count)
      ctx.addIssue({ code: 'custom', path: ['cores'], message: `lists ${w.cores.length} cores for ${w.count} workers` });
  });

const BuffersSchema = z
  .object({
    count: z.number().int().min(1024).max(4194304).default(16384),
    hugepages: z.enum(['auto', 'on', 'off']).default('auto'),
  })
  .strict();

const ApiSchema = z
  .object({
    socket: z.string().min(1).default(DEFAULT_SOCKET),
    /** File mode of the socket, octal string: '0600' (root only) by default. */
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'is not an octal file mode such as 0600')
      .default('0600'),
  })
  .strict();

const MetricsSchema = z
  .object({
    port: z.number().int().min(1).max(65535),
    /** Only loopback by default: the counters are not for the world. */
    host: z.enum(['127.0.0.1', '::1']).default('127.0.0.1'),
  })
  .strict();

const LoggingSchema = z
  .object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** stderr, stdout or a file path. */
    destination: z.string().min(1).default('stderr'),
  })
  .strict();

export const coreSections = {
  workers: WorkersSchema.default({}),
  buffers: BuffersSchema.default({}),
  api: ApiSchema.default({}),
  metrics: MetricsSchema.optional(),
  logging: LoggingSchema.default({}),
};

/** A parsed, validated config. Feature sections are reached by key. */
export interface Config {
  workers: z.output<typeof WorkersSchema>;
  buffers: z.output<typeof BuffersSchema>;
  api: z.output<typeof ApiSchema>;
  metrics?: z.output<typeof MetricsSchema>;
  logging: z.output<typeof LoggingSchema>;
  interfaces?: InterfaceSpec[];
  [feature: string]: unknown;
}

/** Every problem of a config, each with its field path. */
export class ConfigError extends QuiverError {
  readonly issues: Issue[];
  constructor(issues: Issue[], source = 'config') {
    const first = issues[0]!;
    super(first.path, first.reason);
    this.name = 'ConfigError';
    this.issues = issues;
    this.message =
      issues.length === 1
        ? `${source}: ${first.path ? `${first.path}: ` : ''}${first.reason}`
        : `${source}: ${issues.length} problems\n${issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.reason}`).join('\n')}`;
  }
}

/** The whole schema: core sections plus every registered feature's section. */
export function configSchema() {
  const shape: z.ZodRawShape = { ...coreSections };
  for (const f of features()) shape[f.key] = f.schema.optional();
  return z.object(shape).strict();
}

function zodIssues(error: z.ZodError): Issue[] {
  const out: Issue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: issuePath('', [...issue.path, k]), reason: 'unknown key' });
    } else if (issue.code === 'invalid_union' && issue.unionErrors.length > 0) {
      // Report the branch that got furthest (the most specific complaint).
      const best = issue.unionErrors.map((e) => zodIssues(e)).sort((a, b) => depth(b) - depth(a))[0]!;
      out.push(...best);
    } else {
      out.push({ path: issuePath('', issue.path), reason: issue.message });
    }
  }
  return out;
}
const depth = (issues: Issue[]) => Math.max(0, ...issues.map((i) => i.path.split(/[.[]/).length));

/** Validates a config object completely: schema, then every feature's cross references. */
export function validateConfig(value: unknown, source = 'config'): Config {
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError([{ path: '', reason: 'must be a mapping of sections' }], source);
  const r = configSchema().safeParse(value);
  if (!r.success) throw new ConfigError(zodIssues(r.error), source);
  const config = r.data as Config;
  const issues: Issue[] = [];
  for (const f of features()) issues.push(...(f.validate?.(config[f.key] as never, config) ?? []));
  if (issues.length) throw new ConfigError(issues, source);
  return config;
}

/** Parses YAML (JSON is YAML) and validates it. */
export function parseConfig(text: string, source = 'config'): Config {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new ConfigError([{ path: where, reason: e.message.split('\n')[0]! }], source);
  }
  return validateConfig(doc.toJS(), source);
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', reason: `cannot read: ${(e as Error).message}` }], file);
  }
  return parseConfig(text, file);
}

/** The empty config: what a dataplane runs before anything is applied. */
export function emptyConfig(engine: Partial<Pick<Config, 'workers' | 'buffers'>> = {}): Config {
  return validateConfig({ workers: engine.workers, buffers: engine.buffers });
}

/** Deep copy of a config (plain data). */
export function cloneConfig(c: Config): Config {
  return structuredClone(c);
}
