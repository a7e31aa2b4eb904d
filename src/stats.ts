// Reads the stats segment (native/stats.h) straight from shared memory: no call into the
// workers. Per-worker slices are summed here, as the design says readers do.

const H = {
  magic: 0, version: 1, size: 2, dirGeneration: 3, dirOffset: 4, dirCapacity: 5, dirLength: 6, workers: 7,
  maxNodes: 8, maxArcs: 9, maxErrors: 10, maxInterfaces: 11, nodeOffset: 12, arcOffset: 13, errorOffset: 14,
  ifOffset: 15, workerOffset: 16, bufferOffset: 17, tscHz: 18, startNs: 19, heartbeatNs: 20,
} as const;
const NODE_COUNTERS = 4;
export const IF_COUNTERS = [
  'rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'drops', 'rxErrors', 'txErrors', 'rxNoBuffer', 'punts', 'txNoSpace',
] as const;
export type IfCounterName = (typeof IF_COUNTERS)[number];
const WORKER_COUNTERS = ['loops', 'idleLoops', 'sleeps', 'wakeups', 'messages', 'pendingOverflow'] as const;
const WORKER_STRIDE = 8;
const BUFFER_COUNTERS = 8;

export interface DirectoryNode {
  name: string;
  type: 'input' | 'internal' | 'process';
  arcBase: number;
  errorBase: number;
  next: { name: string; resolved: boolean }[];
  errors: { name: string; text: string; severity: 'info' | 'warn' | 'error' }[];
}
export interface Directory {
  nodes: DirectoryNode[];
  interfaces: { index: number; name: string; driver: string }[];
  workers: { id: number; cpu: number }[];
}

export interface NodeRuntimeStats {
  name: string;
  type: DirectoryNode['type'];
  worker: number;
  calls: bigint;
  vectors: bigint;
  clocks: bigint;
  idleCalls: bigint;
}
export interface ErrorStat {
  node: string;
  name: string;
  text: string;
  severity: string;
  count: bigint;
}
export type InterfaceCounters = Record<IfCounterName, bigint>;
export interface ArcStat {
  from: string;
  to: string;
  resolved: boolean;
  packets: bigint;
}

export class StatsSegment {
  private readonly u64: BigUint64Array;
  private readonly f64: Float64Array;
  private readonly bytes: Uint8Array;
  private dirCache?: { generation: bigint; dir: Directory };

  constructor(buffer: ArrayBuffer) {
    this.u64 = new BigUint64Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.bytes = new Uint8Array(buffer);
    const magic = new TextDecoder().decode(this.bytes.subarray(0, 8));
    if (magic !== 'QVSTATS1') throw new Error(`stats segment: bad magic '${magic}'`);
  }

  private h(word: number): number {
    return Number(this.u64[word]);
  }
  get workers(): number {
    return this.h(H.workers);
  }
  get tscHz(): number {
    return this.f64[H.tscHz]!;
  }
  /** Monotonic ns of the engine's last housekeeping pass: a stale value means a stuck engine. */
  get heartbeatNs(): bigint {
    return this.u64[H.heartbeatNs]!;
  }

  /** The name directory, re-read only when its generation changes (seqlock). */
  directory(): Directory {
    for (let attempt = 0; attempt < 100; attempt++) {
      const g1 = this.u64[H.dirGeneration]!;
      if (g1 & 1n) continue;
      if (this.dirCache && this.dirCache.generation === g1) return this.dirCache.dir;
      const off = this.h(H.dirOffset);
      const len = this.h(H.dirLength);
      const text = new TextDecoder().decode(this.bytes.slice(off, off + len));
      const g2 = this.u64[H.dirGeneration]!;
      if (g1 !== g2) continue;
      const dir = JSON.parse(text) as Directory;
      this.dirCache = { generation: g1, dir };
      return dir;
    }
    throw new Error('stats segment: directory kept changing while read');
  }

  /** Per node per worker counters (show runtime). */
  nodes(): NodeRuntimeStats[] {
    const dir = this.directory();
    const base = this.h(H.nodeOffset) / 8;
    const maxNodes = this.h(H.maxNodes);
    const out: NodeRuntimeStats[] = [];
    for (let w = 0; w < this.workers; w++) {
      dir.nodes.forEach((n, i) => {
        const o = base + (w * maxNodes + i) * NODE_COUNTERS;
        out.push({
          name: n.name, type: n.type, worker: w,
          calls: this.u64[o]!, vectors: this.u64[o + 1]!, clocks: this.u64[o + 2]!, idleCalls: this.u64[o + 3]!,
        });
      });
    }
    return out;
  }

  /** Error counters summed over workers; only non-zero unless `all`. */
  errors(all = false): ErrorStat[] {
    const dir = this.directory();
    const base = this.h(H.errorOffset) / 8;
    const maxErrors = this.h(H.maxErrors);
    const out: ErrorStat[] = [];
    for (const n of dir.nodes) {
      n.errors.forEach((e, k) => {
        let count = 0n;
        for (let w = 0; w < this.workers; w++) count += this.u64[base + w * maxErrors + n.errorBase + k]!;
        if (all || count > 0n) out.push({ node: n.name, name: e.name, text: e.text, severity: e.severity, count });
      });
    }
    return out;
  }

  /** Packets that crossed each node -> next arc, summed over workers. */
  arcs(): ArcStat[] {
    const dir = this.directory();
    const base = this.h(H.arcOffset) / 8;
    const maxArcs = this.h(H.maxArcs);
    const out: ArcStat[] = [];
    for (const n of dir.nodes) {
      n.next.forEach((nx, k) => {
        let packets = 0n;
        for (let w = 0; w < this.workers; w++) packets += this.u64[base + w * maxArcs + n.arcBase + k]!;
        out.push({ from: n.name, to: nx.resolved ? nx.name : 'error-drop', resolved: nx.resolved, packets });
      });
    }
    return out;
  }

  /** Interface counters summed over workers. */
  interfaceCounters(index: number): InterfaceCounters {
    const base = this.h(H.ifOffset) / 8;
    const maxIf = this.h(H.maxInterfaces);
    const c = {} as InterfaceCounters;
    IF_COUNTERS.forEach((name, k) => {
      let v = 0n;
      for (let w = 0; w < this.workers; w++) v += this.u64[base + (w * maxIf + index) * IF_COUNTERS.length + k]!;
      c[name] = v;
    });
    return c;
  }

  workerCounters(): Record<(typeof WORKER_COUNTERS)[number], bigint>[] {
    const base = this.h(H.workerOffset) / 8;
    const out = [];
    for (let w = 0; w < this.workers; w++) {
      const c = {} as Record<(typeof WORKER_COUNTERS)[number], bigint>;
      WORKER_COUNTERS.forEach((name, k) => (c[name] = this.u64[base + w * WORKER_STRIDE + k]!));
      out.push(c);
    }
    return out;
  }

  buffers(): { total: bigint; free: bigint; held: bigint; allocFailures: bigint; hugepages: boolean; cached: bigint[] } {
    const base = this.h(H.bufferOffset) / 8;
    const cached: bigint[] = [];
    for (let w = 0; w < this.workers; w++) cached.push(this.u64[base + BUFFER_COUNTERS + w]!);
    return {
      total: this.u64[base]!, free: this.u64[base + 1]!, held: this.u64[base + 2]!, allocFailures: this.u64[base + 3]!,
      hugepages: this.u64[base + 4]! !== 0n, cached,
    };
  }
}
