// A container runtime's side of CNI, as libcni does it (there is no cnitool on Debian): finds
// plugins through CNI_PATH, derives each plugin's config from a config list (name and
// cniVersion injected, runtimeConfig from capabilities, prevResult chained), caches the ADD
// result for CHECK and DEL, runs DEL in reverse order, GC with cni.dev/valid-attachments.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCni } from '../../cni/install.js';
import { findPlugin, runPlugin } from '../../cni/plugin/exec.js';

export const SYSTEM_CNI_DIR = '/usr/lib/cni';

export interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs (Kubernetes: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, IgnoreUnknown). */
  args?: Record<string, string>;
  /** Values for the plugins' declared capabilities (mac, ips, ...). */
  capabilityArgs?: Record<string, unknown>;
}

export interface Invocation {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
  [k: string]: unknown;
}

/** Installs quiver-cni with install-cni into a fresh bin dir; CNI_PATH is it plus Debian's plugins. */
export class CniRuntime {
  readonly binDir: string;
  readonly path: string[];
  private readonly cache = new Map<string, Record<string, unknown>>();

  constructor() {
    this.binDir = mkdtempSync(join(tmpdir(), 'quiver-cni-bin-'));
    installCni({ binDir: this.binDir });
    this.path = [this.binDir, SYSTEM_CNI_DIR];
  }

  cleanup(): void {
    rmSync(this.binDir, { recursive: true, force: true });
  }

  env(command: string, a: Partial<Attachment> = {}, extra: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_PATH: this.path.join(':') };
    if (a.containerId) env.CNI_CONTAINERID = a.containerId;
    if (a.netns) env.CNI_NETNS = a.netns;
    if (a.ifname) env.CNI_IFNAME = a.ifname;
    if (a.args) env.CNI_ARGS = Object.entries(a.args).map(([k, v]) => `${k}=${v}`).join(';');
    return { ...env, ...extra };
  }

  /** One raw invocation of a plugin (by type), stdin as given. */
  async exec(type: string, env: Record<string, string | undefined>, stdin: string): Promise<Invocation> {
    const file = findPlugin(type, this.path);
    if (!file) throw new Error(`plugin ${type} not in ${this.path.join(':')}`);
    const r = await runPlugin(file, env, stdin);
    let json: Record<string, unknown> | undefined;
    try {
      json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  /** libcni's buildOneConfig: the list's name and version, runtimeConfig from capabilities, prevResult. */
  pluginConfig(list: ConfList, plugin: Record<string, unknown>, a: Partial<Attachment>, prevResult?: unknown): Record<string, unknown> {
    const c: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a.capabilityArgs ?? {})) if (caps[k]) rc[k] = v;
    if (Object.keys(rc).length) c.runtimeConfig = rc;
    if (prevResult !== undefined) c.prevResult = prevResult;
    return c;
  }

  private cacheKey(list: ConfList, a: Partial<Attachment>): string {
    return `${list.name}/${a.containerId}/${a.ifname}`;
  }

  /** ADD through the whole list; the final result is cached (as libcni does) and returned. */
  async add(list: ConfList, a: Attachment): Promise<Invocation> {
    let prev: unknown;
    let last: Invocation | undefined;
    for (const p of list.plugins) {
      last = await this.exec(p.type as string, this.env('ADD', a), JSON.stringify(this.pluginConfig(list, p, a, prev)));
      if (last.code !== 0) return last;
      prev = last.json;
    }
    this.cache.set(this.cacheKey(list, a), prev as Record<string, unknown>);
    return last!;
  }

  cachedResult(list: ConfList, a: Partial<Attachment>): Record<string, unknown> | undefined {
    return this.cache.get(this.cacheKey(list, a));
  }

  async check(list: ConfList, a: Attachment): Promise<Invocation> {
    const prev = this.cachedResult(list, a);
    let last: Invocation | undefined;
    for (const p of list.plugins) {
      last = await this.exec(p.type as string, this.env('CHECK', a), JSON.stringify(this.pluginConfig(list, p, a, prev)));
      if (last.code !== 0) return last;
    }
    return last!;
  }

  /** DEL in reverse order with the cached result as prevResult; the cache entry goes on success. */
  async del(list: ConfList, a: Partial<Attachment>): Promise<Invocation> {
    const prev = this.cachedResult(list, a);
    let last: Invocation | undefined;
    for (const p of [...list.plugins].reverse()) {
      last = await this.exec(p.type as string, this.env('DEL', a), JSON.stringify(this.pluginConfig(list, p, a, prev)));
      if (last.code !== 0) return last;
    }
    this.cache.delete(this.cacheKey(list, a));
    return last!;
  }

  async gc(list: ConfList, valid: { containerID: string; ifname: string }[]): Promise<Invocation> {
    let last: Invocation | undefined;
    for (const p of list.plugins) {
      const c = { ...this.pluginConfig(list, p, {}), 'cni.dev/valid-attachments': valid };
      last = await this.exec(p.type as string, this.env('GC'), JSON.stringify(c));
      if (last.code !== 0) return last;
    }
    return last!;
  }

  async status(list: ConfList): Promise<Invocation> {
    let last: Invocation | undefined;
    for (const p of list.plugins) {
      last = await this.exec(p.type as string, this.env('STATUS'), JSON.stringify(this.pluginConfig(list, p, {})));
      if (last.code !== 0) return last;
    }
    return last!;
  }
}
