// Config validation: every rejected field is named with its reason, all problems at once;
// no engine is needed (nothing runs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfig, validateConfig } from '../../src/config.js';

function issues(value: unknown): string[] {
  try {
    validateConfig(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    // Order: zod's (schema order) then cross references; compare as sorted lists.
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.reason}`).sort();
  }
  throw new Error('the config was accepted');
}

const pg = (name: string, extra: Record<string, unknown> = {}) => ({ type: 'pg', name, ...extra });

describe('config validation', () => {
  it('accepts a full config and fills the defaults', () => {
    const c = parseConfig(`
workers: { count: 2, cores: [0, 1], rxMode: interrupt }
buffers: { count: 8192, hugepages: off }
api: { socket: /tmp/x.sock, mode: "0660" }
metrics: { port: 9100 }
logging: { level: debug }
interfaces:
  - { type: pg, name: pg0, mtu: 1500, mac: "02:00:00:00:00:01", rxMode: polling, rxPlacement: [{ queue: 0, worker: 1 }] }
  - { type: pg, name: pg1, state: down, streams: [{ name: s, size: 64, rate: 1000 }] }
xconnect:
  - { rx: pg0, tx: pg1 }
`);
    expect(c.workers).toEqual({ count: 2, cores: [0, 1], rxMode: 'interrupt' });
    expect(c.metrics).toEqual({ port: 9100, host: '127.0.0.1' });
    expect(c.logging).toEqual({ level: 'debug', destination: 'stderr' });
    expect(c.interfaces![1]).toMatchObject({ state: 'down', streams: [{ name: 's', enabled: true, count: 0 }] });
    expect(c.interfaces![0]!.state).toBe('up');
    expect(c.xconnect).toEqual([{ rx: 'pg0', tx: 'pg1', bidirectional: true }]);
    expect(validateConfig({}).api).toEqual({ socket: '/run/quiver/quiver.sock', mode: '0600' });
  });

  it('names every unknown key, at every depth', () => {
    expect(issues({ worker: { count: 1 }, workers: { count: 1, threads: 2 }, interfaces: [pg('a', { speed: 10 })] })).toEqual([
      'worker: unknown key',
      'workers.threads: unknown key',
      'interfaces[0].speed: unknown key',
    ].sort());
  });

  it('names each bad field of the core sections with the reason', () => {
    const got = issues({
      workers: { count: 0, rxMode: 'turbo' },
      buffers: { count: 10, hugepages: 'maybe' },
      api: { mode: '777x' },
      metrics: { port: 70000 },
      logging: { level: 'loud' },
    });
    expect(got.map((g) => g.split(':')[0])).toEqual(
      ['workers.count', 'workers.rxMode', 'buffers.count', 'buffers.hugepages', 'api.mode', 'metrics.port', 'logging.level'].sort(),
    );
    expect(got).toContain('workers.count: Number must be greater than or equal to 1');
    expect(got.find((g) => g.startsWith('workers.rxMode'))).toMatch(/'polling' \| 'interrupt' \| 'adaptive'/);
    expect(got).toContain('api.mode: is not an octal file mode such as 0600');
    expect(issues({ workers: { count: 2, cores: [1] } })).toEqual(['workers.cores: lists 1 cores for 2 workers']);
  });

  it('names bad interface fields, unknown types and a missing type', () => {
    expect(
      issues({
        interfaces: [
          pg('ok'),
          pg('bad name!'),
          { type: 'afpacket', name: 'x' },
          { name: 'y' },
          pg('m', { mac: '02:00:00:00:00', mtu: 20 }),
          pg('s', { streams: [{ name: 's1', size: 5000 }] }),
          'pg9',
        ],
      }),
    ).toEqual([
      'interfaces[1].name: may hold letters, digits and _ . / : -',
      "interfaces[2].type: 'afpacket' is not an interface type (one of: pg, af_xdp, af_packet, tap)",
      'interfaces[3].type: required (one of: pg, af_xdp, af_packet, tap)',
      'interfaces[4].mac: is not a MAC address (aa:bb:cc:dd:ee:ff)',
      'interfaces[4].mtu: Number must be greater than or equal to 68',
      'interfaces[5].streams[0].size: Number must be less than or equal to 2112',
      'interfaces[6]: must be a mapping with a type and a name',
    ]);
  });

  it('checks cross references: interface names, duplicates, workers, streams', () => {
    expect(
      issues({
        workers: { count: 1 },
        interfaces: [
          pg('pg0', { rxPlacement: [{ queue: 0, worker: 3 }], streams: [{ name: 'a' }] }),
          pg('pg1', { worker: 2, streams: [{ name: 'a' }] }),
          pg('pg0'),
        ],
        xconnect: [
          { rx: 'pg0', tx: 'nope' },
          { rx: 'pg1', tx: 'pg1' },
          { rx: 'pg0', tx: 'pg1', bidirectional: false },
        ],
      }),
    ).toEqual([
      "interfaces[0].rxPlacement[0].worker: 3 does not exist (workers.count is 1)",
      "interfaces[1].worker: 2 does not exist (workers.count is 1)",
      "interfaces[1].streams[0].name: stream 'a' is already interfaces[0].streams[0]",
      "interfaces[2].name: 'pg0' is already interfaces[0]",
      "xconnect[0].tx: no interface 'nope'",
      'xconnect[1].tx: cannot cross-connect pg1 to itself',
      'xconnect[2].rx: pg0 already sends to another interface (xconnect[0])',
    ].sort());
  });

  it('reports YAML syntax errors with the line, and unreadable files', () => {
    expect(() => parseConfig('interfaces:\n  - { type: pg, name: a\n')).toThrow(/^config: line \d+, column \d+: /);
    expect(() => parseConfig('workers: 1\nworkers: 2\n')).toThrow(/Map keys must be unique/);
    expect(() => parseConfig('- 1\n- 2\n')).toThrow('config: must be a mapping of sections');
    const dir = mkdtempSync(join(tmpdir(), 'qc-config-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    expect(() => loadConfigFile(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read: ENOENT/);
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ interfaces: [pg('a')], xconnect: [{ rx: 'a', tx: 'b' }] }));
    expect(() => loadConfigFile(join(dir, 'c.json'))).toThrow(`${join(dir, 'c.json')}: xconnect[0].tx: no interface 'b'`);
  });
});
