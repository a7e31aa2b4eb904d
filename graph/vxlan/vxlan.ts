// VXLAN tunnels: each tunnel is an interface (driver "vxlan") that can be a bridge-domain member
// (L2 overlay) or carry routes (L3 overlay). This module validates tunnel specs, creates them
// and lists them; deleting a tunnel is deleting its interface.
import { isIP } from 'node:net';
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';

/** IANA's VXLAN port; Linux's historical default (and Flannel's) is 8472. Decap listens on both. */
export const VXLAN_PORT = 4789;
export const VXLAN_LINUX_PORT = 8472;
export const DECAP_PORTS = [VXLAN_PORT, VXLAN_LINUX_PORT] as const;
/** What the overlay takes off the inner L3 MTU (outer Ethernet/IP/UDP/VXLAN). */
export const OVERHEAD = { ip4: 50, ip6: 70 } as const;

const Address = z.string().refine((s) => isIP(s) !== 0, 'is not an IPv4 or IPv6 address');

/** A tunnel's own fields (the interface's common ones, name/mtu/mac/state, come with it). */
export const TunnelFields = {
  /** Local underlay address: the outer source. */
  src: Address,
  /** Remote VTEP: the outer destination. Same family as src. */
  dst: Address,
  vni: z.number().int().min(0).max(0xffffff),
  /** Outer UDP destination port; decap listens on 4789 and 8472 only. */
  dstPort: z
    .number()
    .int()
    .refine((p) => p === VXLAN_PORT || p === VXLAN_LINUX_PORT, `must be ${VXLAN_PORT} or ${VXLAN_LINUX_PORT} (the ports Quiver decapsulates)`)
    .default(VXLAN_PORT),
  /** Underlay table the outer packets are looked up in. */
  encapVrf: z.number().int().min(0).max(0xffffffff).default(0),
  /** Outer TTL / hop limit. */
  ttl: z.number().int().min(1).max(255).default(64),
  /** IPv4 underlay: set DF on outer packets (else the underlay may fragment them). */
  df: z.boolean().default(false),
};

export const TunnelSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
    ...TunnelFields,
    mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
    mtu: z.number().int().min(68).max(9216).optional(),
  })
  .strict()
  .superRefine((t, ctx) => checkTunnel(t, (path, message) => ctx.addIssue({ code: 'custom', path: [path], message })));
export type TunnelSpec = z.input<typeof TunnelSchema>;

/** Rules across fields, shared by the API and the config validation. */
export function checkTunnel(t: { src: string; dst: string; df?: boolean }, issue: (field: string, reason: string) => void): void {
  const fs = isIP(t.src);
  const fd = isIP(t.dst);
  if (fs && fd && fs !== fd) issue('dst', `is IPv${fd} but src is IPv${fs}`);
  if (fs && fd && t.src === t.dst) issue('dst', 'equals src');
  if (fd === 4 && Number(t.dst.split('.')[0]) >= 224) issue('dst', 'must be a unicast address (multicast groups are not supported)');
  if (fd === 6 && t.dst.toLowerCase().startsWith('ff')) issue('dst', 'must be a unicast address (multicast groups are not supported)');
  if (fs === 6 && t.df) issue('df', 'applies to an IPv4 underlay only (IPv6 never fragments in the network)');
}

export interface TunnelInfo {
  name: string;
  index: number;
  src: string;
  dst: string;
  vni: number;
  dstPort: number;
  encapVrf: number;
  /** false while the encap table does not exist: the tunnel then drops what it would send. */
  encapVrfFound: boolean;
  ttl: number;
  df: boolean;
  family: 'ip4' | 'ip6';
}

interface VxlanRaw {
  vxlanTunnelCreate(spec: Record<string, unknown>): number;
  vxlanTunnels(): TunnelInfo[];
  vxlanTestChains(o: { interface: string | number; chainAt: number } | null): void;
  vxlanUnderlayShortcuts(on?: boolean): boolean;
}
const raw = () => addon() as unknown as VxlanRaw;

/**
 * Creates a tunnel interface (admin down, link up). Returns its interface index. The encap
 * table must exist, unless `deferTable` (the config creates interfaces before VRFs): the
 * tunnel then drops what it would send (`no-encap-table`) until the table appears.
 */
export function createTunnel(spec: TunnelSpec, opts: { deferTable?: boolean } = {}): number {
  const t = parseOrThrow(TunnelSchema, spec, '');
  return native(() => raw().vxlanTunnelCreate({ ...t, deferTable: opts.deferTable === true }));
}

export function tunnels(): TunnelInfo[] {
  return native(() => raw().vxlanTunnels());
}

export function deleteTunnel(name: string): void {
  const i = engine.findInterface(name);
  if (i.driver !== 'vxlan') throw new QuiverError('name', `${name} is not a VXLAN tunnel`);
  engine.deleteInterface(i.index);
}

/**
 * The underlay shortcuts: encap sends a tunnel's packets straight to ip4/ip6-rewrite when the
 * lookup of its destination (done once per run of its packets) ends in one resolved adjacency,
 * and ip4/ip6-vxlan-bypass hands VXLAN for a local tunnel endpoint to decap past ip-lookup and
 * ip-local. On by default (and at every engine start); off, every packet takes the lookup and
 * local delivery, to compare or to trace the full path. Returns the setting after the change.
 */
export function underlayShortcuts(on?: boolean): boolean {
  return native(() => raw().vxlanUnderlayShortcuts(on));
}

/**
 * Tests only: frames received on a pg interface are split after `chainAt` bytes into a
 * two-buffer chain and handed to ip4-input/ip6-input (pg cannot make the chains jumbo packets
 * arrive as). null turns it off.
 */
export function testChains(o: { interface: string | number; chainAt: number } | null): void {
  native(() => raw().vxlanTestChains(o));
}
