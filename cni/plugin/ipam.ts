// IPAM delegation the way the reference plugins do it: the plugin named by ipam.type, found
// through CNI_PATH, gets our whole network config on stdin and our environment. The one
// difference: it is spoken to in the newest version it supports (host-local 1.1.1 stops at
// 1.0.0 and rejects 1.1.0 with code 1), and its result converted to ours.
import type { CniEnv } from './env.js';
import { delegateEnv, execPlugin, findPlugin } from './exec.js';
import type { NetConf } from './config.js';
import { CniError, ErrorCode, compareVersions, negotiate, parseResult, type Result, resultFor } from './spec.js';

export interface Ipam {
  type: string;
  file: string;
  /** The version the IPAM plugin is called with. */
  version: string;
  /** Whether it knows GC and STATUS (spec 1.1.0). */
  has11: boolean;
}

export async function resolveIpam(conf: NetConf, env: CniEnv, base: NodeJS.ProcessEnv): Promise<Ipam | undefined> {
  if (!conf.ipam) return undefined;
  const type = conf.ipam.type;
  const file = findPlugin(type, env.path);
  if (!file)
    throw new CniError(ErrorCode.InvalidNetworkConfig, `ipam.type: IPAM plugin '${type}' not found in CNI_PATH`, `searched ${env.path.join(':') || '(CNI_PATH is empty)'}`);
  const info = (await execPlugin(`IPAM plugin ${type} (VERSION)`, file, delegateEnv(base, 'VERSION'), JSON.stringify({ cniVersion: conf.cniVersion }))) as
    | { supportedVersions?: unknown }
    | undefined;
  const theirs = Array.isArray(info?.supportedVersions) ? (info!.supportedVersions as string[]) : [];
  const version = negotiate(conf.cniVersion, theirs);
  if (!version)
    throw new CniError(ErrorCode.IncompatibleVersion, `IPAM plugin ${type} speaks no version quiver-cni can use`, `it supports ${theirs.join(', ') || 'nothing it reported'}; the config asks for ${conf.cniVersion}`);
  return { type, file, version, has11: theirs.includes('1.1.0') };
}

/** Our config, restated in the IPAM plugin's version (prevResult converted too). */
function ipamStdin(conf: NetConf, ipam: Ipam, extra: Record<string, unknown> = {}): string {
  const c: Record<string, unknown> = { ...conf.raw, cniVersion: ipam.version, ...extra };
  // cniVersions (1.1.0) lists versions for the runtime; a delegate gets the one chosen.
  delete c.cniVersions;
  if (conf.prevResult) c.prevResult = resultFor(conf.prevResult, ipam.version);
  return JSON.stringify(c);
}

export async function ipamAdd(conf: NetConf, env: CniEnv, base: NodeJS.ProcessEnv, ipam: Ipam): Promise<Result> {
  const out = await execPlugin(`IPAM plugin ${ipam.type}`, ipam.file, delegateEnv(base, 'ADD'), ipamStdin(conf, ipam));
  const r = parseResult(out, `IPAM plugin ${ipam.type} result`);
  if (!r.ips?.length) throw new CniError(ErrorCode.IpamFailed, `IPAM plugin ${ipam.type} returned no addresses`);
  return r;
}

export async function ipamCheck(conf: NetConf, base: NodeJS.ProcessEnv, ipam: Ipam): Promise<void> {
  await execPlugin(`IPAM plugin ${ipam.type} (CHECK)`, ipam.file, delegateEnv(base, 'CHECK'), ipamStdin(conf, ipam));
}

/** Releases the address of (containerId, ifname); IPAM DEL is idempotent by spec. */
export async function ipamDel(conf: NetConf, base: NodeJS.ProcessEnv, ipam: Ipam, target?: { containerId: string; ifname: string }): Promise<void> {
  const overrides = target ? { CNI_CONTAINERID: target.containerId, CNI_IFNAME: target.ifname, CNI_NETNS: undefined } : {};
  // A DEL carries no prevResult for a container other than the one in the environment.
  const stdin = target ? ipamStdin({ ...conf, prevResult: undefined, raw: withoutKeys(conf.raw, ['prevResult']) }, ipam) : ipamStdin(conf, ipam);
  await execPlugin(`IPAM plugin ${ipam.type} (DEL)`, ipam.file, delegateEnv(base, 'DEL', overrides), stdin);
}

/** GC and STATUS are delegated only to IPAM plugins that speak 1.1.0. */
export async function ipamGc(conf: NetConf, base: NodeJS.ProcessEnv, ipam: Ipam): Promise<void> {
  if (!ipam.has11 || compareVersions(conf.cniVersion, '1.1.0') < 0) return;
  await execPlugin(`IPAM plugin ${ipam.type} (GC)`, ipam.file, delegateEnv(base, 'GC'), ipamStdin(conf, ipam));
}

export async function ipamStatus(conf: NetConf, base: NodeJS.ProcessEnv, ipam: Ipam): Promise<void> {
  if (!ipam.has11 || compareVersions(conf.cniVersion, '1.1.0') < 0) return;
  await execPlugin(`IPAM plugin ${ipam.type} (STATUS)`, ipam.file, delegateEnv(base, 'STATUS'), ipamStdin(conf, ipam));
}

function withoutKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const c = { ...o };
  for (const k of keys) delete c[k];
  return c;
}
