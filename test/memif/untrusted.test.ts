// The peer is untrusted: a hostile client (rogue_peer.py, written independently of Quiver) breaks
// one rule per connection, in the control channel and in shared memory. Each violation is counted
// under its named error and the peer is disconnected; Quiver keeps listening, leaks no fd and no
// buffer, and a well-behaved client still connects and forwards afterwards.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as memif from '../../memif/memif.js';
import * as engine from '../../src/engine.js';
import { packageRoot } from '../../src/addon.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { frames, sendWindowed, tempDir } from './helpers.js';

useEngine({ workers: 1 });
const tmp = tempDir();
afterAll(() => tmp.cleanup());
const script = join(packageRoot(), 'test/memif/rogue_peer.py');

interface RogueResult {
  closed: boolean;
  disconnect: string | null;
  note: Record<string, unknown> | null;
}
function rogue(socket: string, scenario: string): Promise<RogueResult> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, socket, scenario], { timeout: 15000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`rogue_peer ${scenario}: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as RogueResult);
    });
  });
}
const errorCount = (node: string, name: string) => {
  const e = engine.statsSegment().errors(true).find((x) => x.node === node && x.name === name);
  if (!e) throw new Error(`no error counter ${node}/${name}`);
  return e.count;
};
const openFds = () => readdirSync('/proc/self/fd').length;

// [scenario, node, counter, DISCONNECT reason Quiver sends]
const controlCases: [string, string, RegExp][] = [
  ['bad-size', 'bad-message-size', /invalid message size 62/],
  ['not-init', 'unexpected-message', /unexpected message type 4/],
  ['unknown-type', 'unknown-message', /unknown message type 77/],
  ['bad-version', 'bad-version', /incompatible protocol version 1\.0/],
  ['ack-from-client', 'unexpected-message', /unexpected message type 1/],
  ['missing-fd', 'missing-fd', /missing memory region fd/],
  ['region-index', 'bad-region-index', /unexpected region index 1/],
  ['region-small', 'bad-region', /region 0 fd is not a file of at least 66560 bytes/],
  ['region-not-file', 'bad-region', /region 0 fd is not a file/],
  ['region-huge', 'bad-region', /outside 1\.\.4 GiB/],
  ['region-unsealable', 'region-not-sealed', /cannot be sealed against shrinking/],
  ['ring-outside', 'bad-ring', /does not fit in region 0/],
  ['ring-not-eventfd', 'bad-ring', /not an eventfd/],
  ['ring-index', 'bad-ring-index', /unexpected client-to-server ring index 1/],
  ['too-many-rings', 'bad-ring-index', /too many client-to-server rings \(interface has 1\)/],
  ['ring-private', 'bad-ring', /private headers not supported/],
  ['ring-log2', 'bad-ring', /exceeds 2\^14/],
  ['ring-region', 'bad-ring', /unknown region 1/],
  ['ring-misaligned', 'bad-ring', /not 8-byte aligned/],
  ['no-s2c-ring', 'no-rings', /no rings in one direction/],
  ['extra-fd', 'no-rings', /no rings in one direction/],
  ['bad-cookie', 'bad-cookie', /wrong cookie on client-to-server ring 0/],
];
// Violations in shared memory after a valid handshake: [scenario, node, counter, needs traffic]
const ringCases: [string, string, string, boolean][] = [
  ['bad-desc-offset', 'memif-input', 'bad-descriptor', false],
  ['bad-desc-region', 'memif-input', 'bad-descriptor', false],
  ['bad-desc-empty', 'memif-input', 'bad-descriptor', false],
  ['endless-chain', 'memif-input', 'bad-descriptor', false],
  ['bad-head', 'memif-input', 'bad-ring-index', false],
  ['bad-s2c-desc', 'memif-tx', 'bad-descriptor', true],
  ['bad-s2c-head', 'memif-tx', 'bad-ring-index', true],
];

describe('memif server facing a hostile client', () => {
  const socket = `${tmp.dir}/rogue.sock`;

  it('refuses every malformed control message with a named error, and keeps listening', async () => {
    memif.createMemif({ name: 'ut-s', role: 'server', socket, id: 0, log2RingSize: 4 });
    pg.createPgInterface({ name: 'ut-p' });
    engine.setInterfaceState('ut-s', { adminUp: true });
    engine.setInterfaceState('ut-p', { adminUp: true });
    xconnectPair('ut-s', 'ut-p');
    const fds = openFds();
    for (const [scenario, counter, reason] of controlCases) {
      const before = errorCount('memif-control', counter);
      const r = await rogue(socket, scenario);
      expect(r.closed, `${scenario} closed`).toBe(true);
      expect(r.disconnect, scenario).toMatch(reason);
      expect(errorCount('memif-control', counter) - before, scenario).toBe(1n);
      await waitFor(() => memif.showMemif('ut-s')[0]!.state === 'listening', 2000, `listening after ${scenario}`);
    }
    const [d] = memif.showMemif('ut-s');
    expect(d.counters.connects).toBe(0);
    expect(d.counters.controlErrors['bad-ring']).toBe(6);
    // Every fd a rogue passed (regions, eventfds, a pipe, a stray one) was closed again.
    await waitFor(() => openFds() === fds, 2000, `fds back to ${fds} (now ${openFds()})`);
  });

  it('drops a violating ring, disconnects the peer, never touches memory outside the regions', async () => {
    const fds = openFds();
    for (const [scenario, node, counter, traffic] of ringCases) {
      const before = errorCount(node, counter);
      const done = rogue(socket, scenario);
      if (traffic) {
        // The server only reads client-offered buffers when it transmits.
        await memif.waitMemifConnected('ut-s', 3000);
        pg.addStream('ut-p', { name: `ut-${scenario}`, packets: frames(1, 64), count: 5, rate: 50, enabled: true });
      }
      const r = await done;
      if (traffic) pg.deleteStream(`ut-${scenario}`);
      expect(r.note, scenario).toEqual({ connected: true });
      expect(r.closed, `${scenario} disconnected`).toBe(true);
      expect(r.disconnect, scenario).toMatch(counter === 'bad-ring-index' ? /invalid ring index from peer/ : /invalid descriptor from peer/);
      expect(errorCount(node, counter) - before, scenario).toBe(1n);
      await waitFor(() => memif.showMemif('ut-s')[0]!.state === 'listening', 2000, `listening after ${scenario}`);
    }
    const [d] = memif.showMemif('ut-s');
    expect(d.counters.violations).toBe(ringCases.length);
    expect(d.counters.disconnects).toBe(ringCases.length);
    expect(d.linkUp).toBe(false);
    await waitFor(() => openFds() === fds, 2000, `fds back to ${fds} (now ${openFds()})`);
    expectNoLeak();
  });

  it('seals a peer region so its owner cannot shrink it under us (SIGBUS)', async () => {
    const r = await rogue(socket, 'shrink');
    expect(r.note).toEqual({ connected: true, shrunk: false, errno: 1 });  // EPERM
  });

  it('still serves a well-behaved client afterwards', async () => {
    memif.createMemif({ name: 'ut-c', role: 'client', socket, id: 0, log2RingSize: 4 });
    pg.createPgInterface({ name: 'ut-q' });
    engine.setInterfaceState('ut-c', { adminUp: true });
    engine.setInterfaceState('ut-q', { adminUp: true });
    xconnectPair('ut-c', 'ut-q');
    await memif.waitMemifConnected('ut-s');
    pg.capture('ut-q', 100);
    const f = frames(40, 300);
    await sendWindowed('ut-p', f, 8, () => pg.captured('ut-q').length);
    pg.captured('ut-q').forEach((x, i) => expect(x.equals(f[i]!)).toBe(true));
    expectNoLeak();
  });
});
