// Shared by the memif tests: unique socket paths, windowed pg sends (never more than a ring can
// hold, so a slow or descheduled peer cannot cause drops), and testpmd process handling.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pg from '../../graph/pg/pg.js';
import { waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'qm-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Distinct, recognisable frames: UDP source port = sequence number, payload = size-derived bytes. */
export function frames(n: number, size: number, first = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const payload = Buffer.alloc(size - 14 - 28);
    for (let k = 0; k < payload.length; k++) payload[k] = (k + i) & 0xff;
    out.push(ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' },
      ipv4Udp({ src: '198.18.0.1', dst: '198.18.1.1', sport: (first + i) & 0xffff, dport: 4789, payload })));
  }
  return out;
}

export function macSwapped(f: Buffer): Buffer {
  const c = Buffer.from(f);
  f.copy(c, 0, 6, 12);
  f.copy(c, 6, 0, 6);
  return c;
}

let streamSeq = 0;
/** Sends `packets` from a pg interface in windows of `window`, waiting after each until
 * `delivered()` has grown by the window (the peer drained the ring). */
export async function sendWindowed(from: string, packets: Buffer[], window: number, delivered: () => number, timeoutMs = 10000,
  diagnose?: () => string): Promise<void> {
  for (let i = 0; i < packets.length; i += window) {
    const chunk = packets.slice(i, i + window);
    const before = delivered();
    const name = `qm-w${streamSeq++}`;
    pg.addStream(from, { name, packets: chunk, count: chunk.length, enabled: true });
    await pg.waitStream(name, timeoutMs);
    pg.deleteStream(name);
    try {
      await waitFor(() => delivered() >= before + chunk.length, timeoutMs, `window ${i / window} of ${chunk.length} packets delivered (${delivered() - before} were)`);
    } catch (e) {
      throw new Error(`${(e as Error).message}${diagnose ? `\n${diagnose()}` : ''}`);
    }
  }
}

// --- dpdk-testpmd (Debian's dpdk package) ---

export interface ForwardStats {
  rx: number;
  tx: number;
  rxDropped: number;
  txDropped: number;
}

export interface Testpmd {
  proc: ChildProcess;
  output(): string;
  /** Stops forwarding (the port stays connected, so the rings drain) and returns the forward
   * statistics testpmd printed. */
  stop(): Promise<ForwardStats>;
  /** Quits; the exit status is not trusted (testpmd 22.11 with memif sometimes segfaults on exit). */
  quit(): Promise<void>;
  kill(): Promise<void>;
}

let prefixSeq = 0;
/** testpmd in interactive mode fed through a pipe (it exits at once without a terminal otherwise). */
export function startTestpmd(o: {
  role: 'server' | 'client';
  socket: string;
  id?: number;
  mode: 'io' | 'macswap' | 'txonly' | 'rxonly' | 'flowgen';
  vdevExtra?: string;
  args?: string[];
  lcores?: string;
  vdevs?: string[];
}): Testpmd {
  if (!existsSync('/usr/bin/dpdk-testpmd')) throw new Error('dpdk-testpmd is not installed: run npm test (test/setup.sh installs dpdk)');
  const vdevs = o.vdevs ?? [`net_memif0,role=${o.role},id=${o.id ?? 0},socket=${o.socket},socket-abstract=no${o.vdevExtra ? `,${o.vdevExtra}` : ''}`];
  const args = [
    `--lcores=${o.lcores ?? '0@0,1@0'}`, '--no-pci', '--no-huge', '-m', '512', '--file-prefix', `qm-${process.pid}-${prefixSeq++}`,
    ...vdevs.map((v) => `--vdev=${v}`), '--', '-i', '-a', '--total-num-mbufs=32768', `--forward-mode=${o.mode}`,
    ...(o.args ?? []),
  ];
  // Line-buffered: to a pipe its stdout is block-buffered and the statistics would stay unseen.
  const proc = spawn('stdbuf', ['-oL', 'dpdk-testpmd', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  proc.stdin!.on('error', () => {});
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const waitExit = async (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  return {
    proc,
    output: () => out,
    async stop() {
      const from = out.length;
      proc.stdin!.write('stop\n');
      const until = Date.now() + 10000;
      while (!out.slice(from).includes('Accumulated forward statistics')) {
        if (!alive() || Date.now() > until) throw new Error(`testpmd did not stop forwarding; its output ends with:\n${out.slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return parseForwardStats(out.slice(from));
    },
    async quit() {
      if (!alive()) return;
      proc.stdin!.write('quit\n');
      if (!(await waitExit(5000))) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
    async kill() {
      if (!alive()) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function parseForwardStats(out: string): ForwardStats {
  const i = out.lastIndexOf('Forward statistics for port 0');
  if (i < 0) throw new Error(`testpmd printed no forward statistics; its output ends with:\n${out.slice(-1500)}`);
  const block = out.slice(i, i + 600);
  const num = (re: RegExp) => {
    const m = re.exec(block);
    if (!m) throw new Error(`testpmd statistics without ${re}: ${block}`);
    return Number(m[1]);
  };
  return {
    rx: num(/RX-packets:\s+(\d+)/),
    rxDropped: num(/RX-dropped:\s+(\d+)/),
    tx: num(/TX-packets:\s+(\d+)/),
    txDropped: num(/TX-dropped:\s+(\d+)/),
  };
}

/** Frames of a little-endian pcap file, read independently of the code under test. */
export function readPcap(file: string): Buffer[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${file}: not a little-endian pcap file`);
  const out: Buffer[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const incl = b.readUInt32LE(off + 8);
    out.push(b.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
  }
  return out;
}
