// Worker::enqueue_to_nexts splits a node's vector into runs of equal next (16 nexts compared per
// step). Runs of every length around the step, at every alignment, must each reach their own
// next: one vector of 256 frames through ethernet-input on an L3 interface, whose next is
// the frame's ethertype, and the arc counters must add up per ethertype exactly.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { arcPackets, send } from '../l2/helpers.js';

useEngine();

const MAC = '02:00:00:00:0e:01';
const KINDS = [
  { next: 'ip4-input', frame: ethernet({ dst: MAC, type: 0x0800 }, ipv4Udp({ src: '198.18.0.1', dst: '198.18.9.9', sport: 1, dport: 2 })) },
  { next: 'ip6-input', frame: ethernet({ dst: MAC, type: 0x86dd }, Buffer.alloc(60, 0x60)) },
  { next: 'error-drop', frame: ethernet({ dst: MAC, type: 0x88b5 }, Buffer.alloc(46, 1)) },
] as const;

describe('enqueue to nexts', () => {
  it('sends every run of equal next, of any length and alignment, to its next', async () => {
    pg.createPgInterface({ name: 'er0', mac: MAC });
    engine.setInterfaceState('er0', { adminUp: true });
    // Run lengths around 16 and 32 (one and two compare steps), and short ones in between.
    const runs = [1, 15, 16, 17, 1, 1, 2, 31, 32, 33, 3, 14, 18, 47, 1, 24];
    expect(runs.reduce((a, b) => a + b)).toBe(256);
    const frames: Buffer[] = [];
    const expected = new Map<string, number>();
    runs.forEach((len, k) => {
      const kind = KINDS[k % KINDS.length]!;
      for (let i = 0; i < len; ++i) frames.push(kind.frame);
      expected.set(kind.next, (expected.get(kind.next) ?? 0) + len);
    });
    const before = KINDS.map((k) => arcPackets('ethernet-input', k.next));
    const vectors = engine.statsSegment().nodes().find((n) => n.name === 'ethernet-input')!;
    await send('er0', frames);
    const after = engine.statsSegment().nodes().find((n) => n.name === 'ethernet-input')!;
    // One call saw the whole pattern (else runs would be cut at vector edges).
    expect(after.calls - vectors.calls).toBe(1n);
    KINDS.forEach((k, i) => expect(arcPackets('ethernet-input', k.next) - before[i]!, k.next).toBe(BigInt(expected.get(k.next)!)));
    expectNoLeak();
  });
});
