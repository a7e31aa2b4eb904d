// The pg demo: pg0 -> ethernet-input -> l2-xconnect -> pg1 for a few seconds, then
// show runtime, interface counters and the graph. Needs nothing but the addon; it goes
// through the same Dataplane and declarative config an operator uses.
import { Dataplane } from './dataplane.js';
import { formatGraphText, graphView } from './show/graph.js';
import { formatRuntimeView, runtimeView } from './show/runtime.js';
import { type InterfaceRow, formatInterfaceTable } from './show/tables.js';

export interface DemoOptions {
  seconds?: number;
  size?: number;
  out?: (line: string) => void;
}

export async function runPgDemo(opts: DemoOptions = {}): Promise<{ mpps: number; leaked: number }> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const seconds = opts.seconds ?? 3;
  const size = opts.size ?? 64;
  const dp = Dataplane.start({ workers: { count: 1 } });
  try {
    await dp.apply({
      interfaces: [
        {
          type: 'pg', name: 'pg0',
          streams: [{
            name: 'demo', size, enabled: false,
            template: { srcIp: '198.18.0.1', dstIp: '198.19.0.1' },
            fields: [{ field: 'src-port', start: 1024, count: 1000 }],
          }],
        },
        { type: 'pg', name: 'pg1' },
      ],
      xconnect: [{ rx: 'pg0', tx: 'pg1' }],
    });
    out(`quiver demo: pg0 -> ethernet-input -> l2-xconnect -> pg1, ${size}-byte UDP, ${seconds} s on one worker`);
    const t0 = process.hrtime.bigint();
    dp.pg.enableStream('demo');
    await dp.rates(); // start sampling: the graph below shows the last second's rates
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const graph = graphView(dp.stats, dp.interfaces.list(), await dp.rates(), false);
    dp.pg.enableStream('demo', false);
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, 50));
    const tx = dp.interfaces.counters('pg1').txPackets;
    const mpps = Number(tx) / elapsed / 1e6;
    out('');
    out('quiverctl show runtime');
    out(formatRuntimeView(runtimeView(dp.stats)));
    out('');
    out('quiverctl show interface');
    out(formatInterfaceTable((await dp.command('show interface')) as InterfaceRow[]));
    out('');
    out('quiverctl show graph');
    out(formatGraphText(graph));
    const b = dp.buffers(true);
    out('');
    out(`forwarded ${tx} packets in ${elapsed.toFixed(2)} s: ${mpps.toFixed(2)} Mpps; buffers in flight after stop: ${b.inFlight}`);
    return { mpps, leaked: b.inFlight };
  } finally {
    dp.stop();
  }
}
