#!/usr/bin/env node
// A packet generator in a process of its own, for the benchmarks that drive Quiver over a memif
// pair with traffic testpmd's flowgen cannot make (it varies IP addresses, never MACs, and
// sends to one fixed peer MAC). One Quiver worker pinned to `core`: pg stream on pg<i> ->
// l2-xconnect -> memif gm<i> (client, id i), for each side that has a stream; what comes back
// on gm<i> is cross-connected to pg<i>, whose tx counters say what returned.
//
// argv[2]: JSON GeneratorSpec. Prints "ready" once both memifs are up and the streams run;
// answers each stdin line "stats" with a JSON line {returned, sent} and exits on "quit".
// The parent side of this protocol is perf/generator.ts.
import { createInterface } from 'node:readline';
import { xconnectPair } from '../graph/l2/xconnect.js';
import * as pg from '../graph/pg/pg.js';
import * as memif from '../memif/memif.js';
import * as engine from '../src/engine.js';
import type { GeneratorSpec } from './generator.js';

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]!) as GeneratorSpec;
  engine.start({ workers: 1, cores: [spec.core], buffers: 32768, rxMode: 'polling' });
  try {
    for (const i of [0, 1]) {
      pg.createPgInterface({ name: `pg${i}` });
      memif.createMemif({ name: `gm${i}`, role: 'client', socket: spec.socket, id: i });
      engine.setInterfaceState(`pg${i}`, { adminUp: true });
      engine.setInterfaceState(`gm${i}`, { adminUp: true });
      xconnectPair(`pg${i}`, `gm${i}`);
      const s = spec.streams[i];
      if (s) pg.addStream(`pg${i}`, { ...s, name: `s${i}`, enabled: false });
    }
    await memif.waitMemifReady('gm0', 20000);
    await memif.waitMemifReady('gm1', 20000);
    for (const i of [0, 1]) if (spec.streams[i]) pg.enableStream(`s${i}`);
    console.log('ready');
    const counters = (name: string) => engine.statsSegment().interfaceCounters(engine.findInterface(name).index);
    for await (const line of createInterface({ input: process.stdin })) {
      if (line === 'stats') {
        const returned = counters('pg0').txPackets + counters('pg1').txPackets;
        const sent = counters('gm0').txPackets + counters('gm1').txPackets;
        console.log(JSON.stringify({ returned: Number(returned), sent: Number(sent) }));
      } else if (line === 'quit') break;
    }
  } finally {
    engine.stop();
  }
}
await main();
process.exit(0);  // stdin, still open under readline, would keep the process alive
