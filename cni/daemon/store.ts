// The daemon's record of CNI attachments: one JSON file, rewritten atomically (temp file,
// fsync, rename) on every change, so a daemon that restarts or crashes finds exactly the
// attachments that were acknowledged to the plugin.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AttachmentKey, AttachmentRecord } from '../protocol.js';

export const DEFAULT_STATE_FILE = '/var/lib/quiver/cni/attachments.json';
const FORMAT = 1;

export function keyOf(k: AttachmentKey): string {
  return `${k.network}/${k.containerId}/${k.ifname}`;
}

export class AttachmentStore {
  private readonly records = new Map<string, AttachmentRecord>();

  constructor(readonly file: string) {}

  /** Reads the file if there is one. A file that cannot be read is an error, never ignored. */
  load(): AttachmentRecord[] {
    this.records.clear();
    if (!existsSync(this.file)) return [];
    let doc: { format?: number; attachments?: AttachmentRecord[] };
    try {
      doc = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new Error(`cni state file ${this.file}: ${(e as Error).message} (move it away to start without the recorded attachments)`);
    }
    if (doc.format !== FORMAT || !Array.isArray(doc.attachments))
      throw new Error(`cni state file ${this.file}: not a format ${FORMAT} attachment list`);
    for (const r of doc.attachments) this.records.set(keyOf(r), r);
    return [...this.records.values()];
  }

  get(k: AttachmentKey): AttachmentRecord | undefined {
    return this.records.get(keyOf(k));
  }

  list(network?: string): AttachmentRecord[] {
    const all = [...this.records.values()];
    return network === undefined ? all : all.filter((r) => r.network === network);
  }

  get size(): number {
    return this.records.size;
  }

  put(r: AttachmentRecord): void {
    const k = keyOf(r);
    const before = this.records.get(k);
    this.records.set(k, r);
    try {
      this.save();
    } catch (e) {
      if (before) this.records.set(k, before);
      else this.records.delete(k);
      throw e;
    }
  }

  delete(k: AttachmentKey): void {
    const key = keyOf(k);
    const before = this.records.get(key);
    if (!before) return;
    this.records.delete(key);
    try {
      this.save();
    } catch (e) {
      this.records.set(key, before);
      throw e;
    }
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ format: FORMAT, attachments: [...this.records.values()] }, null, 1) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
