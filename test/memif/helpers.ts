// Shared by the memif tests: unique socket paths, windowed pg sends (never more than a ring can
// hold, so a slow or descheduled peer cannot cause drops), and testpmd process handling.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

export { type ForwardStats, type Testpmd, cleanupTestpmdRuntime, parseForwardStats, startTestpmd } from '../../memif/testpmd.js';

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
