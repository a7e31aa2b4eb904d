// tap interfaces: a TAP device owned by Quiver, optionally in another network namespace, with
// its name, MAC, MTU and addresses. See native/tap/README.md.
import { isIP } from 'node:net';
import { z } from 'zod';
import { addon } from '../addon.js';
import { native } from '../errors.js';
import { parseOrThrow } from '../validate.js';
import { LinuxIfName, MacAddress, Mtu, QuiverName, RxModeOption, WorkerOption } from './common.js';

const Prefix = z.string().refine((s) => {
  const [addr, len, extra] = s.split('/');
  if (extra !== undefined || !addr) return false;
  const v = isIP(addr);
  if (!v) return false;
  if (len === undefined) return true;
  return /^\d{1,3}$/.test(len) && Number(len) <= (v === 4 ? 32 : 128);
}, 'is not an IPv4 or IPv6 address with a prefix length (198.18.0.1/24, 2001:db8::1/64)');

export const TapSchema = z
  .object({
    /** The Linux name of the tap device (in its namespace). */
    hostName: LinuxIfName,
    /** Quiver's name for it; default: hostName. */
    name: QuiverName.optional(),
    /** A network namespace name (/run/netns/<name>) or path (/proc/<pid>/ns/net). */
    netns: z.string().min(1).optional(),
    /** Queues (IFF_MULTI_QUEUE when more than one). */
    queues: z.number().int().min(1).max(64).default(1),
    /** MAC of the Linux side (default: the kernel's random one). */
    hostMac: MacAddress.optional(),
    /** MAC of Quiver's side (default: random, locally administered). */
    mac: MacAddress.optional(),
    mtu: Mtu.default(1500),
    /** Addresses given to the Linux side ('198.18.0.1/24', '2001:db8::1/64'). */
    addresses: z.array(Prefix).default([]),
    /** csum: the kernel may hand over frames with the TCP/UDP checksum left undone (saves the
     *  sender computing it); none: every frame fully checksummed. No TSO: no 64 KB frames. */
    offloads: z.enum(['csum', 'none']).default('csum'),
    /** Bring the Linux side up. */
    up: z.boolean().default(true),
    worker: WorkerOption.optional(),
    rxMode: RxModeOption.optional(),
  })
  .strict();
export type TapOptions = z.input<typeof TapSchema>;

interface TapRaw {
  tapCreate(opts: Record<string, unknown>): number;
}
const raw = () => addon() as unknown as TapRaw;

/** Creates a tap interface (admin down: carrier off until admin up); returns its index. */
export function createTapInterface(opts: TapOptions): number {
  const o = parseOrThrow(TapSchema, opts, '');
  return native(() => raw().tapCreate(o));
}
