// Traffic between lab hosts with the kernel's own tools: ping, iperf3, UDP flows, and the
// hosts' interface counters. Used by the interface tests, the demo and the benchmarks.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LabHost } from './lab.js';
import { linkCounters, nsRun, nsSpawn, stopProcess } from './netns.js';

const execFileP = promisify(execFile);

/** ping from one host to another (IPv4 or IPv6); throws with ping's output on loss. */
export async function ping(from: LabHost, to: LabHost, family: 4 | 6 = 4, count = 3): Promise<string> {
  const dst = family === 4 ? to.ip4 : to.ip6;
  try {
    const r = await execFileP('ip', ['netns', 'exec', from.netns, 'ping', `-${family}`, '-c', String(count), '-i', '0.1', '-W', '2', dst]);
    return r.stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`ping -${family} ${from.netns} -> ${dst} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** true if one ping gets through (for checks that traffic does NOT pass). */
export async function pingOnce(from: LabHost, to: LabHost, family: 4 | 6 = 4): Promise<boolean> {
  try {
    await execFileP('ip', ['netns', 'exec', from.netns, 'ping', `-${family}`, '-c', '1', '-W', '1', family === 4 ? to.ip4 : to.ip6]);
    return true;
  } catch {
    return false;
  }
}

export interface IperfResult {
  sentBytes: number;
  receivedBytes: number;
  bitsPerSecond: number;
  retransmits: number;
}

/** A TCP transfer from `from` to `to` with iperf3 (server started and stopped here). */
export async function iperf3(from: LabHost, to: LabHost, seconds = 1, streams = 1): Promise<IperfResult> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const server = nsSpawn(to.netns, 'iperf3', ['-s', '-1', '-B', to.ip4, '-p', port, '--forceflush']);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`iperf3 server did not start: ${out}`)), 5000);
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) {
          clearTimeout(t);
          resolve();
        }
      });
      server.once('exit', (code) => reject(new Error(`iperf3 server exited (${code}): ${out}`)));
    });
    const r = await execFileP(
      'ip',
      ['netns', 'exec', from.netns, 'iperf3', '-c', to.ip4, '-p', port, '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '3000'],
      { timeout: (seconds + 15) * 1000, maxBuffer: 16 << 20 },
    ).catch((e: { stdout?: string; message: string }) => {
      throw new Error(`iperf3 ${from.netns} -> ${to.ip4} failed: ${e.stdout?.slice(0, 2000) ?? e.message}`);
    });
    const j = JSON.parse(r.stdout);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    return {
      sentBytes: j.end.sum_sent.bytes,
      receivedBytes: j.end.sum_received.bytes,
      bitsPerSecond: j.end.sum_received.bits_per_second,
      retransmits: j.end.sum_sent.retransmits ?? 0,
    };
  } finally {
    await stopProcess(server);
  }
}

/** A TCP stream left running (until stop()): traffic that is still flowing when a test pulls
 *  the interface from under it. */
export async function iperf3Background(from: LabHost, to: LabHost, seconds = 10): Promise<{ stop(): Promise<void> }> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const server = nsSpawn(to.netns, 'iperf3', ['-s', '-1', '-B', to.ip4, '-p', port, '--forceflush']);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`iperf3 server did not start: ${out}`)), 5000);
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  const client = nsSpawn(from.netns, 'iperf3', ['-c', to.ip4, '-p', port, '-t', String(seconds)]);
  return {
    async stop() {
      await stopProcess(client);
      await stopProcess(server);
    },
  };
}

/** UDP datagrams from `flows` different source ports (spreads over queues by flow hash). */
export function udpFlows(from: LabHost, to: LabHost, flows: number, perFlow = 4): void {
  const py = `import socket
for i in range(${flows}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("${from.ip4}", 20000 + i))
    for k in range(${perFlow}):
        s.sendto(b"quiver-flow-%d-%d" % (i, k), ("${to.ip4}", 9))
    s.close()
`;
  nsRun(from.netns, '/usr/bin/python3', ['-c', py]);
}

/** The hosts' own view: what eth0 in the namespace sent and received. */
export function hostCounters(h: LabHost) {
  return linkCounters(h.ifname, h.netns);
}
