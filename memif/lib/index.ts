// quiver/memif: a Node.js application (a CNF in a pod) opens a memif in either role and sends and
// receives packets itself, without the Quiver daemon or engine. It interoperates with VPP,
// DPDK net_memif, libmemif and Quiver. Copy mode; the peer is validated exactly as the dataplane
// validates it (same native code).
//
//   const m = await Memif.open({ role: 'client', socket: '/run/vpp/memif.sock', id: 0 });
//   for await (const packets of m) m.send(packets.map(reply));
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../../src/addon.js';
import { QuiverError } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';

export const MemifOptionsSchema = z
  .object({
    role: z.enum(['server', 'client']),
    socket: z
      .string()
      .min(2)
      .max(107)
      .refine((s) => s.startsWith('/') || s.startsWith('@'), 'must be an absolute path or @name (abstract namespace)'),
    id: z.number().int().min(0).max(0xffffffff).default(0),
    secret: z.string().max(24).optional(),
    mode: z.enum(['ethernet', 'ip']).default('ethernet'),
    log2RingSize: z.number().int().min(1).max(14).default(10),
    bufferSize: z.number().int().min(128).max(65535).default(2048),
    rxQueues: z.number().int().min(1).max(256).default(1),
    txQueues: z.number().int().min(1).max(256).default(1),
    interfaceName: z.string().max(31).default('memif0'),
    appName: z.string().max(31).default('quiver/memif'),
    cacheLine: z.union([z.literal(64), z.literal(128)]).default(64),
    allowUnsealedRegions: z.boolean().default(false),
  })
  .strict();
export type MemifOptions = z.input<typeof MemifOptionsSchema>;

export interface MemifStatus {
  role: 'server' | 'client';
  socket: string;
  id: number;
  state: 'listening' | 'connecting' | 'handshake' | 'connected' | 'closed';
  peer: { name: string; interfaceName: string } | null;
  rings: { direction: 'rx' | 'tx'; queue: number; size: number; head: number; tail: number }[];
  counters: {
    rxPackets: number;
    rxBytes: number;
    txPackets: number;
    txBytes: number;
    txNoSpace: number;
    txEmpty: number;
    rxTooLong: number;
    violations: number;
    connects: number;
    disconnects: number;
  };
  lastError: string | null;
  lastDisconnect: string | null;
}

interface NativePort {
  rxBurst(max: number, lengths: Uint32Array): [Buffer | null, number];
  txBurst(packets: Buffer[], queue?: number): number;
  txBatch(data: Buffer, lengths: Uint32Array, count: number, queue?: number): number;
  waitRx(cb: () => void): boolean;
  details(): MemifStatus;
  close(): void;
}
type NativeModule = { Port: new (config: Record<string, unknown>, onEvent: (type: string, text: string) => void) => NativePort };

let native: NativeModule | undefined;
function load(): NativeModule {
  if (!native) {
    const path = join(packageRoot(), 'build', 'Release', 'quiver_memif.node');
    if (!existsSync(path)) throw new Error(`quiver/memif: native module not built (${path} is missing); run npm install`);
    native = createRequire(import.meta.url)(path) as NativeModule;
  }
  return native;
}

/** A batch in one buffer: packet i is data[offsets[i] .. offsets[i] + lengths[i]). */
export interface PacketBatch {
  data: Buffer;
  lengths: Uint32Array;
  count: number;
}

/**
 * One memif interface. Events: 'connected' (peer name), 'disconnected' (reason). A client
 * reconnects by itself with backoff (100 ms doubling to 2 s); a server keeps listening.
 */
export class Memif extends EventEmitter {
  private readonly port: NativePort;
  private readonly lengths = new Uint32Array(256);
  private closed = false;

  private constructor(opts: z.output<typeof MemifOptionsSchema>) {
    super();
    this.port = new (load().Port)(opts, (type, text) => this.emit(type, text));
  }

  /** Opens the interface (a server listens at once, a client starts connecting). */
  static open(opts: MemifOptions): Memif {
    const o = parseOrThrow(MemifOptionsSchema, opts, '');
    if (o.secret !== undefined && Buffer.byteLength(o.secret) > 24) throw new QuiverError('secret', 'longer than 24 bytes');
    try {
      return new Memif(o);
    } catch (e) {
      const m = /^([A-Za-z]+): (.*)$/s.exec((e as Error).message);
      throw m ? new QuiverError(m[1]!, m[2]!) : e;
    }
  }

  status(): MemifStatus {
    return this.port.details();
  }
  get connected(): boolean {
    return this.status().state === 'connected';
  }

  /** Resolves once connected (rejects after timeoutMs with the last error). */
  async waitConnected(timeoutMs = 5000): Promise<void> {
    if (this.connected) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('connected', ok);
        reject(new QuiverError('memif', `not connected within ${timeoutMs} ms (${this.status().lastError ?? 'no peer'})`));
      }, timeoutMs);
      const ok = () => {
        clearTimeout(t);
        resolve();
      };
      this.once('connected', ok);
    });
  }

  /** Copies up to `max` (<= 256) received packets out of the rings; [] when none wait. */
  receive(max = 256): Buffer[] {
    const b = this.receiveBatch(max);
    const out: Buffer[] = new Array(b.count);
    let off = 0;
    for (let i = 0; i < b.count; i++) {
      out[i] = b.data.subarray(off, off + b.lengths[i]!);
      off += b.lengths[i]!;
    }
    return out;
  }

  /** receive() without one object per packet: the packets back to back in one buffer. The
   * lengths array is reused by the next call. */
  receiveBatch(max = 256): PacketBatch {
    const [data, count] = this.port.rxBurst(Math.min(max, this.lengths.length), this.lengths);
    return { data: data ?? Buffer.alloc(0), lengths: this.lengths, count };
  }

  /** Copies packets into the transmit ring; returns how many fit (the rest are not sent). */
  send(packets: Buffer[], queue = 0): number {
    return this.port.txBurst(packets, queue);
  }

  /** send() for packets back to back in one buffer. */
  sendBatch(data: Buffer, lengths: Uint32Array, count = lengths.length, queue = 0): number {
    return this.port.txBatch(data, lengths, count, queue);
  }

  /** Resolves when packets may be waiting (interrupt from the peer), on (dis)connection or close. */
  readable(): Promise<void> {
    return new Promise((resolve) => {
      if (this.port.waitRx(resolve)) resolve();
    });
  }

  /** Batches of received packets until close(). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer[]> {
    while (!this.closed) {
      const batch = this.receive();
      if (batch.length) yield batch;
      else await this.readable();
    }
  }

  /** Tells the peer (DISCONNECT), closes the sockets and unmaps the rings. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
  }
}
