// Ping through Quiver: ns1 <-veth-> DPDK net_af_packet port <-l2-xconnect-> DPDK net_af_packet
// port <-veth-> ns2. The kernel's own stack on both ends (ARP, ICMP) is the peer.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';

const sfx = randomBytes(4).toString('hex');
const ns = [`qk-${sfx}-1`, `qk-${sfx}-2`];
const veth = [`qk-${sfx}a`, `qk-${sfx}b`];
const addr = ['198.18.50.1', '198.18.50.2'];
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();
const counters = (name: string) => engine.statsSegment().interfaceCounters(engine.findInterface(name).index);

beforeAll(() => {
  for (let i = 0; i < 2; i++) {
    sh('ip', 'netns', 'add', ns[i]!);
    sh('ip', 'link', 'add', veth[i]!, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[i]!);
    // No IPv6 anywhere: the only frames are the ping's ARP and ICMP, so counts can be exact.
    sh('sysctl', '-q', '-w', `net.ipv6.conf.${veth[i]}.disable_ipv6=1`);
    sh('ip', 'netns', 'exec', ns[i]!, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
    sh('ip', 'netns', 'exec', ns[i]!, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', 'link', 'set', veth[i]!, 'up');
    sh('ip', '-n', ns[i]!, 'addr', 'add', `${addr[i]}/24`, 'dev', 'eth0');
    sh('ip', '-n', ns[i]!, 'link', 'set', 'eth0', 'up');
  }
  dpdk.initDpdk({ logLevel: 'notice' });
  engine.start({ workers: 1, buffers: 16384 });
});

afterAll(() => {
  try {
    if (engine.running()) engine.stop();
  } finally {
    for (const n of ns) execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    for (const v of veth) {
      try {
        execFileSync('ip', ['link', 'del', v], { stdio: 'ignore' });
      } catch {
        // gone with its namespace peer
      }
    }
  }
});

describe('dpdk net_af_packet on veth', () => {
  it('carries a ping between two namespaces through an l2 cross-connect', async () => {
    dpdk.createDpdkInterface({ name: 'afp0', port: 'net_af_packet0', args: `iface=${veth[0]}`, rxMode: 'adaptive' });
    dpdk.createDpdkInterface({ name: 'afp1', port: 'net_af_packet1', args: `iface=${veth[1]}`, rxMode: 'adaptive' });
    xconnectPair('afp0', 'afp1');
    engine.setInterfaceState('afp0', { adminUp: true });
    engine.setInterfaceState('afp1', { adminUp: true });
    await waitFor(() => engine.findInterface('afp0').linkUp && engine.findInterface('afp1').linkUp, 5000, 'af_packet links up');
    const out = sh('ip', 'netns', 'exec', ns[0]!, 'ping', '-c', '3', '-i', '0.2', '-W', '2', addr[1]!);
    expect(out).toMatch(/3 packets transmitted, 3 received/);
    // A late frame (an ARP re-check) may still be between one port's rx and the other's tx.
    await waitFor(() => {
      const [x, y] = [counters('afp0'), counters('afp1')];
      return x.rxPackets === y.txPackets && y.rxPackets === x.txPackets;
    }, 3000, 'what each port received sent on by the other');
    const a = counters('afp0');
    const b = counters('afp1');
    // Each way: ARP (request or reply, perhaps a unicast re-check) plus 3 ICMP, and nothing
    // else; what one port receives the other transmits. (Frames the af_packet socket caught
    // before the ports came up are dropped at admin up: see rxDiscardedWhileDown.)
    expect(a.rxPackets).toBe(b.txPackets);
    expect(b.rxPackets).toBe(a.txPackets);
    expect(a.rxPackets).toBeGreaterThanOrEqual(4n);
    expect(a.rxPackets).toBeLessThanOrEqual(6n);
    expect(b.rxPackets).toBeGreaterThanOrEqual(4n);
    expect(b.rxPackets).toBeLessThanOrEqual(6n);
    expect(a.rxBytes).toBe(b.txBytes);
    expect(dpdk.dpdkInterfaceDetails('afp1').stats!.opackets).toBe(Number(b.txPackets));
    engine.setInterfaceState('afp0', { adminUp: false });
    engine.setInterfaceState('afp1', { adminUp: false });
    expectNoLeak();
  });
});
