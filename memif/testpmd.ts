// dpdk-testpmd (Debian's dpdk package) with net_memif vdevs, driven through its interactive
// prompt: the memif interop tests and the memif benchmark use it as the real peer.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';

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
  /** `show port stats all` while running: cumulative packets per port. */
  portStats(): Promise<{ rx: number; tx: number }[]>;
}

let prefixSeq = 0;
/** testpmd in interactive mode fed through a pipe (it exits at once without a terminal otherwise). */
export function startTestpmd(o: {
  role?: 'server' | 'client';
  socket?: string;
  id?: number;
  mode: 'io' | 'macswap' | 'txonly' | 'rxonly' | 'flowgen';
  vdevExtra?: string;
  args?: string[];
  lcores?: string;
  vdevs?: string[];
}): Testpmd {
  if (!existsSync('/usr/bin/dpdk-testpmd')) throw new Error('dpdk-testpmd is not installed: run npm test (test/setup.sh installs dpdk)');
  const vdevs = o.vdevs ?? [`net_memif0,role=${o.role ?? 'client'},id=${o.id ?? 0},socket=${o.socket},socket-abstract=no${o.vdevExtra ? `,${o.vdevExtra}` : ''}`];
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
    async portStats() {
      const from = out.length;
      proc.stdin!.write('show port stats all\n');
      const until = Date.now() + 5000;
      for (;;) {
        const text = out.slice(from);
        const blocks = text.split('NIC statistics for port').slice(1);
        if (blocks.length && blocks.length === vdevs.length && /Tx-bps/.test(blocks[blocks.length - 1]!))
          return blocks.map((b) => ({ rx: Number(/RX-packets:\s+(\d+)/.exec(b)![1]), tx: Number(/TX-packets:\s+(\d+)/.exec(b)![1]) }));
        if (!alive() || Date.now() > until) throw new Error(`testpmd did not show port stats; its output ends with:\n${out.slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
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

/** Removes the EAL runtime directories of the testpmd instances this process started. */
export function cleanupTestpmdRuntime(): void {
  if (!existsSync('/var/run/dpdk')) return;
  for (const d of readdirSync('/var/run/dpdk').filter((x) => x.startsWith(`qm-${process.pid}-`)))
    rmSync(`/var/run/dpdk/${d}`, { recursive: true, force: true });
}
