// af_packet interfaces: TPACKET_V3 rings on any Linux interface; the always-available
// fallback. See native/af_packet/README.md.
import { z } from 'zod';
import { addon } from '../addon.js';
import { native } from '../errors.js';
import { parseOrThrow } from '../validate.js';
import { LinuxIfName, MacAddress, Mtu, QuiverName, RxModeOption, WorkerOption } from './common.js';

const pow2 = (n: number) => (n & (n - 1)) === 0;

export const AfPacketSchema = z
  .object({
    /** The Linux interface to attach to. */
    host: LinuxIfName,
    /** Quiver's name for it; default: the host name. */
    name: QuiverName.optional(),
    /** Sockets joined in one PACKET_FANOUT group (one rx queue each). */
    queues: z.number().int().min(1).max(64).default(1),
    /** How the kernel spreads frames over the queues. */
    fanout: z.enum(['hash', 'cpu', 'lb', 'qm']).default('hash'),
    /** rx ring: block size (power of two) and number of blocks. */
    blockSize: z.number().int().min(4096).max(4194304).refine(pow2, 'must be a power of two').default(65536),
    blocks: z.number().int().min(2).max(4096).default(64),
    /** A partly filled rx block is handed over after this long (rx latency bound). */
    blockTimeoutMs: z.number().int().min(1).max(1000).default(1),
    /** tx ring frames. */
    txFrames: z.number().int().min(16).max(65536).default(1024),
    worker: WorkerOption.optional(),
    rxMode: RxModeOption.optional(),
    mac: MacAddress.optional(),
    mtu: Mtu.optional(),
  })
  .strict();
export type AfPacketOptions = z.input<typeof AfPacketSchema>;

interface AfPacketRaw {
  afPacketCreate(opts: Record<string, unknown>): number;
}
const raw = () => addon() as unknown as AfPacketRaw;

/** Creates an af_packet interface (admin down); returns its index. */
export function createAfPacketInterface(opts: AfPacketOptions): number {
  const o = parseOrThrow(AfPacketSchema, opts, '');
  return native(() => raw().afPacketCreate(o));
}
