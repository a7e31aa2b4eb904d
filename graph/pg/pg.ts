// pg, the packet generator interface: streams replayed from packets or a pcap file, or
// synthesized from an Ethernet/IPv4/UDP template with per-packet incrementing fields; and a
// capture of what pg interfaces transmit, for byte-exact tests.
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import type { InterfaceRef } from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IP4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export const PgInterfaceSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
    mtu: z.number().int().min(68).max(9216).optional(),
    worker: z.number().int().min(0).optional(),
  })
  .strict();

const FieldSchema = z
  .object({
    field: z.enum(['src-ip', 'dst-ip', 'src-port', 'dst-port', 'offset']),
    offset: z.number().int().min(0).max(4095).optional(),
    width: z.union([z.literal(1), z.literal(2), z.literal(4)]).optional(),
    start: z.number().int().min(0).max(0xffffffff).optional(),
    step: z.number().int().min(0).max(0xffffffff).default(1),
    count: z.number().int().min(1).max(0xffffffff).default(1),
    random: z.boolean().default(false),
  })
  .strict();

export const PgStreamSchema = z
  .object({
    name: z.string().min(1).max(31),
    count: z.number().int().min(0).default(0),
    rate: z.number().min(0).default(0),
    size: z.number().int().min(42).max(2112).optional(),
    sizeMin: z.number().int().min(42).max(2112).optional(),
    sizeMax: z.number().int().min(42).max(2112).optional(),
    packets: z.array(z.instanceof(Buffer)).min(1).optional(),
    pcap: z.string().min(1).optional(),
    template: z
      .object({
        srcMac: z.string().regex(MAC, 'is not a MAC address').optional(),
        dstMac: z.string().regex(MAC, 'is not a MAC address').optional(),
        srcIp: z.string().regex(IP4, 'is not an IPv4 address').optional(),
        dstIp: z.string().regex(IP4, 'is not an IPv4 address').optional(),
        srcPort: z.number().int().min(0).max(65535).optional(),
        dstPort: z.number().int().min(0).max(65535).optional(),
        ttl: z.number().int().min(0).max(255).optional(),
        vlan: z.number().int().min(0).max(4095).optional(),
      })
      .strict()
      .optional(),
    fields: z.array(FieldSchema).optional(),
    enabled: z.boolean().default(false),
  })
  .strict();
export type PgStream = z.input<typeof PgStreamSchema>;

/** Creates a pg interface (admin down, like every new interface); returns its index. */
export function createPgInterface(opts: z.input<typeof PgInterfaceSchema>): number {
  const o = parseOrThrow(PgInterfaceSchema, opts, '');
  return native(() => addon().pgCreate(o));
}

export function addStream(intf: InterfaceRef, stream: PgStream): void {
  const s = parseOrThrow(PgStreamSchema, stream, '');
  const sources = [s.packets, s.pcap, s.template].filter((x) => x !== undefined).length;
  if (sources > 1) throw new QuiverError('packets', 'give one of packets, pcap or template');
  if (s.size !== undefined && (s.sizeMin !== undefined || s.sizeMax !== undefined))
    throw new QuiverError('size', 'give either size or sizeMin/sizeMax');
  if ((s.sizeMin === undefined) !== (s.sizeMax === undefined))
    throw new QuiverError(s.sizeMin === undefined ? 'sizeMin' : 'sizeMax', 'sizeMin and sizeMax go together');
  if (s.sizeMin !== undefined && s.sizeMax !== undefined && s.sizeMin > s.sizeMax)
    throw new QuiverError('sizeMin', `${s.sizeMin} exceeds sizeMax ${s.sizeMax}`);
  if (s.template?.srcIp) checkIp4(s.template.srcIp, 'template.srcIp');
  if (s.template?.dstIp) checkIp4(s.template.dstIp, 'template.dstIp');
  (s.fields ?? []).forEach((f, i) => {
    if (f.field === 'offset' && (f.offset === undefined || f.width === undefined))
      throw new QuiverError(`fields[${i}].offset`, 'field "offset" needs offset and width');
  });
  native(() => addon().pgStream(intf, s));
}

function checkIp4(ip: string, field: string): void {
  const m = IP4.exec(ip);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new QuiverError(field, `'${ip}' is not an IPv4 address`);
}

export function enableStream(name: string, on = true): void {
  native(() => addon().pgStreamEnable(name, on));
}
export function streamStatus(name: string): { sent: number; enabled: boolean; limit: number } {
  return native(() => addon().pgStreamStatus(name));
}
export function deleteStream(name: string): void {
  native(() => addon().pgStreamDelete(name));
}

/** Waits until a counted stream has sent everything (polls; rejects after timeoutMs). */
export async function waitStream(name: string, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const st = streamStatus(name);
    if (!st.enabled && (st.limit === 0 || st.sent >= st.limit)) return;
    if (Date.now() > until) throw new QuiverError('stream', `'${name}' sent ${st.sent} of ${st.limit} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Keep up to `max` packets transmitted by a pg interface (0: off and clear). */
export function capture(intf: InterfaceRef, max: number): void {
  if (!Number.isInteger(max) || max < 0 || max > 1_000_000) throw new QuiverError('max', 'must be 0..1000000');
  native(() => addon().pgCapture(intf, max));
}
export function captured(intf: InterfaceRef): Buffer[] {
  return native(() => addon().pgCaptured(intf));
}
export function writeCapture(intf: InterfaceRef, file: string): number {
  return native(() => addon().pgCaptureWrite(intf, file));
}
