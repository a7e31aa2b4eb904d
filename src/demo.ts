// The pg demo: pg0 -> ethernet-input -> l2-xconnect -> pg1 for a few seconds, then
// show runtime and interface counters. Needs nothing but the addon.
import * as engine from './engine.js';
import { xconnectPair } from '../graph/l2/xconnect.js';
import * as pg from '../graph/pg/pg.js';
import { formatInterfaces, formatRuntime } from './show/runtime.js';

export interface DemoOptions {
  seconds?: number;
  size?: number;
  out?: (line: string) => void;
}

export async function runPgDemo(opts: DemoOptions = {}): Promise<{ mpps: number; leaked: number }> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 3;
  engine.start({ workers: 1 });
  try {
    pg.createPgInterface({ name: 'pg0' });
    pg.createPgInterface({ name: 'pg1' });
    engine.setInterfaceState('pg0', { adminUp: true });
    engine.setInterfaceState('pg1', { adminUp: true });
    xconnectPair('pg0', 'pg1');
    pg.addStream('pg0', {
      name: 'demo', size: opts.size ?? 64,
      template: { srcIp: '198.18.0.1', dstIp: '198.19.0.1' },
      fields: [{ field: 'src-port', start: 1024, count: 1000 }],
    });
    out(`quiver demo: pg0 -> ethernet-input -> l2-xconnect -> pg1, ${opts.size ?? 64}-byte UDP, ${seconds} s on one worker`);
    const t0 = process.hrtime.bigint();
    pg.enableStream('demo');
    await new Promise((r) => setTimeout(r, seconds * 1000));
    pg.enableStream('demo', false);
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, 50));
    const stats = engine.statsSegment();
    const tx = stats.interfaceCounters(engine.findInterface('pg1').index).txPackets;
    const mpps = Number(tx) / elapsed / 1e6;
    out('');
    out('quiverctl show runtime');
    out(formatRuntime(stats));
    out('');
    out('quiverctl show interface');
    out(formatInterfaces(engine.interfaces(), (i) => stats.interfaceCounters(i)));
    const b = engine.buffers(true);
    out('');
    out(`forwarded ${tx} packets in ${elapsed.toFixed(2)} s: ${mpps.toFixed(2)} Mpps; buffers in flight after stop: ${b.inFlight}`);
    return { mpps, leaked: b.inFlight };
  } finally {
    engine.stop();
  }
}
