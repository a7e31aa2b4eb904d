// Worker behaviour: an idle dataplane sleeps, configuration changes under traffic lose
// nothing, rx queues can be moved between workers, and the stats segment adds up.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnect, xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, sleep, useEngine } from '../helpers/dataplane.js';

useEngine({ workers: 2 });

/** CPU time (user + system) of one thread, in seconds. */
function threadCpuSeconds(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

describe('workers', () => {
  it('sleep when idle: under 5% of a core over 2 s', async () => {
    pg.createPgInterface({ name: 'idle0', worker: 0 });
    engine.setInterfaceState('idle0', { adminUp: true });
    await sleep(200);
    const before = engine.workers().map((w) => threadCpuSeconds(w.tid));
    await sleep(2000);
    const after = engine.workers().map((w) => threadCpuSeconds(w.tid));
    after.forEach((a, i) => expect(a - before[i]!, `worker ${i} CPU seconds`).toBeLessThan(0.1));
    const wc = engine.statsSegment().workerCounters();
    expect(wc[0]!.sleeps).toBeGreaterThan(0n);
  });

  it('lose no packet while configuration changes under traffic', async () => {
    for (const n of ['cfgIn', 'cfgOut1', 'cfgOut2']) {
      pg.createPgInterface({ name: n, worker: 0 });
      engine.setInterfaceState(n, { adminUp: true });
    }
    xconnect('cfgIn', 'cfgOut1');
    const total = 200_000;
    pg.addStream('cfgIn', { name: 'steady', size: 64, count: total, rate: 400_000, enabled: true });
    let flips = 0;
    while (pg.streamStatus('steady').enabled) {
      // Each change publishes a new interface table; workers switch at their next loop.
      xconnect('cfgIn', flips % 2 ? 'cfgOut1' : 'cfgOut2');
      engine.setInterfaceState('cfgOut1', { mtu: 1500 + (flips % 100) });
      const tmp = `tmp${flips}`;
      pg.createPgInterface({ name: tmp, worker: 1 });
      engine.deleteInterface(tmp);
      flips++;
      await sleep(2);
    }
    await sleep(50);
    const s = engine.statsSegment();
    const tx = (n: string) => s.interfaceCounters(engine.findInterface(n).index).txPackets;
    expect(flips).toBeGreaterThan(20);
    expect(tx('cfgOut1') + tx('cfgOut2')).toBe(BigInt(total));
    expect(s.errors().filter((e) => e.count > 0n && e.node !== 'ethernet-input')).toEqual([]);
    expectNoLeak();
  });

  it('place rx queues on workers and move them', async () => {
    pg.createPgInterface({ name: 'mv0', worker: 0 });
    pg.createPgInterface({ name: 'mv1', worker: 1 });
    for (const n of ['mv0', 'mv1']) engine.setInterfaceState(n, { adminUp: true });
    xconnectPair('mv0', 'mv1');
    expect(engine.findInterface('mv0').rxQueues[0]!.worker).toBe(0);
    expect(engine.findInterface('mv1').rxQueues[0]!.worker).toBe(1);
    engine.setRxPlacement('mv0', 0, 1);
    expect(engine.findInterface('mv0').rxQueues[0]!.worker).toBe(1);
    engine.clearRuntime();
    pg.addStream('mv0', { name: 'moved', size: 64, count: 5000, enabled: true });
    await pg.waitStream('moved');
    const rows = engine.statsSegment().nodes().filter((n) => n.name === 'pg-input');
    expect(rows.find((r) => r.worker === 1)!.vectors).toBe(5000n);
    expect(rows.find((r) => r.worker === 0)!.vectors).toBe(0n);
    expect(() => engine.setRxPlacement('mv0', 0, 7)).toThrow(/^worker: 7 does not exist/);
    expect(() => engine.setRxPlacement('mv0', 3, 0)).toThrow(/^queue: interface 'mv0' has no rx queue 3/);
    engine.setRxMode('mv0', 0, 'polling');
    expect(engine.findInterface('mv0').rxQueues[0]!.mode).toBe('polling');
    engine.setRxMode('mv0', 0, 'adaptive');
    expectNoLeak();
  });

  it('delete an interface while traffic flows without losing buffers', async () => {
    pg.createPgInterface({ name: 'del0', worker: 0 });
    pg.createPgInterface({ name: 'del1', worker: 1 });
    for (const n of ['del0', 'del1']) engine.setInterfaceState(n, { adminUp: true });
    xconnectPair('del0', 'del1');
    pg.addStream('del0', { name: 'flood', size: 64, enabled: true });
    await sleep(100);
    engine.deleteInterface('del1');
    await sleep(50);
    engine.deleteInterface('del0');
    await sleep(20);
    expect(engine.interfaces().some((i) => i.name.startsWith('del'))).toBe(false);
    expectNoLeak();
  });

  it('keep the stats segment consistent: node vectors equal arc packets', () => {
    const s = engine.statsSegment();
    const vec = (n: string) => s.nodes().filter((r) => r.name === n).reduce((a, r) => a + r.vectors, 0n);
    const into = (n: string) => s.arcs().filter((a) => a.to === n).reduce((a, r) => a + r.packets, 0n);
    engine.clearRuntime();
    return (async () => {
      pg.createPgInterface({ name: 'st0' });
      pg.createPgInterface({ name: 'st1' });
      for (const n of ['st0', 'st1']) engine.setInterfaceState(n, { adminUp: true });
      xconnectPair('st0', 'st1');
      pg.addStream('st0', { name: 'st', size: 64, count: 3000, enabled: true });
      await pg.waitStream('st');
      for (const n of ['ethernet-input', 'l2-xconnect', 'pg-output']) expect(vec(n), n).toBe(into(n));
      expect(vec('pg-input')).toBe(3000n);
    })();
  });
});
