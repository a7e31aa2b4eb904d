// `quiver install-cni`: puts quiver-cni into a CNI bin directory and (optionally) a network
// config list into the CNI config directory. Every file appears whole (written aside, then
// renamed), because a kubelet may run the plugin or read the config at any moment.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { packageRoot } from '../src/addon.js';
import { QuiverError } from '../src/errors.js';
import { decode, parseNetConf } from './plugin/config.js';
import { CniError } from './plugin/spec.js';

export const DEFAULT_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CONF_FILE = '10-quiver.conflist';
export const PLUGIN_NAME = 'quiver-cni';

export interface InstallOptions {
  /** Where to write the plugin (as this process sees it). */
  binDir?: string;
  /** The same directory as the host's runtime sees it (differs inside a container: /host/opt/cni/bin vs /opt/cni/bin). */
  hostBinDir?: string;
  /** Copy the node executable next to the plugin, for hosts without Node.js. */
  copyNode?: boolean;
  /** The node the wrapper runs when not copied (default: this process's). */
  nodePath?: string;
  /** Write a config list into this directory; nothing is written when absent. */
  confDir?: string;
  confFile?: string;
  /** The config list to write: a file path, or an object; default: defaultConflist(). */
  conflist?: string | Record<string, unknown>;
}

export interface InstallResult {
  plugin: string;
  files: string[];
  conflist?: string;
}

/** A config list for Quiver as the primary network: pods in bridge domain 1 over tap, host-local IPAM. */
export function defaultConflist(): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    cniVersions: ['1.0.0', '1.1.0'],
    name: 'quiver',
    plugins: [
      {
        type: PLUGIN_NAME,
        attachment: 'tap',
        bridgeDomain: 1,
        mtu: 1500,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: '198.18.0.0/16', gateway: '198.18.0.1' }], [{ subnet: '2001:db8:1::/64', gateway: '2001:db8:1::1' }]],
          routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
        },
        capabilities: { mac: true, ips: true },
      },
    ],
  };
}

/** Checks a config list (the quiver-cni entries against the plugin's own validation). */
export function validateConflist(list: unknown, source: string): void {
  const l = list as { cniVersion?: unknown; name?: unknown; plugins?: unknown };
  if (!l || typeof l !== 'object') throw new QuiverError(source, 'is not a JSON object');
  if (!Array.isArray(l.plugins) || l.plugins.length === 0) throw new QuiverError(`${source}: plugins`, 'must be a non-empty list');
  l.plugins.forEach((p, i) => {
    const pc = p as Record<string, unknown>;
    if (typeof pc?.type !== 'string') throw new QuiverError(`${source}: plugins[${i}].type`, 'is required');
    if (pc.type !== PLUGIN_NAME) return;
    try {
      // The runtime injects name and cniVersion from the list into each plugin's config.
      parseNetConf(decode(JSON.stringify({ ...pc, name: l.name, cniVersion: l.cniVersion })));
    } catch (e) {
      throw new QuiverError(`${source}: plugins[${i}]`, e instanceof CniError ? e.msg : (e as Error).message);
    }
  });
}

/** The compiled plugin: dist/cni of the package (also when this module runs from source). */
function compiledCniDir(): string {
  return join(packageRoot(), 'dist', 'cni');
}

function writeWhole(file: string, content: string | Buffer, mode: number): void {
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}`);
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function installCni(o: InstallOptions = {}): InstallResult {
  const binDir = o.binDir ?? DEFAULT_BIN_DIR;
  const hostBinDir = o.hostBinDir ?? binDir;
  const src = compiledCniDir();
  if (!existsSync(join(src, 'plugin', 'main.js'))) throw new QuiverError('install-cni', `${src}/plugin/main.js is missing: build first (npx tsc -p .)`);
  mkdirSync(binDir, { recursive: true });

  // The plugin's modules go into quiver-cni.d/, built aside and swapped in whole.
  const libName = `${PLUGIN_NAME}.d`;
  const lib = join(binDir, libName);
  const staging = join(binDir, `.${libName}.new-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'plugin'), { recursive: true });
  const files: string[] = [];
  for (const f of readdirSync(join(src, 'plugin')).filter((f) => f.endsWith('.js'))) {
    copyFileSync(join(src, 'plugin', f), join(staging, 'plugin', f));
    files.push(join(lib, 'plugin', f));
  }
  copyFileSync(join(src, 'protocol.js'), join(staging, 'protocol.js'));
  files.push(join(lib, 'protocol.js'));
  // The modules are ES modules; without node_modules around them, say so here.
  writeFileSync(join(staging, 'package.json'), JSON.stringify({ name: 'quiver-cni', private: true, type: 'module' }) + '\n');
  let node = o.nodePath ?? process.execPath;
  if (o.copyNode) {
    copyFileSync(process.execPath, join(staging, 'node'));
    chmodSync(join(staging, 'node'), 0o755);
    node = join(hostBinDir, libName, 'node');
  }
  const old = join(binDir, `.${libName}.old-${process.pid}`);
  if (existsSync(lib)) renameSync(lib, old);
  renameSync(staging, lib);
  rmSync(old, { recursive: true, force: true });

  const plugin = join(binDir, PLUGIN_NAME);
  const entry = join(hostBinDir, libName, 'plugin', 'main.js');
  writeWhole(plugin, `#!/bin/sh\n# quiver-cni, installed by quiver install-cni\nexec ${shellQuote(node)} ${shellQuote(entry)} "$@"\n`, 0o755);
  files.push(plugin);

  let conflist: string | undefined;
  if (o.confDir) {
    const list = typeof o.conflist === 'string' ? JSON.parse(readFileSync(o.conflist, 'utf8')) : (o.conflist ?? defaultConflist());
    validateConflist(list, typeof o.conflist === 'string' ? o.conflist : 'conflist');
    mkdirSync(o.confDir, { recursive: true });
    conflist = join(o.confDir, o.confFile ?? DEFAULT_CONF_FILE);
    writeWhole(conflist, JSON.stringify(list, null, 2) + '\n', 0o644);
  }
  return { plugin, files, conflist };
}
