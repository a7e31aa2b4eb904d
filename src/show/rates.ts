// Packets per second on every arc (and node, error, interface), from two samples of the
// stats segment's monotonic counters. The sampler runs only while someone asks: the first
// question starts a 1 s timer, and it stops after a minute without questions.
import type { StatsSegment } from '../stats.js';

export interface Rates {
  /** Seconds between the two samples (0: only one sample yet, rates unknown). */
  window: number;
  arcs: Map<string, number>;
  errors: Map<string, number>;
  interfaces: Map<number, { rx: number; tx: number; drops: number }>;
}

const key = (a: string, b: string) => `${a}\u0000${b}`;
export const arcKey = key;

interface Sample {
  t: number;
  arcs: Map<string, bigint>;
  errors: Map<string, bigint>;
  interfaces: Map<number, { rx: bigint; tx: bigint; drops: bigint }>;
}

export class ArcRateSampler {
  private last?: Sample;
  private prev?: Sample;
  private timer?: NodeJS.Timeout;
  private lastAsked = 0;
  /** Stop sampling after this long without a question (a daemon sets Infinity). */
  idleStopMs = 60_000;

  constructor(
    private readonly stats: () => StatsSegment,
    private readonly interfaces: () => number[] = () => [],
    private readonly periodMs = 1000,
  ) {}

  private sample(): Sample {
    const s = this.stats();
    const arcs = new Map<string, bigint>();
    for (const a of s.arcs()) arcs.set(key(a.from, a.to), (arcs.get(key(a.from, a.to)) ?? 0n) + a.packets);
    const errors = new Map<string, bigint>();
    for (const e of s.errors(true)) errors.set(key(e.node, e.name), e.count);
    const interfaces = new Map<number, { rx: bigint; tx: bigint; drops: bigint }>();
    for (const i of this.interfaces()) {
      const c = s.interfaceCounters(i);
      interfaces.set(i, { rx: c.rxPackets, tx: c.txPackets, drops: c.drops });
    }
    return { t: performance.now(), arcs, errors, interfaces };
  }

  private tick(): void {
    try {
      this.prev = this.last;
      this.last = this.sample();
    } catch {
      this.stop(); // engine stopped
    }
    if (performance.now() - this.lastAsked > this.idleStopMs) this.stop();
  }

  /** Samples from now on, whether asked or not (the daemon: rates are ready at once). */
  keepRunning(): void {
    this.idleStopMs = Infinity;
    void this.current();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.prev = this.last = undefined;
  }

  /**
   * The latest rates. The first call takes a sample and, when `waitMs` > 0, a second one that
   * much later, so a one-shot `show graph` gets real rates; later calls are immediate.
   */
  async current(waitMs = 0): Promise<Rates> {
    this.lastAsked = performance.now();
    if (!this.timer) {
      this.last = this.sample();
      this.prev = undefined;
      this.timer = setInterval(() => this.tick(), this.periodMs);
      this.timer.unref();
      if (waitMs > 0) {
        await new Promise((r) => setTimeout(r, waitMs));
        if (!this.prev) {
          // No tick came in between (waitMs shorter than the period): take the second sample now.
          this.prev = this.last;
          this.last = this.sample();
        }
      }
    }
    return rates(this.prev, this.last);
  }
}

function rates(a: Sample | undefined, b: Sample | undefined): Rates {
  const out: Rates = { window: 0, arcs: new Map(), errors: new Map(), interfaces: new Map() };
  if (!a || !b || b.t <= a.t) return out;
  const dt = (b.t - a.t) / 1000;
  out.window = dt;
  const per = (x: bigint, y: bigint | undefined) => (y === undefined || x < y ? 0 : Number(x - y) / dt);
  for (const [k, v] of b.arcs) out.arcs.set(k, per(v, a.arcs.get(k)));
  for (const [k, v] of b.errors) out.errors.set(k, per(v, a.errors.get(k)));
  for (const [i, v] of b.interfaces) {
    const p = a.interfaces.get(i);
    out.interfaces.set(i, { rx: per(v.rx, p?.rx), tx: per(v.tx, p?.tx), drops: per(v.drops, p?.drops) });
  }
  return out;
}
