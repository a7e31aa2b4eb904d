// Lab topologies for tests, demos and people (`quiver lab`): N network namespaces, each with
// an `eth0` whose other end (a veth peer in Quiver's namespace) Quiver attaches to, addresses
// from 198.18.0.0/15 and 2001:db8::/32. Everything created is removed by destroyLab(), and
// also when the process exits, fails or is interrupted (SIGINT/SIGTERM).
import { z } from 'zod';
import { QuiverError } from '../errors.js';
import { parseOrThrow } from '../validate.js';
import { ip, killChildren, linkExists, namespaceExists, nsRun, randomId, sysctl } from './netns.js';

export const LabSchema = z
  .object({
    /** Name prefix of everything the lab creates (namespaces, interfaces). */
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,5}$/, 'must be 1..6 lowercase letters, digits or -, starting with a letter')
      .default('ql-'),
    /** Namespaces (hosts). */
    hosts: z.number().int().min(1).max(16).default(2),
    /** veth: each host gets a veth pair (Quiver attaches to the end left here);
     *  none: bare namespaces (for tap interfaces Quiver creates inside them). */
    links: z.enum(['veth', 'none']).default('veth'),
    /** veth queues (numtxqueues/numrxqueues), for multi-queue drivers. */
    queues: z.number().int().min(1).max(16).default(1),
    /** Offloads of the hosts' eth0: off = no checksum offload and no TSO (what AF_XDP needs: it
     *  cannot see that a checksum was left undone); csum = checksum offload kept, no TSO/GSO
     *  (AF_PACKET completes the checksums); on = kernel defaults. */
    offloads: z.enum(['off', 'csum', 'on']).default('off'),
    mtu: z.number().int().min(1280).max(9000).default(1500),
  })
  .strict();
export type LabOptions = z.input<typeof LabSchema>;

export interface LabHost {
  index: number;
  /** The host's namespace. */
  netns: string;
  /** Its interface inside the namespace ('eth0'; created by the tap driver when links = none). */
  ifname: string;
  /** The veth end in Quiver's namespace ('' when links = none). */
  quiverSide: string;
  ip4: string;
  ip4Prefix: string;
  ip6: string;
  ip6Prefix: string;
}

export interface Lab {
  id: string;
  options: z.output<typeof LabSchema>;
  hosts: LabHost[];
  destroyed: boolean;
}

const live = new Set<Lab>();
let handlersInstalled = false;

// 'exit' also runs after an uncaught exception; signals are caught, cleaned up after, and
// re-raised (when nobody else listens) so the process still dies of them.
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => destroyAllLabs());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      destroyAllLabs();
      process.removeListener(sig, handler);
      // Alone, die of the signal as the default action would; a program with its own handler
      // (a daemon shutting down) decides itself and must not see the signal twice.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** Addresses of host i: 198.18.0.(i+1)/24 and 2001:db8::(i+1)/64. */
export function hostAddresses(i: number): Pick<LabHost, 'ip4' | 'ip4Prefix' | 'ip6' | 'ip6Prefix'> {
  return { ip4: `198.18.0.${i + 1}`, ip4Prefix: `198.18.0.${i + 1}/24`, ip6: `2001:db8::${i + 1}`, ip6Prefix: `2001:db8::${i + 1}/64` };
}

/** Builds the topology; on any failure removes what it had built and throws. */
export function createLab(options: LabOptions = {}): Lab {
  const o = parseOrThrow(LabSchema, options, '');
  installHandlers();
  const id = randomId(5);
  const lab: Lab = { id, options: o, hosts: [], destroyed: false };
  live.add(lab);
  try {
    for (let i = 0; i < o.hosts; i++) {
      const netns = `${o.prefix}${id}-${i}`;
      const quiverSide = o.links === 'veth' ? `${o.prefix}${id}h${i}` : '';
      const host: LabHost = { index: i, netns, ifname: 'eth0', quiverSide, ...hostAddresses(i) };
      ip(['netns', 'add', netns]);
      lab.hosts.push(host);
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      if (o.links === 'none') continue;
      const q = String(o.queues);
      ip(['link', 'add', quiverSide, 'numtxqueues', q, 'numrxqueues', q, 'mtu', String(o.mtu), 'type', 'veth',
          'peer', 'name', 'eth0', 'numtxqueues', q, 'numrxqueues', q, 'mtu', String(o.mtu), 'netns', netns]);
      // Quiver's end carries nothing of the host stack: no IPv6 autoconfiguration, no
      // router solicitations, so the hosts' counters only ever see what Quiver sent.
      sysctl(`net/ipv6/conf/${quiverSide}/disable_ipv6`, '1');
      ip(['-n', netns, 'addr', 'add', host.ip4Prefix, 'dev', 'eth0']);
      ip(['-n', netns, 'addr', 'add', host.ip6Prefix, 'dev', 'eth0', 'nodad']);
      if (o.offloads === 'off') nsRun(netns, 'ethtool', ['-K', 'eth0', 'tx', 'off', 'tso', 'off', 'gso', 'off']);
      if (o.offloads === 'csum') nsRun(netns, 'ethtool', ['-K', 'eth0', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (e) {
    destroyLab(lab);
    throw e;
  }
  return lab;
}

/** Removes every namespace and interface of the lab; safe to call twice. Processes started
 *  with nsSpawn are killed first (a process inside would keep its namespace alive). */
export function destroyLab(lab: Lab): void {
  if (lab.destroyed) return;
  lab.destroyed = true;
  live.delete(lab);
  killChildren(lab.hosts.map((h) => h.netns));
  const errors: string[] = [];
  for (const h of lab.hosts) {
    try {
      if (namespaceExists(h.netns)) ip(['netns', 'del', h.netns]);
    } catch (e) {
      errors.push((e as Error).message);
    }
    // Deleting the namespace takes the veth pair with it, asynchronously (the kernel cleans
    // namespaces up in a work queue): delete it ourselves unless that already happened.
    try {
      if (h.quiverSide && linkExists(h.quiverSide)) ip(['link', 'del', h.quiverSide]);
    } catch (e) {
      if (linkExists(h.quiverSide)) errors.push((e as Error).message);
    }
  }
  if (errors.length) throw new QuiverError('lab', `cleanup of ${lab.id} incomplete: ${errors.join('; ')}`);
}

export function destroyAllLabs(): void {
  for (const lab of [...live]) {
    try {
      destroyLab(lab);
    } catch {
      /* best effort on the way out */
    }
  }
}

/** A one-screen description (for `quiver lab`). */
export function describeLab(lab: Lab): string {
  const lines = [`lab ${lab.id}: ${lab.hosts.length} hosts, links ${lab.options.links}, offloads ${lab.options.offloads}`];
  for (const h of lab.hosts)
    lines.push(`  ${h.netns.padEnd(14)} ${h.ifname} ${h.ip4Prefix.padEnd(16)} ${h.ip6Prefix.padEnd(18)}${h.quiverSide ? ` <-> ${h.quiverSide} (attach Quiver here)` : ''}`);
  return lines.join('\n');
}

/** For `quiver lab`: builds the topology, prints it, and keeps it until Ctrl-C (SIGINT/SIGTERM
 *  remove everything, then the process ends of the signal). */
export async function runLab(options: LabOptions = {}, out: (line: string) => void = (l) => console.log(l)): Promise<never> {
  const lab = createLab(options);
  out(describeLab(lab));
  out('Ctrl-C removes the lab.');
  return new Promise<never>(() => {
    setInterval(() => {}, 1 << 30);  // keep the event loop alive until a signal arrives
  });
}
