// The DPDK driver's control plane: the `dpdk:` config section (EAL arguments), DPDK ports as
// Quiver interfaces, and `show dpdk`. Everything is validated here so errors name the field;
// the addon checks again because it is reachable directly.
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';

export const LOG_LEVELS = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'info', 'debug'] as const;
const PCI = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7](,.*)?$/;
const DEVARGS = /^[A-Za-z0-9_:.-]+(,[^\s]*)?$/;
const REFUSED_ARGS = ['-h', '--help', '--log-level=help', '--proc-type=secondary', '--proc-type=auto'];
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** The `dpdk:` section of Quiver's config: what EAL is initialised with, once per process. */
export const DpdkConfigSchema = z
  .object({
    /** Virtual devices probed after EAL is up ("net_memif0,role=client,socket=/run/x.sock"). */
    vdevs: z.array(z.string().regex(DEVARGS, 'is not a device argument string (name[,key=value...])')).default([]),
    /** PCI devices to use (EAL -a); without any, EAL gets --no-pci and never scans the bus. */
    allow: z.array(z.string().regex(PCI, 'is not a PCI address (0000:00:04.0)')).default([]),
    /** Back DPDK's own memory (not the packet buffers) with hugepages; off: --no-huge. */
    hugepages: z.boolean().default(false),
    /** EAL memory in MiB (-m); DPDK only keeps descriptors and rings there. */
    memoryMb: z.number().int().min(16).max(1 << 20).optional(),
    /** Per-socket hugepage memory in MiB (--socket-mem); needs hugepages. */
    socketMemoryMb: z.array(z.number().int().min(0).max(1 << 20)).min(1).optional(),
    filePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'may hold 1-32 letters, digits, _ and -').optional(),
    /** EAL lcore list (-l / --lcores syntax); default: lcore 0 on every CPU Quiver may use. */
    lcores: z.string().regex(/^[0-9@(),-]+$/, 'is not an lcore list').optional(),
    iovaMode: z.enum(['va', 'pa']).optional(),
    logLevel: z.enum(LOG_LEVELS).default('warning'),
    /** Echo DPDK's log to stderr too (it is always kept in a ring: dpdkLog()). */
    logStderr: z.boolean().default(false),
    /** Further EAL arguments, passed as they are, last. */
    args: z
      .array(
        z
          .string()
          .min(1)
          .refine((a) => !REFUSED_ARGS.includes(a), 'would exit the process or needs another process type: not allowed in Quiver'),
      )
      .default([]),
  })
  .strict();
export type DpdkConfig = z.input<typeof DpdkConfigSchema>;

/** A DPDK interface's own fields (the config's `dpdk` interface type adds the common ones). */
export const dpdkPortFields = {
  /** A port id, an ethdev/device name ("net_null0", "0000:00:04.0"); an unknown vdev name is hot-plugged. */
  port: z.union([
    z.number().int().min(0).max(1023),
    z
      .string()
      .regex(DEVARGS, 'is not a device name')
      .refine((s) => !s.includes(','), 'give device arguments in args'),
  ]),
  /** Device arguments when Quiver hot-plugs the vdev ("size=64,copy=1"). */
  args: z.string().min(1).regex(/^[^\s]+$/, 'must not contain spaces').optional(),
  rxQueues: z.number().int().min(1).max(1024).default(1),
  /** Default: one per worker (as many as the port has), so no worker shares a tx queue. */
  txQueues: z.number().int().min(1).max(1024).optional(),
  rxDescriptors: z.number().int().min(32).max(16384).optional(),
  txDescriptors: z.number().int().min(32).max(16384).optional(),
  /** Worker for each rx queue; default: the least loaded. */
  workers: z.array(z.number().int().min(0)).optional(),
  rxChecksum: z.boolean().default(true),
  promiscuous: z.boolean().default(true),
};

export const DpdkInterfaceSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
    ...dpdkPortFields,
    mtu: z.number().int().min(68).max(9216).optional(),
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
    /** DPDK ports have no rx interrupts here: polling, or adaptive (~1 ms sleeps when idle). */
    rxMode: z.enum(['polling', 'adaptive']).default('polling'),
  })
  .strict();
export type DpdkInterface = z.input<typeof DpdkInterfaceSchema>;

export interface DpdkStatus {
  version: string;
  initialised: boolean;
  args: string[];
  lastFailure: string | null;
  iovaMode?: 'va' | 'pa' | 'dc';
  lcores?: number;
  mainLcore?: number;
  ports?: number;
}
export interface DpdkEthStats {
  ipackets: number;
  opackets: number;
  ibytes: number;
  obytes: number;
  imissed: number;
  ierrors: number;
  oerrors: number;
  rxNoMbuf: number;
  /** Per queue, for the first 16 queues. */
  rxQueuePackets: number[];
  txQueuePackets: number[];
}
export interface DpdkLink {
  up: boolean;
  speedMbps: number;
  fullDuplex: boolean;
  autoneg: boolean;
}
export interface DpdkPortInfo {
  portId: number;
  name: string;
  driver: string;
  bus: string;
  mac: string;
  numaNode: number;
  interface: string | null;
  maxRxQueues: number;
  maxTxQueues: number;
  rxQueues: number;
  txQueues: number;
  rxOffloadCapa: string[];
  txOffloadCapa: string[];
  link: DpdkLink | null;
  stats: DpdkEthStats | null;
}
export interface DpdkMempoolInfo {
  name: string;
  ops: 'quiver';
  size: number;
  cacheSize: number;
  dequeued: number;
  enqueued: number;
  dequeueFailures: number;
  heldByDpdk: number;
  extmemRegistered: boolean;
}
/** `details.dpdk` of a DPDK interface in `interfaces()` / `show interface`. */
export interface DpdkInterfaceDetails {
  portId: number;
  device: string;
  driver: string;
  hotplugged: boolean;
  started: boolean;
  rxQueues: number;
  txQueues: number;
  rxDescriptors: number;
  txDescriptors: number;
  txQueueShared: boolean;
  rss: boolean;
  rxOffloads: string[];
  txOffloads: string[];
  link: DpdkLink | null;
  stats: DpdkEthStats | null;
}

interface DpdkRaw {
  dpdkInit(args: string[], opts: { logStderr: boolean }): boolean;
  dpdkProbe(devargs: string, field: string): void;
  dpdkStatus(): DpdkStatus;
  dpdkLog(lines: number): string;
  dpdkCreateInterface(opts: Record<string, unknown>): number;
  dpdkPorts(): { ports: DpdkPortInfo[]; mempool: DpdkMempoolInfo | null };
}

/** Whether this build of the addon has the DPDK driver (libdpdk-dev present at build time). */
export function dpdkAvailable(): boolean {
  return typeof (addon() as unknown as Partial<DpdkRaw>).dpdkInit === 'function';
}

function raw(): DpdkRaw {
  if (!dpdkAvailable())
    throw new QuiverError('dpdk', 'this build of Quiver has no DPDK support (libdpdk was not found when the addon was built)');
  return addon() as unknown as DpdkRaw;
}

/** The EAL argument list a config produces (without the program name). */
export function ealArgs(config: DpdkConfig = {}): string[] {
  const c = parseOrThrow(DpdkConfigSchema, config, 'dpdk');
  if (c.socketMemoryMb && !c.hugepages) throw new QuiverError('dpdk.socketMemoryMb', 'needs hugepages: true (DPDK refuses --socket-mem with --no-huge)');
  const inMemory = c.args.indexOf('--in-memory');
  if (inMemory >= 0 && !c.hugepages)
    throw new QuiverError(`dpdk.args[${inMemory}]`, '--in-memory needs hugepages: true (DPDK refuses it with --no-huge; Quiver then uses --no-shconf, which keeps no files either)');
  const a: string[] = [];
  if (c.lcores) a.push(`--lcores=${c.lcores}`);
  // No shared files in /var/run either way: several Quiver processes (and testpmd peers) coexist.
  if (c.hugepages) a.push('--in-memory');
  else a.push('--no-huge', '--no-shconf');
  const mem = c.memoryMb ?? (c.hugepages ? undefined : 128);
  if (mem !== undefined) a.push('-m', String(mem));
  if (c.socketMemoryMb) a.push(`--socket-mem=${c.socketMemoryMb.join(',')}`);
  if (c.allow.length === 0) a.push('--no-pci');
  for (const d of c.allow) a.push('-a', d);
  if (c.filePrefix) a.push(`--file-prefix=${c.filePrefix}`);
  if (c.iovaMode) a.push(`--iova-mode=${c.iovaMode}`);
  if (!c.args.some((x) => x.startsWith('--telemetry'))) a.push('--no-telemetry');
  a.push(`--log-level=${c.logLevel}`);
  a.push(...c.args);
  return a;
}

/**
 * Initialises EAL in this process (the `dpdk:` section) and probes its vdevs. Once per process:
 * the same config again is a no-op, another one an error (DPDK cannot be re-initialised).
 */
export function initDpdk(config: DpdkConfig = {}): DpdkStatus {
  const c = parseOrThrow(DpdkConfigSchema, config, 'dpdk');
  const args = ealArgs(config);
  const r = raw();
  native(() => r.dpdkInit(args, { logStderr: c.logStderr }));
  const present = new Set(native(() => r.dpdkPorts()).ports.map((p) => p.name));
  c.vdevs.forEach((v, i) => {
    const name = v.split(',')[0]!;
    if (!present.has(name)) native(() => r.dpdkProbe(v, `dpdk.vdevs[${i}]`));
  });
  return dpdkStatus();
}

export function dpdkStatus(): DpdkStatus {
  return native(() => raw().dpdkStatus());
}

/** The last `lines` lines DPDK logged (EAL output never goes to syslog or stdout). */
export function dpdkLog(lines = 200): string {
  if (!Number.isInteger(lines) || lines < 1 || lines > 2000) throw new QuiverError('lines', 'must be 1..2000');
  return native(() => raw().dpdkLog(lines));
}

/** Hot-plugs a device (vdev or PCI) into the running EAL. */
export function probeDevice(devargs: string): void {
  if (!DEVARGS.test(devargs)) throw new QuiverError('device', `'${devargs}' is not a device argument string`);
  native(() => raw().dpdkProbe(devargs, 'device'));
}

/** Makes a DPDK port a Quiver interface (admin down, like every new interface); returns its index. */
export function createDpdkInterface(opts: DpdkInterface): number {
  const o = parseOrThrow(DpdkInterfaceSchema, opts, '');
  if (o.workers && o.workers.length !== o.rxQueues)
    throw new QuiverError('workers', `lists ${o.workers.length} workers for ${o.rxQueues} rx queues`);
  const n = engine.running() ? engine.workers().length : 0;
  o.workers?.forEach((w, i) => {
    if (w >= n) throw new QuiverError(`workers[${i}]`, `no worker ${w} (there are ${n})`);
  });
  return native(() => raw().dpdkCreateInterface(o));
}

/** Deletes a DPDK interface: rings drained, port stopped, a hot-plugged device removed. */
export function deleteDpdkInterface(ref: engine.InterfaceRef): void {
  const i = engine.findInterface(ref);
  if (i.driver !== 'dpdk') throw new QuiverError('interface', `'${i.name}' is not a DPDK interface (driver ${i.driver})`);
  engine.deleteInterface(ref);
}

/** `show dpdk`: EAL, every port EAL knows (with its Quiver interface), the mbuf pool. */
export function showDpdk(): { eal: DpdkStatus; ports: DpdkPortInfo[]; mempool: DpdkMempoolInfo | null } {
  const r = raw();
  const eal = native(() => r.dpdkStatus());
  const { ports, mempool } = native(() => r.dpdkPorts());
  return { eal, ports, mempool };
}

/** rte_eth_stats of a DPDK interface (also in its `details.dpdk.stats`). */
export function dpdkInterfaceDetails(ref: engine.InterfaceRef): DpdkInterfaceDetails {
  const i = engine.findInterface(ref);
  if (i.driver !== 'dpdk') throw new QuiverError('interface', `'${i.name}' is not a DPDK interface (driver ${i.driver})`);
  return (i.details as { dpdk: DpdkInterfaceDetails }).dpdk;
}

/** `show dpdk` as text, in the shape quiverctl prints. */
export function formatShowDpdk(s: ReturnType<typeof showDpdk>): string {
  const lines = [
    `DPDK ${s.eal.version}: ${s.eal.initialised ? `initialised, iova ${s.eal.iovaMode}, ${s.eal.lcores} lcore(s)` : 'not initialised'}`,
  ];
  if (s.eal.initialised) lines.push(`  EAL args: ${s.eal.args.join(' ')}`);
  if (s.eal.lastFailure) lines.push(`  last EAL failure: ${s.eal.lastFailure}`);
  for (const p of s.ports) {
    lines.push(`port ${p.portId} ${p.name} (${p.driver}, ${p.bus}) mac ${p.mac} -> ${p.interface ?? '(no interface)'}`);
    lines.push(`  queues rx ${p.rxQueues}/${p.maxRxQueues} tx ${p.txQueues}/${p.maxTxQueues}, link ${p.link?.up ? `up ${p.link.speedMbps} Mb/s` : 'down'}`);
    if (p.stats)
      lines.push(
        `  rx ${p.stats.ipackets} pkts ${p.stats.ibytes} bytes, missed ${p.stats.imissed}, errors ${p.stats.ierrors}, no-mbuf ${p.stats.rxNoMbuf}; tx ${p.stats.opackets} pkts ${p.stats.obytes} bytes, errors ${p.stats.oerrors}`,
      );
  }
  if (s.mempool)
    lines.push(
      `mbuf pool ${s.mempool.name} over Quiver's buffers: ${s.mempool.size} slots, lcore cache ${s.mempool.cacheSize}, held by DPDK ${s.mempool.heldByDpdk}`,
    );
  return lines.join('\n');
}
