// pg -> ethernet-input -> l2-xconnect -> pg output, 64-byte frames, one worker pinned to the
// last core (the main thread stays on the other): engine cost alone.
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';
import { cpus } from 'node:os';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runOnce(seconds: number, size = 64): Promise<{ mpps: number; clocks: Record<string, number> }> {
  const core = cpus().length - 1;
  engine.start({ workers: 1, cores: [core], buffers: 32768 });
  try {
    pg.createPgInterface({ name: 'pg0' });
    pg.createPgInterface({ name: 'pg1' });
    engine.setInterfaceState('pg0', { adminUp: true });
    engine.setInterfaceState('pg1', { adminUp: true });
    xconnectPair('pg0', 'pg1');
    pg.addStream('pg0', { name: 'bench', size, fields: [{ field: 'src-port', start: 1024, count: 1024 }] });
    pg.enableStream('bench');
    await sleep(200); // warm-up
    engine.clearRuntime();
    engine.clearInterfaces();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const tx = engine.statsSegment().interfaceCounters(engine.findInterface('pg1').index).txPackets;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    pg.enableStream('bench', false);
    const clocks = clocksPerNode(engine.statsSegment());
    return { mpps: Number(tx) / elapsed / 1e6, clocks };
  } finally {
    engine.stop();
  }
}

export const l2xc: Scenario = {
  name: 'l2xc',
  description: 'pg -> ethernet-input -> l2-xconnect -> pg-output, 64 B, one pinned worker',
  async run(o: BenchOptions) {
    const mpps: number[] = [];
    const clocks: Record<string, number>[] = [];
    for (let r = 0; r < o.runs; r++) {
      const x = await runOnce(o.seconds);
      mpps.push(x.mpps);
      clocks.push(x.clocks);
      o.log(`  run ${r + 1}: ${x.mpps.toFixed(2)} Mpps`);
    }
    const med = medianClocks(clocks);
    const chain = ['ethernet-input', 'l2-xconnect', 'interface-output'].reduce((a, n) => a + (med[n] ?? 0), 0);
    o.log(`l2xc median ${median(mpps).toFixed(2)} Mpps on one worker; chain excluding pg: ${chain.toFixed(2)} clocks/packet`);
    printClocks(o.log, med);
    return { mppsMedian: median(mpps), mppsRuns: mpps, clocksPerPacket: med, chainClocksExcludingPg: chain };
  },
};
