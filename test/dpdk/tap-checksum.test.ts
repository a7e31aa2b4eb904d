// Receive checksum offload carried into Quiver's buffer flags: a DPDK net_tap port verifies
// IPv4 and L4 checksums (its "hardware" does it in software) and dpdk-input turns the mbuf's
// RX_*_CKSUM_GOOD flags into kBufIp4ChecksumOk / kBufL4ChecksumOk and counts the bad ones.
// Frames are built and sent by scapy on the TAP device (root namespace, no addresses).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';

const tap = `qk-${randomBytes(4).toString('hex')}t`;

beforeAll(() => {
  dpdk.initDpdk({ logLevel: 'notice' });
  engine.start({ workers: 1, buffers: 16384 });
});
afterAll(() => {
  if (engine.running()) engine.stop(); // removes the hot-plugged net_tap and its TAP device
  try {
    execFileSync('ip', ['link', 'del', tap], { stdio: 'ignore' });
  } catch {
    // already gone
  }
});

const errors = (name: string) => engine.statsSegment().errors(true).find((e) => e.node === 'dpdk-input' && e.name === name)!.count;

describe('dpdk rx checksum offload', () => {
  it('marks good checksums in buffer flags and counts bad ones, frames unchanged', async () => {
    dpdk.createDpdkInterface({ name: 'tap0', port: 'net_tap0', args: `iface=${tap}`, rxMode: 'adaptive' });
    expect(dpdk.dpdkInterfaceDetails('tap0').rxOffloads).toEqual(expect.arrayContaining(['IPV4_CKSUM', 'UDP_CKSUM', 'TCP_CKSUM']));
    pg.createPgInterface({ name: 'sink' });
    xconnect('tap0', 'sink');
    pg.capture('sink', 100);
    execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${tap}.disable_ipv6=1`]);
    engine.setInterfaceState('sink', { adminUp: true });
    engine.setInterfaceState('tap0', { adminUp: true });
    await waitFor(() => engine.findInterface('tap0').linkUp, 5000, 'tap link up');
    const before = { ip: errors('ip4-checksum-bad'), l4: errors('l4-checksum-bad') };
    engine.traceAdd('dpdk-input', 10);
    const py = `
from scapy.all import Ether, IP, UDP, TCP, Raw, sendp, raw
base = Ether(src='02:00:00:00:60:01', dst='02:00:00:00:60:02') / IP(src='198.18.60.1', dst='198.18.60.2')
frames = [
  base / UDP(sport=1000, dport=2000) / Raw(b'good udp payload'),
  base / TCP(sport=1000, dport=2000, flags='S', seq=7) / Raw(b'good tcp'),
  Ether(src='02:00:00:00:60:01', dst='02:00:00:00:60:02') / IP(src='198.18.60.1', dst='198.18.60.2', chksum=0x1234) / UDP(sport=1, dport=2) / Raw(b'bad ip'),
  base / UDP(sport=1001, dport=2001, chksum=0x1234) / Raw(b'bad udp'),
]
frames = [Ether(raw(f)) for f in frames]
sendp(frames, iface='${tap}', verbose=0)
print('\\n'.join(raw(f).hex() for f in frames))
`;
    const sent = execFileSync('/usr/bin/python3', ['-c', py]).toString().trim().split('\n').map((h) => Buffer.from(h, 'hex'));
    await waitFor(() => pg.captured('sink').length >= 4, 5000, 'four frames from the tap');
    const got = pg.captured('sink');
    expect(got).toHaveLength(4);
    got.forEach((f, i) => expect(f.equals(sent[i]!), `frame ${i}`).toBe(true));
    const text = engine.traceGet().map((r) => r.entries.find((e) => e.node === 'dpdk-input')!.text);
    expect(text).toHaveLength(4);
    expect(text[0]).toMatch(/ip4-checksum-ok, l4-checksum-ok$/);
    expect(text[1]).toMatch(/ip4-checksum-ok, l4-checksum-ok$/);
    expect(text[2]).not.toMatch(/ip4-checksum-ok/);
    expect(text[3]).toMatch(/ip4-checksum-ok$/);
    expect(errors('ip4-checksum-bad') - before.ip).toBe(1n);
    expect(errors('l4-checksum-bad') - before.l4).toBe(1n);
    engine.setInterfaceState('tap0', { adminUp: false });
    expectNoLeak();
  });
});
