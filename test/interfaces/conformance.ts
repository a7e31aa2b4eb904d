// What every Linux-facing driver must do, as tests: two namespaces joined through Quiver by
// l2-xconnect in both directions, real traffic (ping, iperf3), counters checked against the
// kernel's own counters on the hosts' side, exact buffer accounting, interface operations,
// deletion under traffic, and a namespace vanishing under Quiver.
import { expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as ifs from '../../src/interfaces/index.js';
import { ip } from '../../src/lab/netns.js';
import { expectNoLeak, sleep, waitFor } from '../helpers/dataplane.js';
import { type Lab, type LabHost, hostCounters, iperf3, iperf3Background, linkInfo, ping, pingOnce, settle, udpFlows } from '../helpers/netns.js';

export interface DriverUnderTest {
  driver: 'af_xdp' | 'af_packet' | 'tap';
  /** Creates Quiver's interface `name` for host h of the lab; returns its index. */
  create(lab: Lab, h: LabHost, name: string): number;
  /** The Linux interface Quiver's admin/MTU/MAC changes show on. */
  linuxSide(h: LabHost): { name: string; netns?: string };
  /** Queues per interface (more than one: flows must spread over them). */
  queues: number;
  /** The driver's input node (per-worker counters tell which queue worked). */
  inputNode: string;
  /** Bytes per frame the kernel leaves out of the host's tx count. A veth whose peer runs
   *  native XDP counts what XDP received after eth_type_trans(): 14 bytes short per frame. */
  hostTxBytesShortPerFrame?: number;
}

export const names = ['qa', 'qb'] as const;

export function joinHosts(d: DriverUnderTest, lab: Lab): void {
  d.create(lab, lab.hosts[0]!, names[0]);
  d.create(lab, lab.hosts[1]!, names[1]);
  ifs.setAdminState(names[0], true);
  ifs.setAdminState(names[1], true);
  xconnectPair(names[0], names[1]);
}

/** Quiver's counters against the kernel's: A sent = qa received (+ counted drops), and what
 *  qb transmitted = what B received; both directions. */
export function countersMismatch(lab: Lab, short = 0): string | null {
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const ha = hostCounters(a), hb = hostCounters(b);
  const qa = ifs.interfaceCounters(names[0]), qb = ifs.interfaceCounters(names[1]);
  const checks: [string, number, bigint][] = [
    ['A tx packets = qa rx packets + rx-no-buffer', ha.txPackets, qa.rxPackets + qa.rxNoBuffer],
    ['B tx packets = qb rx packets + rx-no-buffer', hb.txPackets, qb.rxPackets + qb.rxNoBuffer],
    ['qb tx packets = B rx packets', hb.rxPackets, qb.txPackets],
    ['qa tx packets = A rx packets', ha.rxPackets, qa.txPackets],
    ['qb tx bytes = B rx bytes', hb.rxBytes, qb.txBytes],
    ['qa tx bytes = A rx bytes', ha.rxBytes, qa.txBytes],
  ];
  const s = BigInt(short);
  if (qa.rxNoBuffer === 0n) checks.push(['A tx bytes = qa rx bytes', ha.txBytes, qa.rxBytes - s * qa.rxPackets]);
  if (qb.rxNoBuffer === 0n) checks.push(['B tx bytes = qb rx bytes', hb.txBytes, qb.rxBytes - s * qb.rxPackets]);
  const bad = checks.filter(([, k, q]) => BigInt(k) !== q);
  return bad.length ? bad.map(([what, k, q]) => `${what}: kernel ${k}, quiver ${q}`).join('; ') : null;
}

export function conformanceTests(d: DriverUnderTest, getLab: () => Lab): void {
  const A = () => getLab().hosts[0]!;
  const B = () => getLab().hosts[1]!;

  it('joins two namespaces: ping over IPv4 and IPv6 both ways', async () => {
    joinHosts(d, getLab());
    await waitFor(() => ifs.linkState(names[0]).linkUp && ifs.linkState(names[1]).linkUp, 3000, 'link up');
    await ping(A(), B(), 4);
    await ping(A(), B(), 6);
    await ping(B(), A(), 4);
    await ping(B(), A(), 6);
    const c = ifs.interfaceCounters(names[0]);
    expect(c.rxPackets).toBeGreaterThanOrEqual(6n);
    expect(c.txPackets).toBeGreaterThanOrEqual(6n);
    expectNoLeak();
  });

  it('carries an iperf3 TCP transfer; every byte is counted as the hosts counted it', async () => {
    const r = await iperf3(A(), B(), 1);
    expect(r.receivedBytes).toBeGreaterThan(1_000_000);
    await settle(() => countersMismatch(getLab(), d.hostTxBytesShortPerFrame ?? 0));
    const qa = ifs.interfaceCounters(names[0]);
    expect(qa.rxBytes).toBeGreaterThan(BigInt(r.receivedBytes));  // payload plus TCP/IP/Ethernet headers
    expect(qa.rxErrors + qa.txErrors).toBe(0n);
    expectNoLeak();
  });

  if (d.queues > 1)
    it('spreads flows over its queues, each polled by its own worker', async () => {
      const rx = () => engine.statsSegment().nodes().filter((n) => n.name === d.inputNode).map((n) => n.vectors);
      const queues = engine.findInterface(names[0]).rxQueues;
      expect(new Set(queues.map((q) => q.worker)).size).toBe(queues.length);  // default placement spreads
      const before = rx();
      const sent = ifs.interfaceCounters(names[0]).rxPackets;
      udpFlows(A(), B(), 64, 4);
      await waitFor(() => ifs.interfaceCounters(names[0]).rxPackets - sent >= 256n, 3000, 'all 256 datagrams counted');
      const grew = rx().map((v, w) => v - before[w]!);
      expect(grew.every((g) => g > 0n), `${d.inputNode} vectors per worker grew by ${grew.join(', ')}`).toBe(true);
      expectNoLeak();
    });

  it('admin down stops forwarding and drops the link; admin up restores both', async () => {
    const side = d.linuxSide(A());
    ifs.setAdminState(names[0], false);
    await waitFor(() => !ifs.linkState(names[0]).linkUp || d.driver === 'tap', 2000, 'link down');
    expect(ifs.linkState(names[0]).adminUp).toBe(false);
    if (d.driver === 'tap') expect(linkInfo(side.name, side.netns).flags).toContain('NO-CARRIER');
    else expect(linkInfo(side.name, side.netns).flags).not.toContain('UP');
    expect(await pingOnce(A(), B())).toBe(false);
    ifs.setAdminState(names[0], true);
    await waitFor(() => ifs.linkState(names[0]).linkUp, 3000, 'link up again');
    await ping(A(), B(), 4);
    expectNoLeak();
  });

  it('MTU and MAC changes reach the Linux side; bad values are refused naming the field', async () => {
    ifs.setMtu(names[0], 1400);
    expect(engine.findInterface(names[0]).mtu).toBe(1400);
    if (d.driver !== 'tap') expect(linkInfo(d.linuxSide(A()).name).mtu).toBe(1400);
    else expect(linkInfo('eth0', A().netns).mtu).toBe(1400);
    ifs.setMtu(names[0], 1500);
    const before = engine.findInterface(names[0]).mac;
    ifs.setMac(names[0], '02:00:5e:10:00:01');
    expect(engine.findInterface(names[0]).mac).toBe('02:00:5e:10:00:01');
    if (d.driver !== 'tap') expect(linkInfo(d.linuxSide(A()).name).address).toBe('02:00:5e:10:00:01');
    ifs.setMac(names[0], before);
    expect(() => ifs.setMtu(names[0], 20)).toThrow(/^mtu: /);
    expect(() => ifs.setMac(names[0], '01:00:5e:00:00:01')).toThrow(/^mac: .*multicast/);
    expect(() => ifs.setRxMode(names[0], 0, 'turbo' as never)).toThrow(/^mode: /);
    expect(() => ifs.setRxPlacement(names[0], 0, 99)).toThrow(/^worker: /);
    expect(() => ifs.setRxPlacement(names[0], 7, 0)).toThrow(/^queue: /);
    await ping(A(), B(), 4);
  });

  it('rx mode and rx placement per queue; traffic flows in every mode', async () => {
    for (const mode of ['polling', 'interrupt', 'adaptive'] as const) {
      ifs.setRxMode(names[0], 'all', mode);
      expect(engine.findInterface(names[0]).rxQueues.every((q) => q.mode === mode && q.interruptFd)).toBe(true);
      const out = await ping(A(), B(), 4, 3);
      if (mode !== 'polling') {
        // A sleeping worker must be woken by the queue's fd, not by its 100 ms sleep timeout
        // (which would put each direction of each ping 0-100 ms late: an average near 100 ms).
        const avgRtt = Number(/rtt [^=]*= [\d.]+\/([\d.]+)\//.exec(out)?.[1]);
        expect(avgRtt, out).toBeLessThan(30);
      }
    }
    const workers = engine.workers().length;
    const target = (engine.findInterface(names[0]).rxQueues[0]!.worker + 1) % workers;
    ifs.setRxPlacement(names[0], 0, target);
    expect(ifs.rxPlacement().find((r) => r.interface === names[0] && r.queue === 0)!.worker).toBe(target);
    expect(ifs.formatRxPlacement()).toContain(`Thread ${target} (quiver-wk${target}):`);
    await ping(A(), B(), 4, 2);
    await ping(A(), B(), 6, 2);
    expectNoLeak();
  });

  it('deleting an interface while traffic flows loses no buffer', async () => {
    const transfer = await iperf3Background(A(), B());
    await sleep(700);
    const moving = ifs.interfaceCounters(names[0]).rxPackets;
    expect(moving).toBeGreaterThan(100n);
    ifs.deleteInterface(names[0]);
    expect(engine.interfaces().some((i) => i.name === names[0])).toBe(false);
    await transfer.stop();
    // The other side's kernel may still send (TCP's last segments) into the remaining interface,
    // whose frames are received and dropped: buffers are in flight for a moment. A lost buffer
    // never comes back, so waiting for zero still catches a leak.
    await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'every buffer back in the pool after the delete');
    expectNoLeak();
    // And it comes back: same host, new interface.
    d.create(getLab(), A(), names[0]);
    ifs.setAdminState(names[0], true);
    xconnectPair(names[0], names[1]);
    await waitFor(() => ifs.linkState(names[0]).linkUp, 3000, 'recreated link up');
    await ping(A(), B(), 4);
    expectNoLeak();
  });

  it('a namespace vanishing under Quiver takes its interface down, counted, nothing crashes', async () => {
    const before = ifs.linkState(names[1]);
    const rxErrors = ifs.interfaceCounters(names[1]).rxErrors;
    ip(['netns', 'del', B().netns]);
    await waitFor(() => !ifs.linkState(names[1]).linkUp, 3000, 'link down after the namespace went away');
    await waitFor(() => ifs.interfaceCounters(names[1]).rxErrors > rxErrors, 2000, 'rx error counted');
    const gone = engine.findInterface(names[1]);
    expect(gone.details.gone).toBe(true);
    expect(ifs.linkState(names[1]).linkChanges).toBeGreaterThan(before.linkChanges);
    // A keeps sending towards B: Quiver counts each frame as a tx error on qb.
    const txErrors = ifs.interfaceCounters(names[1]).txErrors;
    expect(await pingOnce(A(), B())).toBe(false);
    await waitFor(() => ifs.interfaceCounters(names[1]).txErrors > txErrors, 2000, 'tx errors on the vanished interface');
    const err = engine.statsSegment().errors().find((e) => e.name === 'interface-gone');
    expect(err?.count ?? 0n).toBeGreaterThan(0n);
    // The dead socket (EPOLLERR for good) must not keep its worker spinning: in interrupt mode
    // an idle worker sleeps up to 100 ms at a time, so half a second holds a few dozen sleeps;
    // a worker woken at once by every wait would make hundreds of thousands.
    ifs.setRxMode(names[0], 'all', 'interrupt');
    ifs.setRxMode(names[1], 'all', 'interrupt');
    const sleeps = () => engine.statsSegment().workerCounters().reduce((a, w) => a + w.sleeps, 0n);
    const s0 = sleeps();
    await sleep(500);
    expect(sleeps() - s0).toBeLessThan(2000n);
    // The rest still works: admin changes on the dead one are harmless, A's side is intact.
    ifs.setAdminState(names[1], false);
    expect(ifs.linkState(names[0]).linkUp).toBe(true);
    ifs.deleteInterface(names[1]);
    expectNoLeak();
  });
}
