// The daemon as operators run it: a child process serving the management API on a unix
// socket (0600), every quiverctl command against it in text and --json, quiver apply by
// difference, Prometheus metrics, refusal of a second daemon, clean shutdown.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runQuiverctl } from '../../src/cli/quiverctl.js';
import { commands } from '../../src/feature.js';
import { QUIVER, QUIVERCTL, type RunningDaemon, exited, freePort, killLeftovers, parsePrometheus, removeDir, runNode, startDaemon, tempDir } from './helpers.js';
import { spawn } from 'node:child_process';

let d: RunningDaemon;
let metricsPort: number;
const dirs: string[] = [];

const config = (metrics: number) => ({
  workers: { count: 1 },
  buffers: { count: 16384 },
  metrics: { port: metrics },
  interfaces: [
    { type: 'pg', name: 'pg0', streams: [{ name: 's0', size: 64, rate: 20000 }] },
    { type: 'pg', name: 'pg1' },
    // Frames for a MAC that is not pg2's, on an L3 interface: dropped as l3-mac-mismatch.
    { type: 'pg', name: 'pg2', streams: [{ name: 's2', size: 100, rate: 2000, template: { dstMac: '02:00:00:00:00:99' } }] },
  ],
  xconnect: [{ rx: 'pg0', tx: 'pg1' }],
});

beforeAll(async () => {
  metricsPort = await freePort();
  const dir = tempDir();
  dirs.push(dir);
  d = await startDaemon(config(metricsPort), dir);
});
afterAll(async () => {
  if (d?.proc.exitCode === null) await d.stop('SIGKILL');
  killLeftovers();
  for (const x of dirs) removeDir(x);
});

async function ctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runQuiverctl(['-s', d.socket, ...argv], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}
async function json<T = any>(...argv: string[]): Promise<T> {
  const r = await ctl(...argv, '--json');
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as T;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('daemon', () => {
  it('serves on a socket with mode 0600 and applied the config', async () => {
    expect(statSync(d.socket).isSocket()).toBe(true);
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
    expect(d.output()).toMatch(/"msg":"quiver daemon ready"/);
    const names = (await json('show', 'interface')).map((i: { name: string }) => i.name);
    expect(names).toEqual(['pg0', 'pg1', 'pg2']);
  });

  it('quiverctl help lists every registered command, features included', async () => {
    const r = await ctl('help');
    expect(r.code).toBe(0);
    for (const c of commands()) expect(r.out).toContain(c.name);
    expect(r.out).toContain('show xconnect'); // registered by graph/l2/xconnect.feature.ts
    expect(r.out).toContain('set interface l2 xconnect');
    const api = await d.client.commands();
    expect(api.map((c) => c.name).sort()).toEqual(commands().map((c) => c.name).sort());
  });

  it('show interface, one interface, rx-placement, version, config (text and --json)', async () => {
    await sleep(300);
    let r = await ctl('show', 'interface');
    expect(r.out).toMatch(/^Name\s+Idx\s+State\s+MTU\s+Counter\s+Count\n/);
    expect(r.out).toMatch(/pg0\s+0\s+up\s+9000\s+rx packets\s+\d+/);
    expect(r.out).toMatch(/\npg1\s+1\s+up\s+9000\s+tx packets\s+\d+\n/);
    const all = await json('show', 'interface');
    expect(all[1]).toMatchObject({ name: 'pg1', driver: 'pg', adminUp: true, mode: 'xconnect', xconnectPeer: 'pg0' });
    expect(all[1].counters.txPackets).toBeGreaterThan(0);
    r = await ctl('show', 'interface', 'pg1');
    expect(r.out).toMatch(/driver pg, mac 02:fe:00:00:00:01/);
    expect(r.out).toMatch(/mode xconnect -> pg0/);
    expect((await json('show', 'interface', 'pg2'))[0].name).toBe('pg2');
    r = await ctl('show', 'interface', 'ghost');
    expect(r.code).toBe(1);
    expect(r.err).toBe("interface: no interface 'ghost'\n");

    r = await ctl('show', 'interface', 'rx-placement');
    expect(r.out).toBe('Thread 0 (quiver-wk0):\n  node pg-input:\n    pg0 queue 0 (adaptive)\n    pg1 queue 0 (adaptive)\n    pg2 queue 0 (adaptive)\n');
    expect(await json('show', 'interface', 'rx-placement')).toEqual({
      workers: 1,
      queues: ['pg0', 'pg1', 'pg2'].map((n) => ({ worker: 0, node: 'pg-input', interface: n, queue: 0, mode: 'adaptive' })),
    });

    r = await ctl('show', 'version');
    expect(r.out).toMatch(/^quiver 0\.1\.0 \(addon 0\.1\.0\), gcc [\d.]+, DPDK /);
    expect(await json('show', 'version')).toMatchObject({ quiver: '0.1.0', workers: [{ id: 0 }] });

    r = await ctl('show', 'config');
    expect(r.out).toMatch(/^workers:\n  count: 1\n/m);
    expect(r.out).toContain('name: pg2');
    expect((await json('show', 'config')).xconnect).toEqual([{ rx: 'pg0', tx: 'pg1', bidirectional: true }]);
  });

  it('show runtime, errors, buffers; clear runtime, interfaces, errors', async () => {
    let r = await ctl('show', 'runtime');
    expect(r.out).toMatch(/^Thread 0 quiver-wk0\n  loops \d+, idle loops \d+, sleeps \d+, wakeups \d+\n  Name\s+State\s+Calls\s+Vectors\s+Suspends\s+Clocks\s+Vectors\/Call\n/);
    expect(r.out).toMatch(/\n  l2-xconnect\s+active\s+\d+\s+\d+\s+0\s+[\d.e+]+\s+[\d.]+\n/);
    const rt = await json('show', 'runtime');
    expect(rt.rows.find((x: { name: string }) => x.name === 'pg-input')).toMatchObject({ type: 'input', worker: 0 });
    expect((await json('show', 'runtime', '--all')).rows.length).toBeGreaterThan(rt.rows.length - 1);

    r = await ctl('show', 'errors');
    expect(r.out).toMatch(/^\s+Count  Node\s+Reason\s+Severity\n\s+\d+  ethernet-input\s+unicast destination MAC is not the interface's \(l3-mac-mismatch\)\s+info\n/);
    const errs = await json('show', 'errors');
    expect(errs).toEqual([expect.objectContaining({ node: 'ethernet-input', name: 'l3-mac-mismatch', count: expect.any(Number) })]);
    expect((await json('show', 'errors', '--all')).length).toBeGreaterThan(5);

    r = await ctl('show', 'buffers');
    expect(r.out).toMatch(/^Pool: 16384 buffers of 2624 bytes \([\d.]+ MiB, (hugepages|4 KiB pages)\)\nfree\s+\d+\n/);
    expect(await json('show', 'buffers')).toMatchObject({ total: 16384, slotSize: 2624 });

    expect((await ctl('clear', 'errors')).out).toBe('error counters cleared\n');
    expect((await json('show', 'errors'))[0]?.count ?? 0).toBeLessThan(errs[0].count);
    const txBefore = (await json('show', 'interface', 'pg1'))[0].counters.txPackets;
    expect((await ctl('clear', 'interfaces')).out).toBe('interface counters cleared\n');
    expect((await json('show', 'interface', 'pg1'))[0].counters.txPackets).toBeLessThan(txBefore);
    expect((await ctl('clear', 'runtime')).out).toBe('runtime counters cleared\n');
    expect(await json('clear', 'runtime')).toEqual({});
  });

  it('show graph: text, --json, --dot, --svg with drop reasons', async () => {
    // The previous test cleared the runtime counters: wait until the rate window holds only
    // samples taken after the clear.
    await sleep(2500);
    const r = await ctl('show', 'graph');
    expect(r.out).toMatch(/^Node graph: \d+ nodes, \d+ arcs that carried traffic \(--all for every one\); rates over the last [\d.]+ s\n/);
    expect(r.out).toMatch(/\npg0 rx\s+interface rx\s+[\d.]+ kpps/);
    expect(r.out).toMatch(/\n  -> error-drop\s+DROP\s+[\d.]+ (k)?pps/);
    expect(r.out).toMatch(/\n\s+l3-mac-mismatch: unicast destination MAC is not the interface's\s+[\d.]+ (k)?pps/);
    const g = await json('show', 'graph');
    const arc = g.arcs.find((a: { from: string; to: string }) => a.from === 'ethernet-input' && a.to === 'l2-xconnect');
    // s0 runs at up to 20 kpps; on a shared 2-core machine the worker may get far less CPU,
    // so only "a rate, not a total" is asserted here (rates.test.ts checks the arithmetic).
    expect(arc.pps).toBeGreaterThan(0);
    expect(arc.pps).toBeLessThan(25000);
    expect(arc.packets).toBeGreaterThan(arc.pps);
    const drop = g.arcs.find((a: { drop: boolean }) => a.drop);
    expect(drop.reasons[0]).toMatchObject({ name: 'l3-mac-mismatch' });
    expect(drop.pps).toBeGreaterThan(0);
    expect(drop.pps).toBeLessThan(2500);
    const all = await json('show', 'graph', '--all');
    expect(all.arcs.length).toBeGreaterThan(g.arcs.length);
    const dot = (await ctl('show', 'graph', '--dot')).out;
    expect(dot).toMatch(/^digraph quiver \{\n/);
    expect(dot).toContain('"ethernet-input" -> "error-drop"');
    expect(dot).toMatch(/"ethernet-input" -> "error-drop" \[label=<<b>[\d.]+ k?pps<\/b><br\/>l3-mac-mismatch: [\d.]+ k?pps>, color="#c53030"/);
    const svg = join(d.dir, 'graph.svg');
    const s = await ctl('show', 'graph', '--svg', svg);
    expect(s.out, s.err).toBe(`wrote ${svg}\n`);
    const text = readFileSync(svg, 'utf8');
    expect(text).toContain('<svg');
    expect(text).toContain('l2&#45;xconnect'); // graphviz escapes '-' in titles
    expect(text).toContain('l3&#45;mac&#45;mismatch');
  });

  it('trace add, show trace, clear trace', async () => {
    await ctl('clear', 'trace');
    expect((await ctl('trace', 'add', 'pg-input', '2')).out).toBe('tracing the next 2 packets from pg-input\n');
    await sleep(100);
    const r = await ctl('show', 'trace');
    expect(r.out).toMatch(/^------------------- Start of thread 0 quiver-wk0 -------------------\nPacket 1\n\n\d\d:\d\d:\d\d\.\d{6}: pg-input\n/);
    expect(r.out).toMatch(/: ethernet-input\n  /);
    const t = await json('show', 'trace');
    expect(t).toHaveLength(2);
    expect(t[0].entries[0].node).toBe('pg-input');
    expect((await ctl('clear', 'trace')).out).toBe('trace cleared\n');
    expect((await ctl('show', 'trace')).out).toBe('No packets in trace buffer\n');
    const bad = await ctl('trace', 'add', 'pg-input', 'lots');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('count: count must be a number\n');
    expect((await ctl('trace', 'add', 'ethernet-input', '1')).err).toBe("node: 'ethernet-input' is not an input node\n");
  });

  it('pcap trace rx|tx|both max N intfc X file F, status, off', async () => {
    const file = join(d.dir, 'cap.pcap');
    let r = await ctl('pcap', 'trace', 'tx', 'max', '5', 'intfc', 'pg1', 'file', file);
    expect(r.out).toBe(`capturing tx of pg1, up to 5 packets, to ${file} (pcap trace off writes it)\n`);
    await sleep(100);
    r = await ctl('pcap', 'trace', 'status');
    expect(r.out).toBe(`capture full: 5 packets; pcap trace off writes ${file}\n`);
    expect(await json('pcap', 'trace', 'status')).toEqual({ status: { active: false, file, captured: 5, max: 5 } });
    r = await ctl('pcap', 'trace', 'off');
    expect(r.out).toBe(`wrote 5 packets to ${file}\n`);
    const pcap = readFileSync(file);
    expect(pcap.readUInt32LE(0)).toBe(0xa1b23c4d); // nanosecond pcap
    expect(pcap.length).toBe(24 + 5 * (16 + 64));
    r = await ctl('pcap', 'trace', 'sideways');
    expect(r.err).toBe("words[0]: 'sideways' is not rx, tx, both, off or status\n");
    r = await ctl('pcap', 'trace', 'rx', 'max', 'many');
    expect(r.err).toBe("max: 'many' is not a packet count\n");
    r = await ctl('pcap', 'trace', 'both', 'max', '3', 'intfc', 'ghost');
    expect(r.err).toBe("interface: no interface 'ghost'\n");
  });

  it('set interface state, mtu, rx-mode, rx-placement change the running config', async () => {
    expect((await ctl('set', 'interface', 'state', 'pg2', 'down')).out).toBe('set interface state pg2 down\n');
    expect((await json('show', 'interface', 'pg2'))[0].adminUp).toBe(false);
    expect((await ctl('set', 'interface', 'state', 'pg2', 'down')).out).toBe('no change\n');
    expect((await ctl('set', 'interface', 'state', 'pg2', 'sideways')).err).toMatch(/^state: Invalid enum value\. Expected 'up' \| 'down'/);
    expect((await ctl('set', 'interface', 'mtu', '1500', 'pg2')).out).toBe('set interface mtu pg2 1500\n');
    expect((await json('show', 'interface', 'pg2'))[0].mtu).toBe(1500);
    expect((await ctl('set', 'interface', 'mtu', '99999', 'pg2')).err).toBe('mtu: must be 68..9216\n');
    expect((await ctl('set', 'interface', 'rx-mode', 'pg2', 'polling')).out).toBe('set interface rx-mode pg2 polling\n');
    expect((await json('show', 'interface', 'pg2'))[0].rxQueues[0].mode).toBe('polling');
    expect((await ctl('set', 'interface', 'rx-mode', 'pg2', 'queue', '0', 'interrupt')).out).toMatch(/^set interface rx-mode pg2 queue 0 interrupt \(runtime only/);
    expect((await ctl('set', 'interface', 'rx-placement', 'pg2', 'queue', '0', 'worker', '0')).out).toBe('set interface rx-placement pg2 queue 0 worker 0\n');
    expect((await ctl('set', 'interface', 'rx-placement', 'pg2', 'queue', '0', 'worker', '4')).err).toBe(
      'apply: interfaces[2].rxPlacement[0].worker: 4 does not exist (workers.count is 1)\n',
    );
    const cfg = await json('show', 'config');
    expect(cfg.interfaces[2]).toMatchObject({ name: 'pg2', state: 'down', mtu: 1500, rxMode: 'polling', rxPlacement: [{ queue: 0, worker: 0 }] });
    expect((await ctl('set', 'interface', 'l2', 'xconnect', 'pg2', 'pg1')).out).toBe('xconnect pg2 -> pg1\n');
    expect(await json('show', 'xconnect')).toEqual([
      { rx: 'pg0', tx: 'pg1' }, { rx: 'pg1', tx: 'pg0' }, { rx: 'pg2', tx: 'pg1' },
    ]);
    expect((await ctl('show', 'xconnect')).out).toMatch(/^pg0\s+-> pg1\npg1\s+-> pg0\npg2\s+-> pg1\n$/);
    expect((await ctl('set', 'interface', 'l2', 'xconnect', 'pg2', 'none')).out).toBe('remove xconnect pg2 -> pg1\n');
  });

  it('usage errors exit 2; unknown interface or bad argument exit 1 naming the field', async () => {
    expect((await ctl('show', 'nonsense')).code).toBe(2);
    expect((await ctl('trace', 'add')).code).toBe(2);
    const r = await ctl('set', 'interface', 'state', 'ghost', 'up');
    expect(r.code).toBe(1);
    expect(r.err).toBe("interface: no interface 'ghost'\n");
  });

  it('quiver apply -f changes by difference; an invalid file changes nothing and says why', async () => {
    const running = await d.client.config<Record<string, any>>();
    const file = join(d.dir, 'next.yaml');
    const next = structuredClone(running);
    next.interfaces.push({ type: 'pg', name: 'pg3' });
    next.interfaces[1].mtu = 2000;
    writeFileSync(file, stringify(next));
    let r = await runNode(QUIVER, ['apply', '-f', file, '--dry-run']);
    expect(r.stdout).toBe('would apply 3 change(s):\n  set interface mtu pg1 2000\n  create interface pg3 (pg)\n  set interface state pg3 up\n');
    expect((await json('show', 'interface')).length).toBe(3);
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('applied 3 change(s):\n  set interface mtu pg1 2000\n  create interface pg3 (pg)\n  set interface state pg3 up\n');
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.stdout).toBe('no change: the daemon already runs this config\n');

    const applied = await d.client.config();
    next.interfaces.push({ type: 'pg', name: 'pg4', mtu: 12 });
    next.xconnect.push({ rx: 'pg3', tx: 'nowhere' });
    next.workers.count = 2;
    next.bogus = 1;
    writeFileSync(file, stringify(next));
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^apply: 2 problems\n/);
    expect(r.stderr).toContain('  bogus: unknown key\n');
    expect(r.stderr).toContain('  interfaces[4].mtu: Number must be greater than or equal to 68\n');
    delete next.bogus;
    next.interfaces.pop();
    writeFileSync(file, stringify(next));
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.stderr).toBe("apply: xconnect[1].tx: no interface 'nowhere'\n");
    next.xconnect.pop();
    writeFileSync(file, stringify(next));
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.stderr).toBe('apply: workers.count: changing it from 1 to 2 needs a restart of the dataplane (quiver start); apply changes nothing\n');
    writeFileSync(file, 'interfaces: [ {type: pg\n');
    r = await runNode(QUIVER, ['apply', '-f', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^.*next\.yaml: line \d+: /);
    expect(await d.client.config()).toEqual(applied);
  });

  it('the quiverctl binary itself answers (text and --json)', async () => {
    let r = await runNode(QUIVERCTL, ['-s', d.socket, 'show', 'interface', 'pg0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0].name).toBe('pg0');
    r = await runNode(QUIVERCTL, ['--socket', d.socket, 'show', 'runtime']);
    expect(r.stdout).toMatch(/^Thread 0 quiver-wk0/);
    r = await runNode(QUIVERCTL, ['-s', join(d.dir, 'none.sock'), 'show', 'version']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^socket: no quiver daemon at .*none\.sock \(ENOENT\); start one with quiver start -c FILE\n$/);
  });

  it('metrics parse as Prometheus text and carry the counters', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const fams = parsePrometheus(await res.text());
    const tx = fams.get('quiver_interface_tx_packets_total')!;
    expect(tx.type).toBe('counter');
    expect(tx.samples.find((s) => s.labels.interface === 'pg1')!.value).toBeGreaterThan(0);
    expect(fams.get('quiver_node_vectors_total')!.samples.find((s) => s.labels.node === 'l2-xconnect' && s.labels.worker === '0')!.value).toBeGreaterThan(0);
    expect(fams.get('quiver_errors_total')!.samples.some((s) => s.labels.error === 'l3-mac-mismatch')).toBe(true);
    expect(fams.get('quiver_buffers')!.samples.find((s) => s.labels.state === 'total')!.value).toBe(16384);
    expect(fams.get('quiver_worker_loops_total')!.samples[0]!.labels).toEqual({ worker: '0' });
    expect(fams.get('quiver_arc_packets_total')!.samples.find((s) => s.labels.from === 'ethernet-input' && s.labels.to === 'l2-xconnect')!.value).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it('a second daemon on the same socket is refused and the first keeps serving', async () => {
    const cfgFile = join(d.dir, 'second.yaml');
    writeFileSync(cfgFile, stringify({ api: { socket: d.socket }, logging: { level: 'silent' } }));
    const r = await runNode(QUIVER, ['start', '-c', cfgFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`api.socket: another quiver daemon is serving ${d.socket}\n`);
    expect((await json('show', 'interface')).length).toBe(4);
  });

  it('an invalid config file: quiver start exits 2 naming the field, nothing left behind', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify({ api: { socket: join(dir, 'q.sock') }, interfaces: [{ type: 'pg', name: 'p', mtu: 'big' }] }));
    const r = await runNode(QUIVER, ['start', '-c', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${file}: interfaces[0].mtu: Expected number, received string\n`);
    expect(existsSync(join(dir, 'q.sock'))).toBe(false);
  });

  it('no buffer leaks once traffic stops; SIGTERM shuts down cleanly and removes the socket', async () => {
    const cfg = await d.client.config<Record<string, any>>();
    for (const i of cfg.interfaces) for (const s of i.streams ?? []) s.enabled = false;
    expect((await d.client.apply(cfg)).changes).toEqual(['pg pg0: disable stream s0', 'pg pg2: disable stream s2']);
    await sleep(100);
    expect((await json('show', 'buffers')).inFlight).toBe(0);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
    expect(d.output()).toMatch(/"reason":"SIGTERM","msg":"shutting down"/);
  });

  it('SIGINT shuts down cleanly too; a stale socket file is replaced at start', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const sock = join(dir, 'quiver.sock');
    // A socket file nobody listens on (a daemon that died): bind without listen.
    const py = spawn('/usr/bin/python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    expect(await exited(py)).toBe(0);
    expect(statSync(sock).isSocket()).toBe(true);
    const e = await startDaemon({ logging: { level: 'info' } }, dir);
    expect(e.output()).toContain('"msg":"removing a stale socket file"');
    expect((await e.client.command<unknown[]>('show interface')).length).toBe(0);
    expect(await e.stop('SIGINT')).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });
});
