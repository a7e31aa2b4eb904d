// Packet trace (per-node lines for the first N packets) and pcap capture (tshark reads it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';

useEngine();
const dir = mkdtempSync(join(tmpdir(), 'quiver-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pair(a: string, b: string) {
  pg.createPgInterface({ name: a });
  pg.createPgInterface({ name: b });
  engine.setInterfaceState(a, { adminUp: true });
  engine.setInterfaceState(b, { adminUp: true });
  xconnectPair(a, b);
}

describe('trace', () => {
  it('records every node a traced packet visits, for exactly N packets', async () => {
    pair('t0', 't1');
    engine.traceClear();
    engine.traceAdd('pg-input', 3);
    pg.addStream('t0', { name: 'tr', size: 64, count: 10, enabled: true });
    await pg.waitStream('tr');
    const t = engine.traceGet();
    expect(t).toHaveLength(3);
    for (const rec of t) {
      expect(rec.entries.map((e) => e.node)).toEqual(['pg-input', 'ethernet-input', 'l2-xconnect', 'pg-output']);
      expect(rec.entries[1]!.text).toMatch(/^IP4: 02:00:00:00:00:01 -> 02:00:00:00:00:02 rx \d+ -> l2-xconnect/);
      const secs = rec.entries.map((e) => e.seconds);
      expect([...secs].sort((x, y) => x - y)).toEqual(secs);
    }
    engine.traceClear();
    expect(engine.traceGet()).toHaveLength(0);
    expect(() => engine.traceAdd('ethernet-input', 1)).toThrow(/^node: 'ethernet-input' is not an input node/);
    expect(() => engine.traceAdd('nope', 1)).toThrow(/^node: no node 'nope'/);
  });
});

describe('pcap trace', () => {
  it('captures rx and tx of one interface into a file tshark reads', async () => {
    if (!existsSync('/usr/bin/tshark')) throw new Error('tshark is not installed: run npm test (test/setup.sh installs it)');
    pair('c0', 'c1');
    const file = join(dir, 'cap.pcap');
    engine.pcapStart({ interface: 'c1', tx: true, rx: false, max: 25, file });
    expect(() => engine.pcapStart({ file })).toThrow(/^pcap: a capture is already running/);
    pg.addStream('c0', {
      name: 'cap', size: 80, count: 40, enabled: true,
      template: { srcIp: '198.18.5.1', dstIp: '198.18.6.1', dstPort: 9000 },
      fields: [{ field: 'src-port', start: 3000, count: 1000 }],
    });
    await pg.waitStream('cap');
    expect(engine.pcapStatus()).toMatchObject({ captured: 25, max: 25 });
    expect(engine.pcapStop()).toEqual({ file, packets: 25 });
    const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'frame.len'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(25);
    rows.forEach((r, i) => expect(r).toEqual(['198.18.5.1', '198.18.6.1', String(3000 + i), '80']));
    expectNoLeak();
  });

  it('refuses a capture without a file', () => {
    expect(() => engine.pcapStart({ file: '' })).toThrow(/^file: /);
  });
});
