#!/usr/bin/env node
// A packet generator in a process of its own, for benchmarks that need many stations behind a
// memif pair (testpmd's flowgen varies IP addresses, never MACs). One Quiver worker pinned to
// `core`: pg stream a on pg0 -> l2-xconnect -> memif gm0, stream b on pg1 -> gm1; what comes
// back on gm0/gm1 is cross-connected to pg0/pg1, whose tx counters say what returned.
// Stream a: 02:00:0a:00:<k> -> 02:00:0b:00:<k>, stream b the reverse, k = 0..perSide-1 stepping
// together, so a learning bridge between gm0 and gm1 ends up with 2 x perSide stations.
//
// argv[2]: JSON {socket, core, perSide, size}. Prints "ready" once both memifs are up; then
// answers each stdin line "stats" with a JSON line {returned, sent} and exits on "quit".
import { createInterface } from 'node:readline';
import { xconnectPair } from '../graph/l2/xconnect.js';
import * as pg from '../graph/pg/pg.js';
import * as memif from '../memif/memif.js';
import * as engine from '../src/engine.js';

export const station = (side: number) => side * 0x1000000;  // 02:00:<side>:00:00:00 + k at offsets 2 and 8

async function main(): Promise<void> {
  const { socket, core, perSide, size } = JSON.parse(process.argv[2]!) as { socket: string; core: number; perSide: number; size: number };
  engine.start({ workers: 1, cores: [core], buffers: 32768, rxMode: 'polling' });
  try {
    for (const [i, side] of [[0, 0x0a], [1, 0x0b]] as const) {
      pg.createPgInterface({ name: `pg${i}` });
      memif.createMemif({ name: `gm${i}`, role: 'client', socket, id: i });
      engine.setInterfaceState(`pg${i}`, { adminUp: true });
      engine.setInterfaceState(`gm${i}`, { adminUp: true });
      xconnectPair(`pg${i}`, `gm${i}`);
      const peer = side ^ 0x01;  // 0x0a <-> 0x0b
      pg.addStream(`pg${i}`, {
        name: `s${i}`,
        size,
        template: { srcMac: '02:00:00:00:00:00', dstMac: '02:00:00:00:00:00' },
        fields: [
          { field: 'offset', offset: 2, width: 4, start: station(peer), count: perSide },
          { field: 'offset', offset: 8, width: 4, start: station(side), count: perSide },
        ],
      });
    }
    await memif.waitMemifReady('gm0', 20000);
    await memif.waitMemifReady('gm1', 20000);
    pg.enableStream('s0');
    pg.enableStream('s1');
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
