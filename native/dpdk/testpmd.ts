// dpdk-testpmd as a peer in a child process (tests and benchmarks of the DPDK driver), driven
// through its interactive prompt (stdin kept open), so a caller can start and stop forwarding
// and read exact statistics while the ports stay connected. Killed by PID only.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ForwardStats {
  rxPackets: number;
  txPackets: number;
  txDropped: number;
}

export class Testpmd {
  private out = '';
  private exited = false;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (this.out += d.toString()));
    proc.on('exit', () => (this.exited = true));
  }

  /**
   * Starts testpmd with these vdevs, its own file prefix, no hugepages, no PCI scan.
   * `lcores`: EAL --lcores (main lcore first, then the forwarding lcore); `app`: testpmd options.
   */
  static async start(vdevs: string[], opts: { lcores?: string; app?: string[] } = {}): Promise<Testpmd> {
    const prefix = `qk-${randomBytes(4).toString('hex')}`;
    const args = [`--lcores=${opts.lcores ?? '0,1'}`, '--no-huge', '-m', '512', '--no-pci', '--no-telemetry', `--file-prefix=${prefix}`];
    for (const v of vdevs) args.push(`--vdev=${v}`);
    args.push('--', '-i', '--total-num-mbufs=32768', ...(opts.app ?? []));
    // Line-buffered: testpmd prints command results with stdio, which a pipe would hold back.
    const t = new Testpmd(spawn('stdbuf', ['-oL', '-eL', 'dpdk-testpmd', ...args], { stdio: 'pipe' }));
    await t.waitOutput(/testpmd> /, 20000, 'testpmd prompt');
    return t;
  }

  get output(): string {
    return this.out;
  }

  private async waitOutput(re: RegExp, timeoutMs: number, what: string, from = 0): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const tail = this.out.slice(from);
      if (re.test(tail)) return tail;
      if (this.exited) throw new Error(`testpmd exited while waiting for ${what}:\n${this.out.slice(-3000)}`);
      if (Date.now() > until) throw new Error(`testpmd: timed out waiting for ${what}:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Runs one prompt command and returns what it printed. */
  async command(cmd: string, timeoutMs = 10000): Promise<string> {
    const from = this.out.length;
    this.proc.stdin.write(`${cmd}\n`);
    // The next prompt means the command finished.
    return this.waitOutput(/testpmd> /, timeoutMs, `'${cmd}'`, from);
  }

  /** `stop`: forwarding ends, ports stay up; the accumulated statistics of this run. */
  async stop(): Promise<ForwardStats & { text: string }> {
    const text = await this.command('stop');
    const acc = text.slice(text.indexOf('Accumulated forward statistics'));
    const num = (re: RegExp) => {
      const m = re.exec(acc);
      if (!m) throw new Error(`testpmd: no statistics in:\n${text}`);
      return Number(m[1]);
    };
    return { rxPackets: num(/RX-packets:\s+(\d+)/), txPackets: num(/TX-packets:\s+(\d+)/), txDropped: num(/TX-dropped:\s+(\d+)/), text };
  }

  /** Packets per second each port received and sent since the previous call (`show port stats all`). */
  async portRates(): Promise<{ rx: number[]; tx: number[] }> {
    const text = await this.command('show port stats all');
    const rx = [...text.matchAll(/Rx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
    const tx = [...text.matchAll(/Tx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
    return { rx, tx };
  }

  /** `stop` output's "CPU cycles/packet" (needs --record-core-cycles), or undefined. */
  static cyclesPerPacket(stopText: string): number | undefined {
    const m = /CPU cycles\/packet=([\d.]+)/.exec(stopText);
    return m ? Number(m[1]) : undefined;
  }

  /** `quit`, then SIGKILL if it has not exited within timeoutMs (testpmd 22.11 may crash on exit). */
  async quit(timeoutMs = 5000): Promise<void> {
    if (this.exited) return;
    this.proc.stdin.write('quit\n');
    const until = Date.now() + timeoutMs;
    while (!this.exited && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (!this.exited && this.proc.pid) process.kill(this.proc.pid, 'SIGKILL');
  }
}
