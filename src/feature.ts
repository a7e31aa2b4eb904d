// The control plane's plug-in points. A feature (bridge domains, routes, ACLs...) or an
// interface driver (af_packet, memif, ...) registers here and thereby takes part in the
// declarative config, apply-by-difference, the management API and quiverctl without any
// central file knowing about it. Registration happens when the module is imported; the list
// of imports is src/features/index.ts (one line per feature). See src/README.md.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Config } from './config.js';
import type { Dataplane } from './dataplane.js';

/** One problem in a config: `path` names the field (`bridgeDomains[2].members[0]`). */
export interface Issue {
  path: string;
  reason: string;
}

/**
 * One step of an apply. Steps run in plan order; when one throws, the steps already run are
 * reverted newest first, so an apply is whole or nothing. A step whose native call can fail
 * on valid input should say so by checking first (validate) rather than rely on revert.
 */
export interface Change {
  /** What the operator reads in the plan: `create interface pg2 (pg)`, `set pg0 mtu 1500 -> 9000`. */
  describe: string;
  /** The config path this step comes from (`interfaces[2]`): a failure is reported under it. */
  path?: string;
  apply(): void | Promise<void>;
  /** Puts back what apply() did. Omit only when apply() cannot leave anything behind. */
  revert?(): void | Promise<void>;
}

/**
 * A feature's steps: `remove` steps run first, features in reverse `order` (a bridge drops a
 * member before the interface is deleted); then `add` steps, features in `order` (interfaces
 * exist before a bridge takes them as members); then `last` steps, features in `order`
 * (new interfaces come up only once everything they feed is in place: no start-up drops).
 */
export interface FeaturePlan {
  remove?: Change[];
  add?: Change[];
  last?: Change[];
}

export interface PlanContext {
  prev: Config;
  next: Config;
  log: Logger;
  /** The dataplane the steps will act on (use it inside Change.apply, not while planning). */
  dp: Dataplane;
  /**
   * True when this apply deletes or re-creates the interface: whatever a feature attached to it
   * is gone, so a feature that keeps it in `next` must remove its state in `remove` and
   * attach again in `add`, even though its own section did not change.
   */
  interfaceReset(name: string): boolean;
}

export interface FeatureModule<S extends z.ZodTypeAny = z.ZodTypeAny> {
  /** The top-level config key, e.g. `bridgeDomains`. */
  key: string;
  /** One line for `quiver config-schema` and errors. */
  description: string;
  /** The section's schema; use `.strict()` objects: unknown keys are errors. */
  schema: S;
  /** Apply order: interfaces 100, l2 (xconnect, bridge domains) 200, ip (vrfs, routes) 300, acl 400. */
  order: number;
  /**
   * Cross references and rules zod cannot see (a member interface exists, a VNI is unique).
   * Paths are absolute: `bridgeDomains[2].members[0]`. Runs before anything changes.
   */
  validate?(section: z.output<S> | undefined, config: Config): Issue[];
  /**
   * The steps that turn `prev` into `next` (either may be undefined: section absent). Touch
   * only what changed; build the steps, do not run them. Native calls go in Change.apply.
   */
  plan(prev: z.output<S> | undefined, next: z.output<S> | undefined, ctx: PlanContext): FeaturePlan;
  /** quiverctl verbs (`show bridge-domain`, `clear ...`, `set ...`), served by the management API. */
  commands?: CommandSpec[];
}

// ---------------------------------------------------------------------------------------------
// Interface types: `interfaces:` is a list with a `type` discriminator.

/** Fields every interface has, whatever its driver; the registry applies them. */
export const commonInterfaceFields = {
  name: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
  state: z.enum(['up', 'down']).default('up'),
  mtu: z.number().int().min(68).max(9216).optional(),
  mac: z
    .string()
    .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'is not a MAC address (aa:bb:cc:dd:ee:ff)')
    .optional(),
  rxMode: z.enum(['polling', 'interrupt', 'adaptive']).optional(),
  /** rx queue -> worker; queues not listed stay where the engine put them. */
  rxPlacement: z
    .array(z.object({ queue: z.number().int().min(0), worker: z.number().int().min(0) }).strict())
    .optional(),
};
const commonKeys = new Set(['type', ...Object.keys(commonInterfaceFields)]);

/** `z.object({type: 'T', ...common fields, ...own})` strict: the schema of one interface type. */
export function interfaceSchema<T extends string, Own extends z.ZodRawShape>(type: T, own: Own) {
  return z.object({ type: z.literal(type), ...commonInterfaceFields, ...own }).strict();
}

/** An interface as the config holds it: the common fields plus the type's own. */
export interface InterfaceSpec {
  type: string;
  name: string;
  state: 'up' | 'down';
  mtu?: number;
  mac?: string;
  rxMode?: 'polling' | 'interrupt' | 'adaptive';
  rxPlacement?: { queue: number; worker: number }[];
  [own: string]: unknown;
}

export interface InterfaceType<S extends z.ZodTypeAny = z.ZodTypeAny> {
  /** The discriminator: `pg`, `af_packet`, `memif`, `sub`, `vxlan`... */
  type: string;
  description: string;
  /** Build it with interfaceSchema(type, {...own fields}). */
  schema: S;
  /** Creation order among interfaces (a sub-interface after its parent); default 0. Deleted in reverse. */
  order?: number;
  /** Cross references; `path` is the interface's path, e.g. `interfaces[3]`. */
  validate?(spec: z.output<S>, path: string, config: Config): Issue[];
  /**
   * Creates the interface admin-down. The registry then applies the common fields
   * (mac, mtu, rx mode/placement, state) itself.
   */
  create(spec: z.output<S>, dp: Dataplane): void | Promise<void>;
  /** Default: dp.interfaces.delete(name). */
  delete?(spec: z.output<S>, dp: Dataplane): void | Promise<void>;
  /**
   * Steps for a change of the type's own fields (the common ones are handled for you), or
   * 'recreate' to delete and create again (the default when any own field differs).
   */
  update?(prev: z.output<S>, next: z.output<S>, dp: Dataplane): Change[] | 'recreate';
  /** Graph nodes of this driver, for `show graph` (default `<type>-input` / `<type>-output`). */
  nodes?: { input?: string; output?: string };
  /**
   * Interfaces this one lives on (a sub-interface's parent): when one of them is re-created,
   * this one is re-created with it (the engine deletes it with its parent).
   */
  dependsOn?(spec: z.output<S>): string[];
  /**
   * True when the interface sends packets by itself once up (a pg with enabled streams): such
   * interfaces come up after every other new interface, so no frame meets a still-down peer.
   */
  sourcesTraffic?(spec: z.output<S>): boolean;
}

/** The type's own fields of an interface spec (common fields removed), for comparisons. */
export function ownFields(spec: InterfaceSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec).filter(([k]) => !commonKeys.has(k)));
}

// ---------------------------------------------------------------------------------------------
// Commands: quiverctl verbs, run by the daemon (or in process by Dataplane.command).

export interface CommandContext {
  dp: Dataplane;
  log: Logger;
  /** The running config. */
  config(): Config;
  /**
   * Changes the running config and applies the difference (whole or not at all): `set`
   * commands go through here so the running config always tells the truth.
   */
  change(mutate: (draft: Config) => void): Promise<ApplyReport>;
}

export interface ApplyReport {
  changes: string[];
}

export interface CommandArg {
  name: string;
  description: string;
  required?: boolean;
  /** Takes every remaining word (VPP style: `pcap trace rx max 100 file x.pcap`). */
  variadic?: boolean;
}
export interface CommandOption {
  /** The key in args, e.g. `all`. */
  name: string;
  /** commander flags: `--all`, `--svg <file>`. */
  flags: string;
  description: string;
}

export interface CommandSpec<S extends z.ZodTypeAny = z.ZodTypeAny, R = unknown> {
  /** Words as typed: `show bridge-domain`, `set interface mtu`. */
  name: string;
  summary: string;
  args?: CommandArg[];
  options?: CommandOption[];
  /**
   * Validates {arg or option name: value} as the daemon receives it (strings from the CLI:
   * use z.coerce for numbers). Errors name the argument.
   */
  schema: S;
  /** Runs in the daemon; the result is the JSON the API returns and `--json` prints. */
  run(args: z.output<S>, ctx: CommandContext): R | Promise<R>;
  /** Text for the operator (runs in quiverctl); default: the JSON, indented. */
  format?(result: R, args: z.output<S>): string;
}

/** Identity with inference: `defineCommand({ schema: z.object(...), run(args) {...} })`. */
export function defineCommand<S extends z.ZodTypeAny, R>(spec: CommandSpec<S, R>): CommandSpec<S, R> {
  return spec;
}

// ---------------------------------------------------------------------------------------------
// The registry.

const featureList: FeatureModule[] = [];
const interfaceTypeList: InterfaceType[] = [];
const commandList: CommandSpec[] = [];

const RESERVED_KEYS = new Set(['workers', 'buffers', 'api', 'metrics', 'logging']);

export function registerFeature<S extends z.ZodTypeAny>(f: FeatureModule<S>): void {
  if (RESERVED_KEYS.has(f.key) || featureList.some((x) => x.key === f.key))
    throw new Error(`feature registry: config key '${f.key}' is already taken`);
  featureList.push(f as unknown as FeatureModule);
  featureList.sort((a, b) => a.order - b.order);
  for (const c of f.commands ?? []) registerCommand(c);
}

export function registerInterfaceType<S extends z.ZodTypeAny>(t: InterfaceType<S>): void {
  if (interfaceTypeList.some((x) => x.type === t.type)) throw new Error(`feature registry: interface type '${t.type}' is already registered`);
  interfaceTypeList.push(t as unknown as InterfaceType);
}

/** Commands that belong to no config section (`show graph`, `trace add`). */
export function registerCommand<S extends z.ZodTypeAny, R>(c: CommandSpec<S, R>): void {
  if (commandList.some((x) => x.name === c.name)) throw new Error(`feature registry: command '${c.name}' is already registered`);
  commandList.push(c as unknown as CommandSpec);
}

export function features(): readonly FeatureModule[] {
  return featureList;
}
export function interfaceTypes(): readonly InterfaceType[] {
  return interfaceTypeList;
}
export function interfaceType(type: string): InterfaceType | undefined {
  return interfaceTypeList.find((t) => t.type === type);
}
export function commands(): readonly CommandSpec[] {
  return commandList;
}
export function command(name: string): CommandSpec | undefined {
  return commandList.find((c) => c.name === name);
}

// ---------------------------------------------------------------------------------------------
// Helpers for validate().

/** The names of every interface the config declares. */
export function interfaceNames(config: Config): Set<string> {
  return new Set((config.interfaces ?? []).map((i) => i.name));
}

/** An issue when `name` is not an interface of the config: `no interface 'x'`. */
export function checkInterface(config: Config, name: string, path: string): Issue[] {
  return interfaceNames(config).has(name) ? [] : [{ path, reason: `no interface '${name}'` }];
}

/** Deep equality for plain config values (what diffs compare). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
