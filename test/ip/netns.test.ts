// Routing real hosts: network namespaces (a lab, prefix ql3-) attached to Quiver with
// af_packet, each host in its own subnet with Quiver as its default router.
// * two hosts in different subnets: ping, traceroute showing Quiver's hop, iperf3 TCP, over
//   IPv4 and IPv6 (the hosts' kernels resolve Quiver with ARP/ND and Quiver resolves them);
// * two more hosts with the very same addresses in another table (VRF): each pair reaches
//   only its own peer.
// Uses the af_packet driver (src/interfaces/af_packet.ts) and the netns lab (src/lab/*).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { type LabHost, hostCounters, iperf3, nsRun, ping, useLab } from '../helpers/netns.js';

const execFileP = promisify(execFile);

/** The hosts' stacks keep talking for a moment after a transfer (FINs, ACKs, ND): let the
 *  last frames through before the exact buffer count. */
async function quietThenNoLeak(): Promise<void> {
  await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'the last frames to drain').catch(() => undefined);
  expectNoLeak();
}

useEngine();
const lab = useLab({ prefix: 'ql3-', hosts: 4 });

/** Moves a lab host into its own subnet behind Quiver (which owns .1 / ::1 there). */
function route(h: LabHost, subnet: number, table: number): { v4: string; v6: string } {
  const v4 = `198.18.${subnet}.2`, v6 = `2001:db8:${subnet}::2`;
  nsRun(h.netns, 'ip', ['-4', 'addr', 'flush', 'dev', 'eth0']);
  nsRun(h.netns, 'ip', ['-6', 'addr', 'flush', 'dev', 'eth0', 'scope', 'global']);
  nsRun(h.netns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', 'eth0']);
  nsRun(h.netns, 'ip', ['addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
  nsRun(h.netns, 'ip', ['route', 'add', 'default', 'via', `198.18.${subnet}.1`]);
  nsRun(h.netns, 'ip', ['-6', 'route', 'add', 'default', 'via', `2001:db8:${subnet}::1`]);
  h.ip4 = v4;
  h.ip6 = v6;
  const name = `ql3-${h.index}`;
  createAfPacketInterface({ host: h.quiverSide, name });
  engine.setInterfaceState(name, { adminUp: true });
  if (table) ip.setInterfaceTable(name, table);
  ip.addAddress(name, `198.18.${subnet}.1/24`);
  ip.addAddress(name, `2001:db8:${subnet}::1/64`);
  return { v4, v6 };
}

async function traceroute(from: LabHost, to: string, family: 4 | 6): Promise<string[]> {
  const r = await execFileP('ip', ['netns', 'exec', from.netns, 'traceroute', `-${family}`, '-n', '-q', '1', '-w', '2', '-m', '5', to], { timeout: 30_000 });
  // " 1  198.18.1.1  0.123 ms" -> the hop addresses
  return r.stdout.split('\n').slice(1).filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[1]!);
}

async function iperf3v6(from: LabHost, to: LabHost): Promise<number> {
  const port = String(6201 + Math.floor(Math.random() * 1000));
  const server = execFileP('ip', ['netns', 'exec', to.netns, 'iperf3', '-s', '-1', '-p', port, '-B', to.ip6], { timeout: 20_000 });
  await new Promise((r) => setTimeout(r, 300));
  const r = await execFileP('ip', ['netns', 'exec', from.netns, 'iperf3', '-6', '-c', to.ip6, '-p', port, '-t', '1', '-J', '--connect-timeout', '3000'], { timeout: 20_000 });
  await server;
  const j = JSON.parse(r.stdout);
  if (j.error) throw new Error(`iperf3 -6: ${j.error}`);
  return j.end.sum_received.bits_per_second as number;
}

describe('routing between namespaces (af_packet)', () => {
  it('routes ping, traceroute and iperf3 TCP between two subnets over IPv4 and IPv6', async () => {
    const [a, b] = lab().hosts as [LabHost, LabHost];
    route(a, 1, 0);
    route(b, 2, 0);
    await ping(a, b, 4, 3);
    await ping(b, a, 6, 3);
    expect(await traceroute(a, b.ip4, 4)).toEqual(['198.18.1.1', b.ip4]);
    expect(await traceroute(b, a.ip6, 6)).toEqual(['2001:db8:2::1', a.ip6]);
    const t4 = await iperf3(a, b, 1);
    expect(t4.receivedBytes).toBeGreaterThan(1_000_000);
    expect(await iperf3v6(b, a)).toBeGreaterThan(8_000_000);
    // Quiver learned both hosts with ARP and ND, and answered as their router.
    expect(ip.neighbors('ip4').filter((n) => n.state === 'reachable').map((n) => n.address)).toEqual(expect.arrayContaining([a.ip4, b.ip4]));
    expect(ip.neighbors('ip6').filter((n) => n.state === 'reachable').map((n) => n.address)).toEqual(expect.arrayContaining([a.ip6, b.ip6]));
    await quietThenNoLeak();
  });

  it('keeps two tables with the same subnets apart', async () => {
    const [a, b, c, d] = lab().hosts as [LabHost, LabHost, LabHost, LabHost];
    ip.addTable({ id: 7, name: 'other' });
    route(c, 1, 7); // the same addresses as a and b, in table 7
    route(d, 2, 7);
    const rx = (h: LabHost) => hostCounters(h).rxPackets;
    const before = { b: rx(b), d: rx(d) };
    await ping(c, d, 4, 5);
    await ping(c, d, 6, 5);
    expect(rx(d) - before.d).toBeGreaterThanOrEqual(10);
    expect(rx(b) - before.b).toBeLessThan(3); // table 0's host saw none of it (at most an ND/ARP probe of its own)
    const before2 = { b: rx(b), d: rx(d) };
    await ping(a, b, 4, 5);
    expect(rx(b) - before2.b).toBeGreaterThanOrEqual(5);
    expect(rx(d) - before2.d).toBeLessThan(3);
    expect(await traceroute(c, d.ip4, 4)).toEqual(['198.18.1.1', d.ip4]);
    await quietThenNoLeak();
  });
});
