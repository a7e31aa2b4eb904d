// The real-traffic demo: two namespaces joined through Quiver over AF_XDP (AF_PACKET when AF_XDP
// cannot attach, saying why), ping and a short iperf3 through it, then `show runtime`,
// `show interface` and the rx placement. Everything it creates is removed on return, on
// error and on Ctrl-C (the lab's signal handlers; the kernel drops the XDP link with the
// process).
import * as engine from '../engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import { createAfPacketInterface } from '../interfaces/af_packet.js';
import { createAfXdpInterface } from '../interfaces/af_xdp.js';
import { formatRxPlacement } from '../interfaces/index.js';
import { formatInterfaces, formatRuntime } from '../show/runtime.js';
import { createLab, describeLab, destroyLab, type Lab } from './lab.js';
import { iperf3, ping } from './traffic.js';

export interface NetnsDemoOptions {
  /** iperf3 duration in seconds. */
  seconds?: number;
  /** Force a driver instead of AF_XDP-then-AF_PACKET. */
  driver?: 'af_xdp' | 'af_packet';
  out?: (line: string) => void;
}

export interface NetnsDemoResult {
  driver: 'af_xdp' | 'af_packet';
  fallbackReason?: string;
  pingOk: boolean;
  iperfBitsPerSecond: number;
  leaked: number;
}

export async function runNetnsDemo(opts: NetnsDemoOptions = {}): Promise<NetnsDemoResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 2;
  let lab: Lab | undefined;
  engine.start({ workers: 1 });
  try {
    // AF_XDP cannot tell a checksum left to "hardware" from a wrong one: the hosts compute theirs.
    lab = createLab({ prefix: 'qdemo-', hosts: 2, offloads: 'off' });
    out(describeLab(lab));
    const [a, b] = [lab.hosts[0]!, lab.hosts[1]!];
    let driver: NetnsDemoResult['driver'] = opts.driver ?? 'af_xdp';
    let fallbackReason: string | undefined;
    if (driver === 'af_xdp') {
      try {
        createAfXdpInterface({ host: a.quiverSide, name: 'host-a' });
        createAfXdpInterface({ host: b.quiverSide, name: 'host-b' });
      } catch (e) {
        fallbackReason = (e as Error).message;
        out(`AF_XDP is not available here (${fallbackReason}); falling back to AF_PACKET`);
        for (const i of engine.interfaces()) engine.deleteInterface(i.index);
        driver = 'af_packet';
      }
    }
    if (driver === 'af_packet') {
      createAfPacketInterface({ host: a.quiverSide, name: 'host-a' });
      createAfPacketInterface({ host: b.quiverSide, name: 'host-b' });
    }
    engine.setInterfaceState('host-a', { adminUp: true });
    engine.setInterfaceState('host-b', { adminUp: true });
    xconnectPair('host-a', 'host-b');
    const xdp = engine.findInterface('host-a').details;
    out(`quiver: ${a.netns} <-> host-a [${driver}${driver === 'af_xdp' ? `, ${xdp.xdpMode} XDP` : ''}] ` +
      `-- l2-xconnect -- host-b [${driver}] <-> ${b.netns}`);
    out('');
    let pingOk = true;
    for (const family of [4, 6] as const) {
      try {
        const r = await ping(a, b, family, 3);
        out(`ping -${family} ${family === 4 ? b.ip4 : b.ip6}: ${r.split('\n').find((l) => l.includes('packets transmitted'))}`);
      } catch (e) {
        pingOk = false;
        out((e as Error).message);
      }
    }
    const perf = await iperf3(a, b, seconds);
    out(`iperf3 TCP ${a.ip4} -> ${b.ip4}, ${seconds} s: ${(perf.bitsPerSecond / 1e9).toFixed(2)} Gbit/s, ` +
      `${(perf.receivedBytes / 1e6).toFixed(1)} MB received, ${perf.retransmits} retransmits`);
    const stats = engine.statsSegment();
    out('');
    out('quiverctl show runtime');
    out(formatRuntime(stats));
    out('');
    out('quiverctl show interface');
    out(formatInterfaces(engine.interfaces(), (i) => stats.interfaceCounters(i)));
    out('');
    out('quiverctl show interface rx-placement');
    out(formatRxPlacement());
    const leaked = engine.buffers(true).inFlight;
    out('');
    out(`buffers in flight after the traffic: ${leaked}`);
    return { driver, fallbackReason, pingOk, iperfBitsPerSecond: perf.bitsPerSecond, leaked };
  } finally {
    engine.stop();
    if (lab) destroyLab(lab);
  }
}
