// af_xdp interfaces: AF_XDP sockets on a Linux interface, UMEM = Quiver's buffer pool (no copy
// between the kernel's rx/tx rings and the graph). See native/af_xdp/README.md.
import { z } from 'zod';
import { addon } from '../addon.js';
import { native } from '../errors.js';
import { parseOrThrow } from '../validate.js';
import { LinuxIfName, MacAddress, QuiverName, RxModeOption, WorkerOption } from './common.js';

export const AfXdpSchema = z
  .object({
    /** The Linux interface to attach to (veth, NIC). */
    host: LinuxIfName,
    /** Quiver's name for it; default: the host name. */
    name: QuiverName.optional(),
    /** Number of queues (one XSK each); default: every rx queue of the device. */
    queues: z.number().int().min(1).max(256).optional(),
    /** XDP mode: native (driver), generic (skb), auto = native then generic. */
    mode: z.enum(['auto', 'native', 'generic']).default('auto'),
    /** link (BPF link: detached automatically if Quiver dies) or netlink (legacy). */
    attach: z.enum(['link', 'netlink']).default('link'),
    /** Replace an XDP program of someone else found on the interface. */
    replaceProgram: z.boolean().default(false),
    /** Entries per ring (fill, completion, rx, tx); a power of two. */
    ringSize: z
      .number()
      .int()
      .min(64)
      .max(16384)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
      .default(2048),
    worker: WorkerOption.optional(),
    rxMode: RxModeOption.optional(),
    /** Quiver's MAC; default: the host interface's (setting it changes the host's too). */
    mac: MacAddress.optional(),
    /** Default: the host interface's MTU (setting it changes the host's too). */
    mtu: z.number().int().min(68).max(2090).optional(),
  })
  .strict();
export type AfXdpOptions = z.input<typeof AfXdpSchema>;

interface AfXdpRaw {
  afXdpCreate(opts: Record<string, unknown>): number;
}
const raw = () => addon() as unknown as AfXdpRaw;

/** Creates an af_xdp interface (admin down, like every new interface); returns its index. */
export function createAfXdpInterface(opts: AfXdpOptions): number {
  const o = parseOrThrow(AfXdpSchema, opts, '');
  return native(() => raw().afXdpCreate(o));
}
