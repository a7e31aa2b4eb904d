// The CNI specification as data: versions, well-known error codes, result shapes and the
// conversion between the versions we speak. Everything here is pure (no I/O) so the plugin,
// the daemon and the tests share one definition. Node builtins only: the plugin is copied
// into the CNI bin directory without node_modules.

/** Spec versions quiver-cni accepts, oldest first. Results are written in the requested one. */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

/** Well-known error codes (spec "Error" section); 100+ are ours. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableLimitedConnectivity: 51,
  /** ADD for a (container, ifname) that is already attached. */
  AlreadyAttached: 100,
  /** The daemon refused or failed the request; msg carries its reason. */
  DaemonFailed: 101,
  /** The delegated IPAM plugin failed with a code of its own (kept in details). */
  IpamFailed: 102,
  /** CHECK found the attachment not as ADD left it. */
  CheckFailed: 103,
} as const;

/** A CNI error: printed as `{"cniVersion","code","msg","details"}` on stdout, exit status 1. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }
  toJSON(cniVersion: string): Record<string, unknown> {
    const o: Record<string, unknown> = { cniVersion, code: this.code, msg: this.msg };
    if (this.details) o.details = this.details;
    return o;
  }
}

/** -1, 0, 1 for semantic versions "a.b.c" (no pre-release tags in CNI). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function isVersion(v: unknown): v is string {
  return typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v);
}

export function isSupported(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/**
 * The version to speak to a delegate (IPAM) plugin: the highest one both it and we know that
 * is not above what our caller asked for. undefined: nothing in common.
 */
export function negotiate(requested: string, theirs: readonly string[]): CniVersion | undefined {
  const common = SUPPORTED_VERSIONS.filter((v) => theirs.includes(v) && compareVersions(v, requested) <= 0);
  return common[common.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Results. Held internally in the newest shape (1.1.0); converted on the way out.

export interface Interface {
  name: string;
  mac?: string;
  sandbox?: string;
  /** 1.1.0 */
  mtu?: number;
  /** 1.1.0: the memif (vhost-user...) control socket a pod application connects to. */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface IpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  /** 1.1.0 route attributes */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

const ROUTE_11_FIELDS = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;
const IFACE_11_FIELDS = ['mtu', 'socketPath', 'pciID'] as const;

/** Family of a CIDR or plain address: 4 or 6. */
export function family(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function pick<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if ((o as Record<string, unknown>)[k] !== undefined) out[k] = (o as Record<string, unknown>)[k];
  return out as Partial<T>;
}

/** A result in the exact shape of `version` (fields that version lacks are dropped). */
export function resultFor(r: Result, version: string): Record<string, unknown> {
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const v10 = compareVersions(version, '1.0.0') >= 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces?.length)
    out.interfaces = r.interfaces.map((i) => pick(i, ['name', 'mac', 'sandbox', ...(v11 ? IFACE_11_FIELDS : [])]));
  out.ips = (r.ips ?? []).map((ip) => {
    // 0.3.x/0.4.0 carry the family as "version"; 1.0.0 removed it.
    const o: Record<string, unknown> = v10 ? {} : { version: String(family(ip.address)) };
    return { ...o, ...pick(ip, ['address', 'gateway', 'interface']) };
  });
  if (r.routes?.length) out.routes = r.routes.map((rt) => pick(rt, ['dst', 'gw', ...(v11 ? ROUTE_11_FIELDS : [])]));
  out.dns = r.dns ?? {};
  return out;
}

/**
 * Reads a result of any version we speak (0.3.x included, which IPAM plugins may return)
 * into the internal shape. Throws CniError(DecodingFailure) naming the bad field.
 */
export function parseResult(raw: unknown, what: string): Result {
  const bad = (field: string, reason: string) => new CniError(ErrorCode.DecodingFailure, `${what}.${field}: ${reason}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CniError(ErrorCode.DecodingFailure, `${what}: is not a JSON object`);
  const o = raw as Record<string, unknown>;
  if (!isVersion(o.cniVersion)) throw bad('cniVersion', `${JSON.stringify(o.cniVersion)} is not a version`);
  const r: Result = { cniVersion: o.cniVersion };
  const arr = (k: string): unknown[] => {
    const v = o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(k, 'is not a list');
    return v;
  };
  const str = (v: unknown, field: string, optional = true): string | undefined => {
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || !v) throw bad(field, 'is not a string');
    return v;
  };
  const num = (v: unknown, field: string): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(field, 'is not an integer');
    return v;
  };
  r.interfaces = arr('interfaces').map((x, i) => {
    const e = (x ?? {}) as Record<string, unknown>;
    const f = `interfaces[${i}]`;
    const itf: Interface = { name: str(e.name, `${f}.name`, false)! };
    for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) {
      const v = str(e[k], `${f}.${k}`);
      if (v !== undefined) itf[k] = v;
    }
    const mtu = num(e.mtu, `${f}.mtu`);
    if (mtu !== undefined) itf.mtu = mtu;
    return itf;
  });
  r.ips = arr('ips').map((x, i) => {
    const e = (x ?? {}) as Record<string, unknown>;
    const f = `ips[${i}]`;
    const ip: IpConfig = { address: str(e.address, `${f}.address`, false)! };
    if (!parseCidr(ip.address)) throw bad(`${f}.address`, `'${ip.address}' is not an address/prefix`);
    const gw = str(e.gateway, `${f}.gateway`);
    if (gw !== undefined) ip.gateway = gw;
    const itf = num(e.interface, `${f}.interface`);
    if (itf !== undefined) ip.interface = itf;
    return ip;
  });
  r.routes = arr('routes').map((x, i) => {
    const e = (x ?? {}) as Record<string, unknown>;
    const f = `routes[${i}]`;
    const rt: Route = { dst: str(e.dst, `${f}.dst`, false)! };
    const gw = str(e.gw, `${f}.gw`);
    if (gw !== undefined) rt.gw = gw;
    for (const k of ROUTE_11_FIELDS) {
      const v = num(e[k], `${f}.${k}`);
      if (v !== undefined) rt[k] = v;
    }
    return rt;
  });
  if (o.dns !== undefined && o.dns !== null) {
    if (typeof o.dns !== 'object' || Array.isArray(o.dns)) throw bad('dns', 'is not an object');
    r.dns = o.dns as Dns;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Addresses (enough to validate and compare; no arithmetic).

export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIp(s: string): boolean {
  if (IPV4.test(s)) return true;
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  const parts = s.split('::');
  if (parts.length > 2) return false;
  const groups = parts.flatMap((p) => (p ? p.split(':') : []));
  const last = groups[groups.length - 1];
  const v4tail = last !== undefined && last.includes('.');
  if (v4tail && !IPV4.test(last)) return false;
  const n = groups.length + (v4tail ? 1 : 0);
  if (!groups.every((g, i) => (v4tail && i === groups.length - 1) || /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return parts.length === 2 ? n < 8 : n === 8;
}

export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m || !isIp(m[1]!)) return undefined;
  const fam = family(m[1]!);
  const prefix = Number(m[2]);
  if (prefix > (fam === 4 ? 32 : 128)) return undefined;
  return { address: m[1]!, prefix, family: fam };
}

/** The host route of an address: a.b.c.d/32 or x::y/128. */
export function hostPrefix(cidrOrAddress: string): string {
  const a = cidrOrAddress.split('/')[0]!;
  return `${a}/${family(a) === 4 ? 32 : 128}`;
}

function v6Words(a: string): bigint {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** The network of an address/prefix, host bits cleared: 198.18.5.7/24 -> 198.18.5.0/24. */
export function networkOf(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`'${cidr}' is not an address/prefix`);
  if (c.family === 4) {
    const n = c.address.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
    const masked = c.prefix === 0 ? 0 : (n & (0xffffffff << (32 - c.prefix))) >>> 0;
    return `${[24, 16, 8, 0].map((s) => (masked >>> s) & 255).join('.')}/${c.prefix}`;
  }
  if (c.address.includes('.')) throw new Error(`'${cidr}': IPv4-mapped IPv6 is not supported here`);
  const mask = c.prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - c.prefix)) - 1n);
  const w = v6Words(c.address) & mask;
  const groups = Array.from({ length: 8 }, (_, i) => Number((w >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // Canonical text (RFC 5952): the longest run of zero groups becomes '::'.
  let best = -1, len = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len && j - i > 1) { best = i; len = j - i; }
    i = j;
  }
  const text = best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
  return `${text}/${c.prefix}`;
}
