// quiver-cni's network configuration: every key, checked by hand (the plugin is copied into the
// CNI bin directory without node_modules) with errors that name the key and the reason.
// Unknown top-level keys are errors; unknown runtimeConfig keys and `args` are ignored, as
// the spec asks (runtimes pass capabilities we do not use).
import { CniError, type CniVersion, ErrorCode, compareVersions, isIp, isSupported, isVersion, parseResult, type Result, SUPPORTED_VERSIONS } from './spec.js';

export const DEFAULT_DAEMON_SOCKET = '/run/quiver/quiver.sock';
export const DEFAULT_MEMIF_SOCKET_DIR = '/run/quiver/memif';

export type AttachmentType = 'tap' | 'memif';

export interface MemifOptions {
  /** Host directory under which each pod gets its own directory holding the socket. */
  socketDir: string;
  /** log2 of the ring size. */
  ringSize: number;
  bufferSize: number;
  queues: number;
  secret?: string;
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  attachment: AttachmentType;
  /** L2 attach: the Quiver side joins this bridge domain. */
  bridgeDomain?: number;
  /** Routed attach: the Quiver side is an L3 interface in this VRF (table id). */
  vrf?: number;
  mtu: number;
  /** Pod-side MAC (runtimeConfig.mac wins). */
  mac?: string;
  /** The daemon's management API socket. */
  daemonSocket: string;
  /** Per request to the daemon. */
  timeoutMs: number;
  memif: MemifOptions;
  ipam?: { type: string; [k: string]: unknown };
  dns?: Record<string, unknown>;
  runtimeConfig: { mac?: string; [k: string]: unknown };
  prevResult?: Result;
  validAttachments?: { containerID: string; ifname: string }[];
  /** The config exactly as received, for delegation to IPAM. */
  raw: Record<string, unknown>;
}

/** Keys the spec or runtimes (libcni, Multus) put in a plugin's config. */
const WELL_KNOWN = new Set([
  'cniVersion', 'cniVersions', 'name', 'type', 'args', 'ipMasq', 'ipam', 'dns', 'capabilities', 'runtimeConfig',
  'prevResult', 'cni.dev/valid-attachments', 'cni.dev/attachments', 'disableCheck', 'disableGC',
]);
const OURS = new Set(['attachment', 'bridgeDomain', 'vrf', 'mtu', 'mac', 'daemonSocket', 'timeoutSeconds', 'memif']);
const MEMIF_KEYS = new Set(['socketDir', 'ringSize', 'bufferSize', 'queues', 'secret']);
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function invalid(field: string, reason: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, `${field}: ${reason}`);
}

function integer(o: Record<string, unknown>, key: string, path: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(path, `${JSON.stringify(v)} is not an integer in ${min}..${max}`);
  return v;
}

function text(o: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v) throw invalid(path, 'must be a non-empty string');
  return v;
}

function absolutePath(o: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = text(o, key, path);
  if (v !== undefined && !v.startsWith('/')) throw invalid(path, `'${v}' is not an absolute path`);
  return v;
}

/** Decodes stdin (code 6 when it is not JSON) without validating it further. */
export function decode(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, 'network configuration on stdin is not valid JSON', (e as Error).message);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CniError(ErrorCode.DecodingFailure, 'network configuration on stdin is not a JSON object');
  return raw as Record<string, unknown>;
}

/** The cniVersion of a decoded config, checked against what we speak (code 1 if not). */
export function configVersion(raw: Record<string, unknown>): CniVersion {
  const v = raw.cniVersion;
  if (v === undefined) throw invalid('cniVersion', 'is required');
  if (!isVersion(v)) throw invalid('cniVersion', `${JSON.stringify(v)} is not a version (x.y.z)`);
  if (!isSupported(v))
    throw new CniError(ErrorCode.IncompatibleVersion, 'incompatible CNI versions', `config is "${v}", quiver-cni supports ${SUPPORTED_VERSIONS.join(', ')}`);
  return v;
}

/** Validates the whole configuration; throws CniError (7, or 1 for the version). */
export function parseNetConf(raw: Record<string, unknown>): NetConf {
  const cniVersion = configVersion(raw);
  for (const k of Object.keys(raw))
    if (!WELL_KNOWN.has(k) && !OURS.has(k)) throw invalid(k, `unknown key (quiver-cni knows ${[...OURS].join(', ')})`);
  const name = text(raw, 'name', 'name');
  if (!name) throw invalid('name', 'is required');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw invalid('name', `'${name}' may hold letters, digits, _ . - and start with a letter or digit`);
  const type = text(raw, 'type', 'type') ?? 'quiver-cni';

  const attachment = raw.attachment;
  if (attachment === undefined) throw invalid('attachment', "is required: 'tap' or 'memif'");
  if (attachment !== 'tap' && attachment !== 'memif') throw invalid('attachment', `${JSON.stringify(attachment)} is not an attachment type (one of: tap, memif)`);

  const bridgeDomain = integer(raw, 'bridgeDomain', 'bridgeDomain', 1, 0xfffffe);
  const vrf = integer(raw, 'vrf', 'vrf', 0, 0xfffffffe);
  if (bridgeDomain !== undefined && vrf !== undefined) throw invalid('vrf', 'give bridgeDomain (L2 attach) or vrf (routed attach), not both');
  if (attachment === 'memif' && vrf !== undefined)
    throw invalid('vrf', 'a routed attach needs a kernel interface in the pod (tap); attach a memif to a bridge domain');
  if (attachment === 'tap' && bridgeDomain === undefined && vrf === undefined)
    throw invalid('bridgeDomain', 'a tap attachment needs bridgeDomain (L2) or vrf (routed)');

  const mtu = integer(raw, 'mtu', 'mtu', 576, 9216) ?? 1500;
  const mac = text(raw, 'mac', 'mac');
  if (mac !== undefined && !MAC.test(mac)) throw invalid('mac', `'${mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  const daemonSocket = absolutePath(raw, 'daemonSocket', 'daemonSocket') ?? DEFAULT_DAEMON_SOCKET;
  const timeout = raw.timeoutSeconds;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0 && timeout <= 300))) throw invalid('timeoutSeconds', `${JSON.stringify(timeout)} is not a number of seconds in (0, 300]`);
  const timeoutMs = Math.round(((timeout as number | undefined) ?? 10) * 1000);

  const m = (raw.memif ?? {}) as Record<string, unknown>;
  if (typeof m !== 'object' || Array.isArray(m)) throw invalid('memif', 'is not an object');
  if (raw.memif !== undefined && attachment !== 'memif') throw invalid('memif', "applies to attachment 'memif' only");
  for (const k of Object.keys(m)) if (!MEMIF_KEYS.has(k)) throw invalid(`memif.${k}`, `unknown key (memif knows ${[...MEMIF_KEYS].join(', ')})`);
  const memif: MemifOptions = {
    socketDir: absolutePath(m, 'socketDir', 'memif.socketDir') ?? DEFAULT_MEMIF_SOCKET_DIR,
    ringSize: integer(m, 'ringSize', 'memif.ringSize', 4, 14) ?? 10,
    bufferSize: integer(m, 'bufferSize', 'memif.bufferSize', 128, 65535) ?? 2048,
    queues: integer(m, 'queues', 'memif.queues', 1, 16) ?? 1,
  };
  const secret = text(m, 'secret', 'memif.secret');
  if (secret !== undefined) {
    if (secret.length > 24) throw invalid('memif.secret', 'is longer than 24 characters (the memif limit)');
    memif.secret = secret;
  }

  let ipam: NetConf['ipam'];
  if (raw.ipam !== undefined) {
    const i = raw.ipam as Record<string, unknown>;
    if (!i || typeof i !== 'object' || Array.isArray(i)) throw invalid('ipam', 'is not an object');
    // An empty ipam object is how some tools say "none".
    if (Object.keys(i).length) {
      const t = text(i, 'type', 'ipam.type');
      if (!t) throw invalid('ipam.type', 'is required (the IPAM plugin to delegate to, e.g. host-local)');
      if (t.includes('/')) throw invalid('ipam.type', `'${t}' must be a plugin name found through CNI_PATH, not a path`);
      ipam = { ...i, type: t };
    }
  }
  if (raw.dns !== undefined && (typeof raw.dns !== 'object' || raw.dns === null || Array.isArray(raw.dns))) throw invalid('dns', 'is not an object');

  const rc = (raw.runtimeConfig ?? {}) as Record<string, unknown>;
  if (typeof rc !== 'object' || Array.isArray(rc)) throw invalid('runtimeConfig', 'is not an object');
  const runtimeConfig: NetConf['runtimeConfig'] = { ...rc };
  if (rc.mac !== undefined && (typeof rc.mac !== 'string' || !MAC.test(rc.mac))) throw invalid('runtimeConfig.mac', `${JSON.stringify(rc.mac)} is not a MAC address`);
  if (rc.ips !== undefined) {
    if (!Array.isArray(rc.ips)) throw invalid('runtimeConfig.ips', 'is not a list');
    rc.ips.forEach((ip, i) => {
      const a = typeof ip === 'string' ? ip.split('/')[0]! : '';
      if (!isIp(a)) throw invalid(`runtimeConfig.ips[${i}]`, `${JSON.stringify(ip)} is not an address`);
    });
  }

  let prevResult: Result | undefined;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    try {
      prevResult = parseResult(raw.prevResult, 'prevResult');
    } catch (e) {
      throw invalid('prevResult', (e as CniError).msg.replace(/^prevResult\.?/, '') || 'malformed');
    }
  }

  let validAttachments: NetConf['validAttachments'];
  const va = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (va !== undefined) {
    if (!Array.isArray(va)) throw invalid('cni.dev/valid-attachments', 'is not a list');
    validAttachments = va.map((a, i) => {
      const e = (a ?? {}) as Record<string, unknown>;
      if (typeof e.containerID !== 'string' || typeof e.ifname !== 'string')
        throw invalid(`cni.dev/valid-attachments[${i}]`, 'needs containerID and ifname strings');
      return { containerID: e.containerID, ifname: e.ifname };
    });
  }

  return {
    cniVersion, name, type, attachment, bridgeDomain, vrf, mtu, mac, daemonSocket, timeoutMs, memif, ipam,
    dns: raw.dns as Record<string, unknown> | undefined, runtimeConfig, prevResult, validAttachments, raw,
  };
}

/** GC and STATUS exist from 1.1.0 on; an older config cannot ask for them. */
export function requireVersion(conf: { cniVersion: string }, min: string, command: string): void {
  if (compareVersions(conf.cniVersion, min) < 0)
    throw new CniError(ErrorCode.IncompatibleVersion, `config version does not allow ${command}`, `${command} needs cniVersion ${min} or later; config is "${conf.cniVersion}"`);
}
