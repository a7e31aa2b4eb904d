// ADD, DEL, CHECK, GC, STATUS: IPAM delegation around the daemon's attachment endpoints.
// The rule that shapes ADD: nothing is left half-attached. The daemon applies an attachment
// whole or not at all; if it fails after IPAM allocated, the address is released before the
// error is returned. DEL is best effort and idempotent.
import { CNI_API, type AttachRequest, type AttachmentRecord, type CheckResponse, type DelResponse, type GcResponse, type GetResponse, type StatusResponse } from '../protocol.js';
import { DaemonError, DaemonUnreachable, callDaemon } from './client.js';
import { type NetConf, requireVersion } from './config.js';
import type { CniEnv } from './env.js';
import { findPlugin } from './exec.js';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus, resolveIpam } from './ipam.js';
import { CniError, ErrorCode, type Interface, type Result } from './spec.js';

export interface Context {
  conf: NetConf;
  env: CniEnv;
  /** The process environment, passed on to delegates. */
  base: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

function key(c: Context) {
  return { network: c.conf.name, containerId: c.env.containerId, ifname: c.env.ifname };
}

/** A daemon call whose failures become CNI errors; `unreachableCode` is 11 (retry) or 50 (STATUS). */
async function daemon<T>(c: Context, path: string, body: unknown, unreachableCode: number = ErrorCode.TryAgainLater): Promise<T> {
  try {
    return await callDaemon<T>(c.conf.daemonSocket, path, body, c.conf.timeoutMs);
  } catch (e) {
    if (e instanceof DaemonUnreachable)
      throw new CniError(unreachableCode, e.message, 'start the quiver daemon (on Kubernetes: the quiver DaemonSet pod on this node) or fix daemonSocket in the network config');
    if (e instanceof DaemonError) throw new CniError(ErrorCode.DaemonFailed, `quiver daemon: ${e.message}`);
    throw e;
  }
}

function podRef(env: CniEnv): AttachRequest['pod'] {
  const a = env.args;
  if (!a.K8S_POD_NAMESPACE && !a.K8S_POD_NAME && !a.K8S_POD_UID) return undefined;
  return { namespace: a.K8S_POD_NAMESPACE, name: a.K8S_POD_NAME, uid: a.K8S_POD_UID };
}

/** The pod's interface as the result lists it. */
function podInterface(c: Context, rec: AttachmentRecord): Interface {
  const i: Interface = { name: c.env.ifname, sandbox: c.env.netns, mtu: rec.mtu };
  if (rec.type === 'tap' && rec.podMac) i.mac = rec.podMac;
  if (rec.type === 'memif') {
    if (rec.mac) i.mac = rec.mac;
    i.socketPath = rec.socketPath;
  }
  return i;
}

export async function cmdAdd(c: Context): Promise<Result> {
  const existing = await daemon<GetResponse>(c, CNI_API.get, key(c));
  if (existing.attachment)
    throw new CniError(
      ErrorCode.AlreadyAttached,
      `container ${c.env.containerId} is already attached to network ${c.conf.name} as ${c.env.ifname} (since ${existing.attachment.created})`,
      'a runtime must DEL an attachment before adding it again',
    );
  const ipam = await resolveIpam(c.conf, c.env, c.base);
  const ipamResult = ipam ? await ipamAdd(c.conf, c.env, c.base, ipam) : undefined;
  const req: AttachRequest = {
    ...key(c),
    netns: c.env.netns,
    type: c.conf.attachment,
    bridgeDomain: c.conf.bridgeDomain,
    vrf: c.conf.vrf,
    mtu: c.conf.mtu,
    mac: c.conf.runtimeConfig.mac ?? c.conf.mac,
    ips: (ipamResult?.ips ?? []).map((ip) => ({ address: ip.address, gateway: ip.gateway })),
    routes: (ipamResult?.routes ?? []).map((r) => ({ dst: r.dst, gw: r.gw })),
    memif: c.conf.attachment === 'memif' ? c.conf.memif : undefined,
    pod: podRef(c.env),
  };
  let rec: AttachmentRecord;
  try {
    rec = await daemon<AttachmentRecord>(c, CNI_API.add, req);
  } catch (e) {
    if (e instanceof CniError && e.code === ErrorCode.AlreadyAttached) throw e; // not ours to undo
    if (e instanceof CniError && e.code === ErrorCode.TryAgainLater) {
      // No answer: the daemon may have attached before it went away. Undo that first, so the
      // address released below is not still routed to this pod.
      await callDaemon(c.conf.daemonSocket, CNI_API.del, key(c), c.conf.timeoutMs).catch(() => undefined);
    }
    if (ipam) {
      try {
        await ipamDel(c.conf, c.base, ipam);
        c.log(`ADD failed after IPAM allocated ${req.ips.map((i) => i.address).join(', ')}: released`);
      } catch (rel) {
        c.log(`ADD failed and releasing the address failed too: ${(rel as Error).message}`);
      }
    }
    throw e;
  }
  // Chained after another plugin: keep what it reported and add ours (spec: pass prevResult on).
  const prev = c.conf.prevResult;
  const interfaces = [...(prev?.interfaces ?? []), podInterface(c, rec)];
  const index = interfaces.length - 1;
  const dns = ipamResult?.dns && Object.keys(ipamResult.dns).length ? ipamResult.dns : (c.conf.dns ?? prev?.dns);
  // Addresses and routes as the daemon configured them (a routed attach makes them /32).
  return {
    cniVersion: c.conf.cniVersion,
    interfaces,
    ips: [...(prev?.ips ?? []), ...rec.ips.map((ip) => ({ ...ip, interface: index }))],
    routes: [...(prev?.routes ?? []), ...rec.routes],
    dns: dns as Result['dns'],
  };
}

export async function cmdDel(c: Context): Promise<void> {
  // Daemon first: the interface and its routes go before the address can be handed out again.
  // An unreachable daemon fails the DEL (code 11) so the runtime retries, rather than
  // releasing an address that an interface still uses.
  const r = await daemon<DelResponse>(c, CNI_API.del, key(c));
  c.log(r.removed ? 'attachment removed' : 'no attachment recorded (already deleted)');
  const ipam = await resolveIpam(c.conf, c.env, c.base).catch((e: CniError) => {
    // DEL must not fail because the IPAM plugin vanished from CNI_PATH; say so on stderr.
    c.log(`DEL: cannot release the address: ${e.message}`);
    return undefined;
  });
  if (ipam) await ipamDel(c.conf, c.base, ipam);
}

export async function cmdCheck(c: Context): Promise<void> {
  const prev = c.conf.prevResult;
  if (!prev) throw new CniError(ErrorCode.InvalidNetworkConfig, 'prevResult: is required for CHECK (the result of the ADD being checked)');
  const mine = prev.interfaces?.findIndex((i) => i.name === c.env.ifname && (!i.sandbox || i.sandbox === c.env.netns)) ?? -1;
  if (mine < 0) throw new CniError(ErrorCode.CheckFailed, `prevResult lists no interface ${c.env.ifname} in ${c.env.netns}`);
  const ipam = await resolveIpam(c.conf, c.env, c.base);
  if (ipam) await ipamCheck(c.conf, c.base, ipam);
  const itf = prev.interfaces![mine]!;
  const r = await daemon<CheckResponse>(c, CNI_API.check, {
    ...key(c),
    netns: c.env.netns,
    expect: {
      mac: itf.mac,
      socketPath: itf.socketPath,
      addresses: (prev.ips ?? []).filter((ip) => ip.interface === mine).map((ip) => ip.address),
      routes: prev.routes ?? [],
    },
  });
  if (r.problems.length) throw new CniError(ErrorCode.CheckFailed, `attachment ${c.env.containerId}/${c.env.ifname} is not as ADD left it`, r.problems.join('; '));
}

export async function cmdGc(c: Context): Promise<void> {
  requireVersion(c.conf, '1.1.0', 'GC');
  if (!c.conf.validAttachments) throw new CniError(ErrorCode.InvalidNetworkConfig, 'cni.dev/valid-attachments: is required for GC');
  const r = await daemon<GcResponse>(c, CNI_API.gc, { network: c.conf.name, valid: c.conf.validAttachments });
  const errors: string[] = [];
  const ipam = await resolveIpam(c.conf, c.env, c.base).catch((e: Error) => {
    errors.push(e.message);
    return undefined;
  });
  if (ipam) {
    // host-local and friends before 1.1.0 know no GC: release each stale address by DEL.
    for (const a of r.removed) {
      try {
        await ipamDel(c.conf, c.base, ipam, { containerId: a.containerId, ifname: a.ifname });
      } catch (e) {
        errors.push(`${a.containerId}/${a.ifname}: ${(e as Error).message}`);
      }
    }
    await ipamGc(c.conf, c.base, ipam).catch((e: Error) => errors.push(e.message));
  }
  c.log(`GC removed ${r.removed.length} stale attachment(s)`);
  if (errors.length) throw new CniError(ErrorCode.IpamFailed, `GC removed ${r.removed.length} stale attachment(s) but could not release every address`, errors.join('; '));
}

export async function cmdStatus(c: Context): Promise<void> {
  requireVersion(c.conf, '1.1.0', 'STATUS');
  const s = await daemon<StatusResponse>(c, CNI_API.status, { network: c.conf.name }, ErrorCode.PluginNotAvailable);
  if (!s.ready) throw new CniError(ErrorCode.PluginNotAvailable, `quiver daemon is not ready for ADD: ${s.reason ?? 'no reason given'}`);
  if (c.conf.ipam) {
    if (c.env.path.length && !findPlugin(c.conf.ipam.type, c.env.path))
      throw new CniError(ErrorCode.PluginNotAvailable, `IPAM plugin '${c.conf.ipam.type}' not found in CNI_PATH`, `searched ${c.env.path.join(':')}`);
    if (c.env.path.length) {
      const ipam = await resolveIpam(c.conf, c.env, c.base);
      if (ipam) await ipamStatus(c.conf, c.base, ipam);
    }
  }
}
