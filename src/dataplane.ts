// Dataplane: the public TypeScript API. One per process (the addon holds process-wide state).
// Imperative calls (interfaces, xconnect, trace, pcap, stats) validate every argument and
// name the field on error; `apply()` takes a whole declarative config and changes only
// what differs from the running one, whole or not at all.
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { xconnect as nativeXconnect } from '../graph/l2/xconnect.js';
import * as pg from '../graph/pg/pg.js';
import type { RawBuffers, RawTraceRecord } from './addon.js';
import { type ApplyResult, applyConfig } from './apply.js';
import { type Config, cloneConfig, validateConfig } from './config.js';
import * as engine from './engine.js';
import { QuiverError } from './errors.js';
import { type CommandContext, command as findCommand } from './feature.js';
import { ArcRateSampler, type Rates } from './show/rates.js';
import type { InterfaceCounters, StatsSegment } from './stats.js';
import { parseOrThrow } from './validate.js';

export const InterfaceRefSchema = z.union([z.string().min(1), z.number().int().min(0)], {
  errorMap: () => ({ message: 'must be an interface name or index' }),
});
export type InterfaceRef = z.input<typeof InterfaceRefSchema>;

const StartSchema = z
  .object({
    workers: z
      .object({
        count: z.number().int().min(1).max(64).default(1),
        cores: z.array(z.number().int().min(0)).optional(),
        rxMode: z.enum(['polling', 'interrupt', 'adaptive']).default('adaptive'),
      })
      .strict()
      .default({}),
    buffers: z
      .object({ count: z.number().int().min(1024).max(4194304).default(16384), hugepages: z.enum(['auto', 'on', 'off']).default('auto') })
      .strict()
      .default({}),
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'info' in v, 'must be a pino logger').optional(),
  })
  .strict();
export type DataplaneOptions = z.input<typeof StartSchema>;

const RxModeSchema = z.enum(['polling', 'interrupt', 'adaptive']);
const QueueSchema = z.union([z.number().int().min(0), z.literal('all')]);

let current: Dataplane | undefined;

export class Dataplane {
  readonly log: Logger;
  private running: Config;
  private readonly rates_: ArcRateSampler;
  /** Native defaults of interfaces this Dataplane created, restored when a field leaves the config. */
  readonly interfaceDefaults = new Map<string, { mtu: number; mac: string }>();

  private constructor(running: Config, log: Logger) {
    this.running = running;
    this.log = log;
    this.rates_ = new ArcRateSampler(
      () => this.stats,
      () => engine.interfaces().map((i) => i.index),
    );
  }

  /** Starts the engine (workers, buffer pool). Engine settings are fixed until stop(). */
  static start(options: DataplaneOptions = {}): Dataplane {
    const o = parseOrThrow(StartSchema, options, '');
    if (current) throw new QuiverError('dataplane', 'already started in this process (one dataplane per process)');
    const w = o.workers;
    if (w.cores && w.cores.length !== w.count) throw new QuiverError('workers.cores', `lists ${w.cores.length} cores for ${w.count} workers`);
    engine.start({ workers: w.count, cores: w.cores, rxMode: w.rxMode, buffers: o.buffers.count, hugepages: o.buffers.hugepages });
    const running = validateConfig({ workers: w, buffers: o.buffers });
    current = new Dataplane(running, o.logger ?? pino({ level: 'silent' }));
    return current;
  }

  stop(): void {
    if (current !== this) return;
    this.rates_.stop();
    engine.stop();
    current = undefined;
  }

  get isRunning(): boolean {
    return current === this && engine.running();
  }

  version(): ReturnType<typeof engine.version> & { quiver: string } {
    return { quiver: engine.version().addon, ...engine.version() };
  }

  workers(): { id: number; cpu: number; tid: number }[] {
    return engine.workers();
  }

  // ---- declarative config -------------------------------------------------------------------

  /** The running config (a copy). */
  config(): Config {
    return cloneConfig(this.running);
  }

  /**
   * Validates `config` completely, then applies only what differs from the running config.
   * An invalid config, or a change of a setting that needs a restart, changes nothing. If a
   * step fails midway, the steps already taken are reverted.
   */
  async apply(config: unknown, opts: { dryRun?: boolean; source?: string } = {}): Promise<ApplyResult> {
    const next = validateConfig(config, opts.source);
    const result = await applyConfig(this, this.running, next, opts.dryRun ?? false);
    if (!opts.dryRun) this.running = next;
    return result;
  }

  // ---- commands (what quiverctl and the management API run) ------------------------------------

  /** Runs a registered command in process (`show interface`, `set interface mtu`...). */
  async command(name: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const spec = findCommand(name);
    if (!spec) throw new QuiverError('command', `no command '${name}'`);
    const parsed = parseOrThrow(spec.schema, args, '');
    return spec.run(parsed, this.commandContext());
  }

  commandContext(): CommandContext {
    return {
      dp: this,
      log: this.log,
      config: () => this.config(),
      change: async (mutate) => {
        const draft = this.config();
        mutate(draft);
        return this.apply(draft);
      },
    };
  }

  // ---- interfaces -----------------------------------------------------------------------------

  readonly interfaces = {
    list: (): engine.Interface[] => engine.interfaces(),
    get: (ref: InterfaceRef): engine.Interface => engine.findInterface(parseOrThrow(InterfaceRefSchema, ref, 'interface')),
    counters: (ref: InterfaceRef): InterfaceCounters => this.stats.interfaceCounters(this.interfaces.get(ref).index),
    /** A pg (packet generator) interface, admin down. Returns its index. */
    createPg: (opts: z.input<typeof pg.PgInterfaceSchema>): number => {
      const index = pg.createPgInterface(opts);
      const i = engine.findInterface(index);
      this.interfaceDefaults.set(i.name, { mtu: i.mtu, mac: i.mac });
      return index;
    },
    delete: (ref: InterfaceRef): void => {
      const i = this.interfaces.get(ref);
      engine.deleteInterface(i.index);
      this.interfaceDefaults.delete(i.name);
    },
    setState: (ref: InterfaceRef, state: z.input<typeof engine.InterfaceStateSchema>): void => {
      const i = this.interfaces.get(ref);
      engine.setInterfaceState(i.index, state);
    },
    setRxMode: (ref: InterfaceRef, queue: number | 'all', mode: z.input<typeof RxModeSchema>): void => {
      const i = this.interfaces.get(ref);
      const q = parseOrThrow(QueueSchema, queue, 'queue');
      engine.setRxMode(i.index, q, parseOrThrow(RxModeSchema, mode, 'mode'));
    },
    setRxPlacement: (ref: InterfaceRef, queue: number, worker: number): void => {
      const i = this.interfaces.get(ref);
      const q = parseOrThrow(z.number().int().min(0), queue, 'queue');
      const w = parseOrThrow(z.number().int().min(0), worker, 'worker');
      if (!i.rxQueues.some((x) => x.queue === q)) throw new QuiverError('queue', `${i.name} has no rx queue ${q}`);
      if (w >= engine.workers().length) throw new QuiverError('worker', `${w} does not exist (${engine.workers().length} workers)`);
      engine.setRxPlacement(i.index, q, w);
    },
  };

  /** pg streams and capture (tests, benchmarks, the demo). */
  readonly pg = {
    addStream: (intf: InterfaceRef, stream: pg.PgStream): void => pg.addStream(this.interfaces.get(intf).index, stream),
    enableStream: (name: string, on = true): void => pg.enableStream(parseOrThrow(z.string().min(1), name, 'stream'), on),
    streamStatus: (name: string) => pg.streamStatus(parseOrThrow(z.string().min(1), name, 'stream')),
    deleteStream: (name: string): void => pg.deleteStream(parseOrThrow(z.string().min(1), name, 'stream')),
    waitStream: (name: string, timeoutMs?: number) => pg.waitStream(name, timeoutMs),
    capture: (intf: InterfaceRef, max: number): void => pg.capture(this.interfaces.get(intf).index, max),
    captured: (intf: InterfaceRef): Buffer[] => pg.captured(this.interfaces.get(intf).index),
  };

  // ---- l2 cross-connect -----------------------------------------------------------------------

  /** Frames received on `rx` leave on `tx` (one direction); null returns rx to L3 mode. */
  xconnect(rx: InterfaceRef, tx: InterfaceRef | null): void {
    const r = this.interfaces.get(parseOrThrow(InterfaceRefSchema, rx, 'rx'));
    const t = tx === null ? null : this.interfaces.get(parseOrThrow(InterfaceRefSchema, tx, 'tx'));
    if (t && t.index === r.index) throw new QuiverError('tx', `cannot cross-connect ${r.name} to itself`);
    nativeXconnect(r.index, t ? t.index : null);
  }

  /** Both directions. */
  xconnectPair(a: InterfaceRef, b: InterfaceRef): void {
    this.xconnect(a, b);
    this.xconnect(b, a);
  }

  // ---- stats, trace, pcap -----------------------------------------------------------------------

  /** The live stats segment (shared memory; reading it never calls the workers). */
  get stats(): StatsSegment {
    return engine.statsSegment();
  }

  /** Packets per second on arcs, errors and interfaces over the last ~1 s (sampled while asked for). */
  rates(waitMs = 0): Promise<Rates> {
    return this.rates_.current(waitMs);
  }

  /** Keeps sampling rates every second (a daemon: `show graph` answers at once). */
  keepSamplingRates(): void {
    this.rates_.keepRunning();
  }

  buffers(drain = false): RawBuffers {
    return engine.buffers(drain);
  }

  readonly trace = {
    add: (node: string, count: number): void => {
      const n = parseOrThrow(z.string().min(1), node, 'node');
      if (!this.stats.directory().nodes.some((x) => x.name === n)) throw new QuiverError('node', `no node '${n}'`);
      engine.traceAdd(n, parseOrThrow(z.number().int().min(1).max(100000), count, 'count'));
    },
    get: (): RawTraceRecord[] => engine.traceGet(),
    clear: (): void => engine.traceClear(),
  };

  readonly pcap = {
    start: (opts: z.input<typeof engine.PcapSchema>): void => {
      const o = parseOrThrow(engine.PcapSchema, opts, '');
      if (o.interface !== undefined) o.interface = this.interfaces.get(o.interface).index;
      engine.pcapStart(o);
    },
    stop: () => engine.pcapStop(),
    status: () => engine.pcapStatus(),
  };

  readonly clear = {
    runtime: (): void => engine.clearRuntime(),
    interfaces: (): void => engine.clearInterfaces(),
    errors: (): void => engine.clearErrors(),
  };
}
