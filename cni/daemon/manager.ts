// The daemon's side of CNI: attachments applied whole or not at all, recorded in the state
// file, restored after a restart, checked, and garbage-collected. The dataplane is reached
// through DataplanePort so this file holds the attachment logic only (port.ts binds it to
// the Dataplane and the tap/memif/l2/ip modules).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { QuiverError } from '../../src/errors.js';
import type { AttachmentKey, AttachmentRecord, AttachRequest, CheckRequest, StatusResponse } from '../protocol.js';
import { family, hostPrefix, networkOf } from '../plugin/spec.js';
import { configurePod, readPod } from './podnet.js';
import { type AttachmentStore, keyOf } from './store.js';

export interface DataplanePort {
  /** A Quiver tap interface `name` whose kernel device `podIfname` is created inside `netns`; admin down. */
  createTap(o: { name: string; netns: string; podIfname: string; mtu: number; mac?: string }): void | Promise<void>;
  /** A memif in server role listening on `socketPath` (id 0); admin down. */
  createMemif(o: { name: string; socketPath: string; ringSize: number; bufferSize: number; queues: number; secret?: string; mtu: number }): void | Promise<void>;
  /** Deletes the interface; nothing when it does not exist. */
  deleteInterface(name: string): void | Promise<void>;
  interfaceExists(name: string): boolean;
  interfaceMac(name: string): string;
  /** Admin and link state, for CHECK. */
  interfaceState(name: string): { adminUp: boolean; linkUp: boolean } | undefined;
  setUp(name: string, up: boolean): void;
  /** Why an attachment to this bridge domain / VRF cannot be made, or undefined when it can. */
  bridgeDomainProblem(id: number): string | undefined;
  vrfProblem(id: number): string | undefined;
  joinBridgeDomain(name: string, bd: number): void;
  leaveBridgeDomain(name: string, bd: number): void;
  /**
   * Routed attach (Calico style, without ARP on the link): the interface is L3 in `vrf`, each
   * pod address gets a /32 or /128 route through it and a static neighbor entry with the
   * pod's MAC. The pod, for its part, has the gateway pinned to Quiver's MAC (podnet.ts).
   */
  routedAttach(name: string, vrf: number, pod: { addresses: string[]; mac: string }): void;
  routedDetach(name: string, vrf: number, pod: { addresses: string[] }): void;
}

export interface ManagerOptions {
  port: DataplanePort;
  store: AttachmentStore;
  log: Logger;
}

/** Quiver's interface name for an attachment: short, stable, unique per (network, container, ifname). */
export function quiverInterfaceName(type: 'tap' | 'memif', k: AttachmentKey): string {
  return `${type}-${createHash('sha256').update(keyOf(k)).digest('hex').slice(0, 10)}`;
}

/** The memif socket: one directory per pod (its UID when Kubernetes says, else the container ID). */
export function memifSocketPath(req: AttachRequest): string {
  const podDir = req.pod?.uid || req.containerId;
  return join(req.memif!.socketDir, podDir, `${req.ifname}.sock`);
}

type Undo = () => void | Promise<void>;

/**
 * What the pod is given. L2: IPAM's addresses and routes as they are. Routed: each address as
 * a host prefix (/32, /128) and, per family, the subnet and every IPAM route through that
 * family's gateway, so the pod sends everything to Quiver and never ARPs for a neighbor.
 */
export function podAddressing(req: AttachRequest): Pick<AttachRequest, 'ips' | 'routes'> {
  if (req.vrf === undefined) return { ips: req.ips, routes: req.routes };
  const gateway = (fam: 4 | 6) => req.ips.find((ip) => ip.gateway && family(ip.gateway) === fam)?.gateway;
  for (const ip of req.ips)
    if (!ip.gateway) throw new QuiverError('vrf', `a routed attach needs a gateway for ${ip.address} (IPAM gives one per range: ranges[].gateway)`);
  const routes: AttachRequest['routes'] = [];
  const seen = new Set<string>();
  const add = (dst: string) => {
    const gw = gateway(family(dst.split('/')[0]!));
    if (!gw || seen.has(dst)) return;
    seen.add(dst);
    routes.push({ dst, gw });
  };
  for (const ip of req.ips) add(networkOf(ip.address));
  for (const r of req.routes) add(r.dst);
  return { ips: req.ips.map((ip) => ({ address: hostPrefix(ip.address), gateway: ip.gateway })), routes };
}

export class AttachmentManager {
  private readonly port: DataplanePort;
  private readonly log: Logger;
  readonly store: AttachmentStore;

  constructor(o: ManagerOptions) {
    this.port = o.port;
    this.store = o.store;
    this.log = o.log;
  }

  get(k: AttachmentKey): AttachmentRecord | null {
    return this.store.get(k) ?? null;
  }

  list(network?: string): AttachmentRecord[] {
    return this.store.list(network);
  }

  status(): StatusResponse {
    return { ready: true, attachments: this.store.size };
  }

  /** Applies the attachment whole: any failure undoes every step already taken. */
  async add(req: AttachRequest): Promise<AttachmentRecord> {
    const existing = this.store.get(req);
    if (existing) throw new QuiverError('ifname', `container ${req.containerId} is already attached to network ${req.network} as ${req.ifname}`);
    if (req.bridgeDomain !== undefined) {
      const why = this.port.bridgeDomainProblem(req.bridgeDomain);
      if (why) throw new QuiverError('bridgeDomain', why);
    }
    if (req.vrf !== undefined) {
      const why = this.port.vrfProblem(req.vrf);
      if (why) throw new QuiverError('vrf', why);
    }
    const rec: AttachmentRecord = { ...req, ...podAddressing(req), quiverInterface: quiverInterfaceName(req.type, req), created: new Date().toISOString() };
    if (req.type === 'memif') rec.socketPath = memifSocketPath(req);
    const undo: Undo[] = [];
    try {
      await this.build(rec, undo, false);
      this.store.put(rec);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (ue) {
          this.log.warn({ attachment: keyOf(req), err: (ue as Error).message }, 'undo after a failed attach failed');
        }
      }
      throw e;
    }
    this.log.info({ attachment: keyOf(rec), interface: rec.quiverInterface, type: rec.type }, 'cni attachment added');
    return rec;
  }

  /** The dataplane side (and the pod side of a tap) of a record; `restoring` after a restart. */
  private async build(rec: AttachmentRecord, undo: Undo[], restoring: boolean): Promise<void> {
    const name = rec.quiverInterface;
    if (this.port.interfaceExists(name)) throw new QuiverError('ifname', `dataplane interface ${name} already exists`);
    if (rec.type === 'tap') {
      await this.port.createTap({ name, netns: rec.netns, podIfname: rec.ifname, mtu: rec.mtu, mac: rec.quiverMac });
      undo.push(() => this.port.deleteInterface(name));
      rec.quiverMac ??= this.port.interfaceMac(name);
      // Picked here rather than read back from the kernel: one process less per ADD.
      if (!restoring) rec.podMac = rec.mac ?? randomMac();
      // The pod side: on restore the device is new (the old one went with the old daemon's fd).
      await configurePod({
        netns: rec.netns, ifname: rec.ifname, mtu: rec.mtu, mac: rec.podMac, ips: rec.ips, routes: rec.routes,
        gatewayMac: rec.vrf !== undefined ? rec.quiverMac : undefined,
      });
    } else {
      const socketPath = rec.socketPath!;
      const dir = dirname(socketPath);
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        undo.push(() => removeIfEmpty(dir));
      }
      if (existsSync(socketPath)) {
        // Ours from before a restart is stale; anything else is someone else's socket. The
        // directory itself stays: the pod has it mounted, a new one would be invisible to it.
        if (!restoring) throw new QuiverError('memif.socketDir', `${socketPath} already exists: another attachment or application uses it`);
        unlinkSync(socketPath);
      }
      const m = rec.memif!;
      await this.port.createMemif({ name, socketPath, ringSize: m.ringSize, bufferSize: m.bufferSize, queues: m.queues, secret: m.secret, mtu: rec.mtu });
      undo.push(async () => {
        await this.port.deleteInterface(name);
        removeFile(socketPath);
      });
    }
    const addresses = rec.ips.map((ip) => ip.address);
    if (rec.bridgeDomain !== undefined) {
      this.port.joinBridgeDomain(name, rec.bridgeDomain);
      undo.push(() => this.port.leaveBridgeDomain(name, rec.bridgeDomain!));
    } else if (rec.vrf !== undefined) {
      this.port.routedAttach(name, rec.vrf, { addresses, mac: rec.podMac! });
      undo.push(() => this.port.routedDetach(name, rec.vrf!, { addresses }));
    }
    this.port.setUp(name, true);
  }

  /** Idempotent and best effort: whatever is left of the attachment goes; absent is success. */
  async del(k: AttachmentKey): Promise<{ removed: boolean }> {
    const rec = this.store.get(k);
    if (!rec) return { removed: false };
    await this.teardown(rec);
    this.store.delete(rec);
    this.log.info({ attachment: keyOf(rec), interface: rec.quiverInterface }, 'cni attachment removed');
    return { removed: true };
  }

  private async teardown(rec: AttachmentRecord): Promise<void> {
    const name = rec.quiverInterface;
    const step = async (what: string, fn: () => void | Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        this.log.warn({ attachment: keyOf(rec), step: what, err: (e as Error).message }, 'cni teardown step failed; continuing');
      }
    };
    if (this.port.interfaceExists(name)) {
      if (rec.bridgeDomain !== undefined) await step('leave bridge domain', () => this.port.leaveBridgeDomain(name, rec.bridgeDomain!));
      if (rec.vrf !== undefined) await step('routed detach', () => this.port.routedDetach(name, rec.vrf!, { addresses: rec.ips.map((i) => i.address) }));
      await step('delete interface', () => this.port.deleteInterface(name));
    }
    if (rec.socketPath) {
      removeFile(rec.socketPath);
      removeIfEmpty(dirname(rec.socketPath));
    }
  }

  /** Removes the network's attachments whose (container, ifname) is not in `valid`. */
  async gc(network: string, valid: { containerID: string; ifname: string }[]): Promise<AttachmentRecord[]> {
    const keep = new Set(valid.map((v) => `${v.containerID}/${v.ifname}`));
    const stale = this.store.list(network).filter((r) => !keep.has(`${r.containerId}/${r.ifname}`));
    for (const r of stale) await this.del(r);
    if (stale.length) this.log.info({ network, removed: stale.length }, 'cni gc');
    return stale;
  }

  async check(req: CheckRequest): Promise<string[]> {
    const rec = this.store.get(req);
    if (!rec) return [`no attachment recorded for container ${req.containerId} interface ${req.ifname} in network ${req.network}`];
    const problems: string[] = [];
    const st = this.port.interfaceState(rec.quiverInterface);
    if (!st) problems.push(`dataplane interface ${rec.quiverInterface} is missing`);
    else if (!st.adminUp) problems.push(`dataplane interface ${rec.quiverInterface} is admin down`);
    if (req.netns !== rec.netns) problems.push(`CNI_NETNS ${req.netns} is not the namespace attached (${rec.netns})`);
    if (rec.type === 'memif') {
      if (!existsSync(rec.socketPath!)) problems.push(`memif socket ${rec.socketPath} is missing`);
      if (req.expect.socketPath && req.expect.socketPath !== rec.socketPath) problems.push(`prevResult socketPath ${req.expect.socketPath} is not ${rec.socketPath}`);
      return problems;
    }
    const pod = existsSync(rec.netns) ? await readPod(rec.netns, rec.ifname) : undefined;
    if (!pod) return [...problems, `interface ${rec.ifname} is missing in ${rec.netns}`];
    if (!pod.up) problems.push(`interface ${rec.ifname} is down in the pod`);
    if (req.expect.mac && pod.mac.toLowerCase() !== req.expect.mac.toLowerCase()) problems.push(`interface ${rec.ifname} has MAC ${pod.mac}, ADD reported ${req.expect.mac}`);
    for (const a of req.expect.addresses) if (!pod.addresses.includes(a)) problems.push(`address ${a} is missing on ${rec.ifname}`);
    const have = new Set(pod.routes.map((r) => `${hostRoute(r.dst)} ${r.gw ?? ''}`));
    for (const r of rec.routes) {
      const gw = r.gw ?? rec.ips.find((ip) => ip.gateway && ip.gateway.includes(':') === r.dst.includes(':'))?.gateway;
      if (!have.has(`${hostRoute(r.dst)} ${gw ?? ''}`)) problems.push(`route ${r.dst}${gw ? ` via ${gw}` : ''} is missing in the pod`);
    }
    return problems;
  }

  /**
   * After a daemon (re)start: every recorded attachment is built again. One that cannot be
   * (its namespace is gone: the pod died while the daemon was down) stays recorded so DEL or
   * GC still releases its address.
   */
  async restore(): Promise<{ restored: number; skipped: { attachment: string; reason: string }[] }> {
    let restored = 0;
    const skipped: { attachment: string; reason: string }[] = [];
    for (const rec of this.store.list()) {
      if (this.port.interfaceExists(rec.quiverInterface)) continue;
      if (rec.type === 'tap' && !existsSync(rec.netns)) {
        skipped.push({ attachment: keyOf(rec), reason: `network namespace ${rec.netns} is gone` });
        continue;
      }
      const undo: Undo[] = [];
      try {
        await this.build(rec, undo, true);
        restored++;
      } catch (e) {
        for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => undefined);
        skipped.push({ attachment: keyOf(rec), reason: (e as Error).message });
      }
    }
    for (const s of skipped) this.log.warn(s, 'cni attachment not restored (kept for DEL/GC)');
    if (restored) this.log.info({ restored }, 'cni attachments restored');
    return { restored, skipped };
  }
}

/** A random unicast, locally administered MAC (02:xx:...). */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function hostRoute(dst: string): string {
  return dst.replace(/\/(32|128)$/, '');
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    /* gone or not ours to remove */
  }
}
