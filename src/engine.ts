// The typed binding over the addon's engine core: lifecycle, interfaces common to every
// driver, rx placement, trace, pcap, counters, buffers. Arguments are validated here so the
// error names the field; the addon validates again because it is reachable directly.
import { z } from 'zod';
import { addon, type RawBuffers, type RawInterface, type RawTraceRecord, type RxMode } from './addon.js';
import { QuiverError, native } from './errors.js';
import { StatsSegment } from './stats.js';
import { parseOrThrow } from './validate.js';

export const EngineConfigSchema = z
  .object({
    workers: z.number().int().min(1).max(64).default(1),
    cores: z.array(z.number().int().min(0)).optional(),
    buffers: z.number().int().min(1024).max(4194304).default(16384),
    hugepages: z.enum(['auto', 'on', 'off']).default('auto'),
    rxMode: z.enum(['polling', 'interrupt', 'adaptive']).default('adaptive'),
    adaptiveIdleLoops: z.number().int().min(1).max(1_000_000).default(64),
  })
  .strict();
export type EngineConfig = z.input<typeof EngineConfigSchema>;

let stats: StatsSegment | undefined;

export function start(config: EngineConfig = {}): void {
  const c = parseOrThrow(EngineConfigSchema, config, 'engine');
  if (c.cores && c.cores.length !== c.workers)
    throw new QuiverError('cores', `lists ${c.cores.length} cores for ${c.workers} workers`);
  native(() => addon().start(c));
  stats = new StatsSegment(addon().statsSegment());
}

export function stop(): void {
  native(() => addon().stop());
  stats = undefined;
}

export function running(): boolean {
  return addon().running();
}

/** The live stats segment (shared memory; reading it never calls the workers). */
export function statsSegment(): StatsSegment {
  if (!stats) throw new QuiverError('engine', 'not running');
  return stats;
}

export function version(): ReturnType<ReturnType<typeof addon>['version']> {
  return addon().version();
}

export function workers(): { id: number; cpu: number; tid: number }[] {
  return addon().workers();
}

export type InterfaceRef = string | number;
export type Interface = RawInterface;

export function interfaces(): Interface[] {
  return native(() => addon().interfaces());
}

export function findInterface(ref: InterfaceRef): Interface {
  const i = interfaces().find((x) => (typeof ref === 'number' ? x.index === ref : x.name === ref));
  if (!i) throw new QuiverError('interface', `no interface ${typeof ref === 'number' ? ref : `'${ref}'`}`);
  return i;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const InterfaceStateSchema = z
  .object({
    adminUp: z.boolean().optional(),
    mtu: z.number().int().min(68).max(9216).optional(),
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
  })
  .strict();

export function setInterfaceState(ref: InterfaceRef, state: z.input<typeof InterfaceStateSchema>): void {
  const s = parseOrThrow(InterfaceStateSchema, state, '');
  native(() => addon().setInterfaceState(ref, s));
}

export function deleteInterface(ref: InterfaceRef): void {
  native(() => addon().deleteInterface(ref));
}

export function setRxPlacement(ref: InterfaceRef, queue: number, worker: number): void {
  native(() => addon().setRxPlacement(ref, queue, worker));
}

export function setRxMode(ref: InterfaceRef, queue: number | 'all', mode: RxMode): void {
  if (!['polling', 'interrupt', 'adaptive'].includes(mode))
    throw new QuiverError('mode', `'${mode}' is not polling, interrupt or adaptive`);
  native(() => addon().setRxMode(ref, queue, mode));
}

export function traceAdd(node: string, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 100000) throw new QuiverError('count', 'must be 1..100000');
  native(() => addon().traceAdd(node, count));
}
export function traceClear(): void {
  native(() => addon().traceClear());
}
export function traceGet(): RawTraceRecord[] {
  return native(() => addon().traceGet());
}

export const PcapSchema = z
  .object({
    rx: z.boolean().default(true),
    tx: z.boolean().default(true),
    max: z.number().int().min(1).max(10_000_000).default(100),
    snaplen: z.number().int().min(64).max(65535).default(9216),
    interface: z.union([z.string(), z.number().int().min(0)]).optional(),
    file: z.string().min(1),
  })
  .strict();
export function pcapStart(opts: z.input<typeof PcapSchema>): void {
  const o = parseOrThrow(PcapSchema, opts, '');
  if (!o.rx && !o.tx) throw new QuiverError('direction', 'at least one of rx and tx');
  native(() => addon().pcapStart(o));
}
export function pcapStop(): { file: string; packets: number } {
  return native(() => addon().pcapStop());
}
export function pcapStatus(): { active: boolean; file: string; captured: number; max: number } {
  return native(() => addon().pcapStatus());
}

export function clearRuntime(): void {
  native(() => addon().clearRuntime());
}
export function clearInterfaces(): void {
  native(() => addon().clearInterfaces());
}
export function clearErrors(): void {
  native(() => addon().clearErrors());
}

/** Buffer accounting; `drain` first returns every worker cache to the pool (exact counts). */
export function buffers(drain = false): RawBuffers {
  return native(() => addon().buffers(drain));
}
