// ACLs with real hosts: two network namespaces routed through Quiver over af_packet (host 0 on
// 198.18.10.0/24, host 1 on 198.18.11.0/24). A stateless ACL lets host 0 reach TCP/80 on host 1
// and refuses TCP/81 (iperf3 through the one, a timed-out connection on the other, and the same
// connection succeeding once the ACL is gone); a reflexive ACL on host 1's side lets host 0's
// connections out and their replies in while host 1 cannot open anything towards host 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import * as ip from '../../graph/ip/ip.js';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import { nsRun, nsSpawn, stopProcess } from '../../src/lab/netns.js';
import { expectNoLeak, sleep, useEngine } from '../helpers/dataplane.js';
import { type LabHost, useLab } from '../helpers/netns.js';

useEngine();
const lab = useLab({ prefix: 'qa-', hosts: 2, offloads: 'csum' });

const NET = [
  { quiver: '198.18.10.1/24', host: '198.18.10.2', prefix: 24 },
  { quiver: '198.18.11.1/24', host: '198.18.11.2', prefix: 24 },
];
let h0: LabHost, h1: LabHost;
const servers: ReturnType<typeof nsSpawn>[] = [];

beforeAll(() => {
  [h0, h1] = lab().hosts as [LabHost, LabHost];
  [h0, h1].forEach((h, i) => {
    const name = `qa-r${i}`;
    createAfPacketInterface({ host: h.quiverSide, name });
    engine.setInterfaceState(name, { adminUp: true });
    ip.addAddress(name, NET[i]!.quiver, { announce: false });
    // Re-address the host into its own subnet, Quiver as its gateway.
    nsRun(h.netns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    nsRun(h.netns, 'ip', ['addr', 'add', `${NET[i]!.host}/${NET[i]!.prefix}`, 'dev', 'eth0']);
    nsRun(h.netns, 'ip', ['route', 'add', 'default', 'via', NET[i]!.quiver.split('/')[0]!]);
  });
});
afterAll(async () => {
  for (const s of servers) await stopProcess(s);
});

/** An iperf3 server on `port` in host h, left running until the file ends. */
async function iperfServer(h: LabHost, addr: string, port: number): Promise<void> {
  const s = nsSpawn(h.netns, 'iperf3', ['-s', '-B', addr, '-p', String(port), '--forceflush']);
  servers.push(s);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`iperf3 server on ${port} did not start: ${out}`)), 5000);
    s.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

/** An iperf3 TCP transfer; bytes received, or the error iperf3 reported. */
function iperfClient(h: LabHost, addr: string, port: number): { bytes: number } | { error: string } {
  try {
    const out = nsRun(h.netns, 'iperf3', ['-c', addr, '-p', String(port), '-t', '1', '-J', '--connect-timeout', '1500'], 20_000);
    const j = JSON.parse(out);
    return j.error ? { error: j.error } : { bytes: j.end.sum_received.bytes };
  } catch (e) {
    const text = (e as { stdout?: Buffer | string }).stdout?.toString() ?? (e as Error).message;
    try {
      return { error: JSON.parse(text).error ?? text };
    } catch {
      return { error: text };
    }
  }
}

/**
 * A plain TCP connection attempt (python): 'connected', 'timeout' or the error. Attempts that
 * must succeed get a long timeout (a shared, busy machine); refusals are judged after 1.5 s.
 */
function connect(h: LabHost, addr: string, port: number, timeoutS = 5): string {
  const py = `import socket
s = socket.socket()
s.settimeout(${timeoutS})
try:
    s.connect(("${addr}", ${port}))
    print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(type(e).__name__)
`;
  return nsRun(h.netns, '/usr/bin/python3', ['-c', py]).trim();
}

function pingOk(h: LabHost, addr: string): boolean {
  try {
    nsRun(h.netns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', addr]);
    return true;
  } catch {
    return false;
  }
}

describe('ACLs between namespaces (af_packet, routed)', () => {
  it('routes between the hosts before any ACL', async () => {
    expect(pingOk(h0, NET[1]!.host)).toBe(true);
    await iperfServer(h1, NET[1]!.host, 80);
    await iperfServer(h1, NET[1]!.host, 81);
    expect(connect(h0, NET[1]!.host, 81)).toBe('connected');
  });

  it('lets host 0 reach TCP/80 on host 1 and refuses TCP/81', async () => {
    acl.setAcl('web', [{ action: 'permit', protocol: 'tcp', dst: `${NET[1]!.host}/32`, dstPort: 80 }]);
    acl.applyAcls('qa-r0', { input: ['web'] });
    const web = iperfClient(h0, NET[1]!.host, 80);
    expect(web, JSON.stringify(web)).toHaveProperty('bytes');
    expect((web as { bytes: number }).bytes).toBeGreaterThan(100_000);
    const refused = iperfClient(h0, NET[1]!.host, 81);
    expect(refused).toHaveProperty('error');
    expect(connect(h0, NET[1]!.host, 81, 1.5)).toBe('timeout');
    expect(pingOk(h0, NET[1]!.host)).toBe(false); // ICMP is not permitted either
    const [a] = acl.showAcl('web');
    expect(a!.entries[0]!.packets).toBeGreaterThan(50n);
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'qa-r0')!;
    expect(ifc.inputCounters.denyDefault).toBeGreaterThanOrEqual(2n); // SYNs to 81, the pings
    // The same connection succeeds once the ACL is gone: it was the ACL that refused it.
    acl.applyAcls('qa-r0', {});
    expect(connect(h0, NET[1]!.host, 81)).toBe('connected');
  });

  it('reflexive: host 0 connects out and gets its replies; host 1 cannot open anything inward', async () => {
    await iperfServer(h0, NET[0]!.host, 5201);
    acl.setAcl('outbound', [{ action: 'permit+reflect', src: '198.18.10.0/24' }]);
    acl.setAcl('inbound', []); // nothing unsolicited
    acl.applyAcls('qa-r1', { output: ['outbound'], input: ['inbound'] });
    const out = iperfClient(h0, NET[1]!.host, 80);
    expect(out, JSON.stringify(out)).toHaveProperty('bytes');
    expect(pingOk(h0, NET[1]!.host)).toBe(true); // echo replies by their session
    const sessions = acl.aclSessions().sessions;
    expect(sessions.some((s) => s.protocol === 6 && s.src === NET[0]!.host && s.dstPort === 80)).toBe(true);
    expect(sessions.some((s) => s.protocol === 1 && s.src === NET[0]!.host)).toBe(true);
    // Unsolicited inbound: a connection and a ping from host 1 to host 0.
    expect(connect(h1, NET[0]!.host, 5201, 1.5)).toBe('timeout');
    expect(pingOk(h1, NET[0]!.host)).toBe(false);
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'qa-r1')!;
    expect(ifc.inputCounters.sessionHit).toBeGreaterThan(50n);
    expect(ifc.inputCounters.denyDefault).toBeGreaterThanOrEqual(2n);
    acl.applyAcls('qa-r1', {});
    expect(connect(h1, NET[0]!.host, 5201)).toBe('connected');
    await sleep(100);
    expectNoLeak();
  });
});
