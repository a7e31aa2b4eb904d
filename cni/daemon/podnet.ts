// The pod side of a tap attachment: MAC, MTU, addresses, routes and link state of the TAP
// device inside the pod's network namespace, applied (and read back for CHECK) with iproute2
// run in that namespace. One `ip -batch` per attachment keeps ADD to one process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { family } from '../plugin/spec.js';

const run = promisify(execFile);

export interface PodSide {
  netns: string;
  ifname: string;
  mtu: number;
  mac?: string;
  ips: { address: string; gateway?: string }[];
  routes: { dst: string; gw?: string }[];
  /**
   * Routed attach: the gateways are Quiver's side of the link, pinned as permanent neighbors
   * with this MAC, and every route is `onlink` through them. Nothing on the link needs ARP/ND.
   */
  gatewayMac?: string;
}

async function inNetns(netns: string, args: string[], input?: string): Promise<string> {
  const child = run('nsenter', [`--net=${netns}`, 'ip', ...args], { timeout: 10_000, maxBuffer: 4 << 20 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`in ${netns}: ip ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/** The gateway a route without `gw` goes through: the IPAM gateway of its family, if any. */
function gatewayFor(dst: string, p: PodSide): string | undefined {
  return p.ips.find((ip) => ip.gateway && family(ip.gateway) === family(dst))?.gateway;
}

/** The iproute2 batch that configures the pod side. */
export function podBatch(p: PodSide): string {
  const dev = p.ifname;
  const lines: string[] = [];
  if (p.mac) lines.push(`link set dev ${dev} address ${p.mac}`);
  lines.push(`link set dev ${dev} mtu ${p.mtu}`);
  // nodad: the address is ours by IPAM; waiting for DAD only delays the pod's start.
  // (A batch line takes no -4/-6: iproute2 infers the family from the address.)
  for (const ip of p.ips) lines.push(`addr add ${ip.address} dev ${dev}${family(ip.address) === 6 ? ' nodad' : ''}`);
  lines.push(`link set dev ${dev} up`);
  if (p.gatewayMac)
    for (const gw of new Set(p.ips.map((ip) => ip.gateway).filter((g): g is string => !!g)))
      lines.push(`neigh replace ${gw} lladdr ${p.gatewayMac} dev ${dev} nud permanent`);
  for (const r of p.routes) {
    const gw = r.gw ?? gatewayFor(r.dst, p);
    lines.push(`route add ${r.dst} ${gw ? `via ${gw} ` : ''}dev ${dev}${p.gatewayMac ? ' onlink' : ''}`);
  }
  return lines.join('\n') + '\n';
}

export async function configurePod(p: PodSide): Promise<void> {
  await inNetns(p.netns, ['-batch', '-'], podBatch(p));
}

interface IpAddrJson {
  ifname: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  flags?: string[];
  addr_info?: { local: string; prefixlen: number }[];
}
interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** What CHECK compares: the interface as it is now in the pod. */
export async function readPod(netns: string, ifname: string): Promise<{ mac: string; mtu: number; up: boolean; addresses: string[]; routes: { dst: string; gw?: string }[] } | undefined> {
  let addr: IpAddrJson[];
  try {
    addr = JSON.parse(await inNetns(netns, ['-j', 'addr', 'show', 'dev', ifname]));
  } catch (e) {
    if (/does not exist|Cannot find device/.test((e as Error).message)) return undefined;
    throw e;
  }
  const a = addr[0];
  if (!a) return undefined;
  const routes: { dst: string; gw?: string }[] = [];
  for (const fam of ['-4', '-6']) {
    const rs: IpRouteJson[] = JSON.parse(await inNetns(netns, ['-j', fam, 'route', 'show', 'dev', ifname]));
    for (const r of rs) routes.push({ dst: r.dst === 'default' ? (fam === '-4' ? '0.0.0.0/0' : '::/0') : r.dst, gw: r.gateway });
  }
  return {
    mac: a.address ?? '',
    mtu: a.mtu ?? 0,
    up: (a.flags ?? []).includes('UP'),
    addresses: (a.addr_info ?? []).map((x) => `${x.local}/${x.prefixlen}`),
    routes,
  };
}
