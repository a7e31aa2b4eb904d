// Loads the native addon and declares its raw entry points. Everything here is untyped at
// the boundary on purpose; src/engine.ts and graph/<feature>/*.ts are the typed layer.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file whose package.json is quiver's. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === 'quiver') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('quiver: cannot find the package root');
    dir = up;
  }
}

export interface RawInterface {
  index: number;
  name: string;
  driver: string;
  adminUp: boolean;
  linkUp: boolean;
  mtu: number;
  mac: string;
  mode: 'l3' | 'xconnect' | 'bridge';
  xconnectPeer: number | null;
  linkChanges: number;
  rxQueues: { queue: number; worker: number; mode: RxMode; interruptFd: boolean }[];
  details: Record<string, unknown>;
}
export type RxMode = 'polling' | 'interrupt' | 'adaptive';

export interface RawTraceRecord {
  worker: number;
  packet: number;
  entries: { node: string; seconds: number; text: string }[];
}

export interface RawBuffers {
  total: number;
  free: number;
  cached: number;
  cachedPerWorker: number[];
  held: number;
  inFlight: number;
  allocFailures: number;
  hugepages: boolean;
  slotSize: number;
  bytes: number;
}

/** The addon's exports. Features add theirs; unknown ones are reachable through `any`. */
export interface Addon {
  start(config: Record<string, unknown>): void;
  stop(): void;
  running(): boolean;
  statsSegment(): ArrayBuffer;
  statsFd(): number;
  workers(): { id: number; cpu: number; tid: number }[];
  version(): { addon: string; dpdk: string | null; compiler: string; tscHz: number; slotSize: number; dataOffset: number };
  interfaces(): RawInterface[];
  setInterfaceState(intf: string | number, state: { adminUp?: boolean; mtu?: number; mac?: string }): void;
  deleteInterface(intf: string | number): void;
  setRxPlacement(intf: string | number, queue: number, worker: number): void;
  setRxMode(intf: string | number, queue: number | 'all', mode: RxMode): void;
  traceAdd(node: string, count: number): void;
  traceClear(): void;
  traceGet(): RawTraceRecord[];
  pcapStart(opts: Record<string, unknown>): void;
  pcapStop(): { file: string; packets: number };
  pcapStatus(): { active: boolean; file: string; captured: number; max: number };
  clearRuntime(): void;
  clearInterfaces(): void;
  clearErrors(): void;
  buffers(drain?: boolean): RawBuffers;
  xconnect(rx: string | number, tx: string | number | null): void;
  pgCreate(opts: Record<string, unknown>): number;
  pgStream(intf: string | number, opts: Record<string, unknown>): void;
  pgStreamEnable(name: string, on: boolean): void;
  pgStreamStatus(name: string): { sent: number; enabled: boolean; limit: number };
  pgStreamDelete(name: string): void;
  pgCapture(intf: string | number, max: number): void;
  pgCaptured(intf: string | number): Buffer[];
  pgCaptureWrite(intf: string | number, file: string): number;
  [other: string]: unknown;
}

let cached: Addon | undefined;

/** The addon, loaded once per process (it holds process-wide state: one dataplane). */
export function addon(): Addon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const path = join(packageRoot(), 'build', 'Release', 'quiver.node');
    if (!existsSync(path)) throw new Error(`quiver: native addon not built (${path} is missing); run npm install`);
    cached = require(path) as Addon;
  }
  return cached;
}
