#!/usr/bin/env node
// `quiver`: runs the dataplane. `start` is the daemon, `apply` changes a running one by
// difference, `check` validates a config file offline, `demo` needs nothing at all.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parseDocument } from 'yaml';
import { ApiClient, socketPath } from '../client.js';
import { ConfigError, loadConfigFile } from '../config.js';
import { runDaemon } from '../daemon/daemon.js';
import { runPgDemo } from '../demo.js';
import { ensureTools } from '../lab/tools.js';
import { runNetnsDemo } from '../lab/demo.js';
import { runLab } from '../lab/lab.js';
import { QuiverError } from '../errors.js';
import { DEFAULT_BIN_DIR, DEFAULT_CONF_DIR, DEFAULT_CONF_FILE, installCni } from '../../cni/install.js';

const program = new Command();
program.name('quiver').description('Quiver userspace dataplane').showHelpAfterError();

function fail(e: unknown, code = 1): never {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(code);
}

program
  .command('start')
  .description('run the daemon: start the dataplane, apply the config, serve the management API')
  .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
  .action(async (o: { config: string }) => {
    let config;
    try {
      config = loadConfigFile(o.config);
    } catch (e) {
      fail(e, 2);
    }
    let daemon;
    try {
      daemon = await runDaemon(config);
    } catch (e) {
      fail(e);
    }
    const d = daemon;
    for (const sig of ['SIGTERM', 'SIGINT'] as const)
      process.once(sig, () => {
        void d.shutdown(sig).then(
          () => process.exit(0),
          (e) => fail(e),
        );
      });
    process.once('uncaughtException', (e) => {
      d.log.fatal({ err: e.message, stack: e.stack }, 'uncaught exception');
      void d.shutdown('uncaught exception').finally(() => process.exit(70));
    });
  });

program
  .command('apply')
  .description('change a running daemon to this config, by difference (whole or not at all)')
  .requiredOption('-f, --file <file>', 'config file (YAML or JSON)')
  .option('-s, --socket <path>', 'API socket (default: the file\'s api.socket, $QUIVER_SOCKET, /run/quiver/quiver.sock)')
  .option('--dry-run', 'print the steps without taking them')
  .action(async (o: { file: string; socket?: string; dryRun?: boolean }) => {
    let value: unknown;
    try {
      const doc = parseDocument(readFileSync(o.file, 'utf8'), { uniqueKeys: true });
      if (doc.errors.length) throw new ConfigError([{ path: `line ${doc.errors[0]!.linePos?.[0]?.line ?? '?'}`, reason: doc.errors[0]!.message.split('\n')[0]! }], o.file);
      value = doc.toJS() ?? {};
    } catch (e) {
      fail(e, 2);
    }
    const fromFile = (value as { api?: { socket?: unknown } })?.api?.socket;
    const client = new ApiClient(socketPath(o.socket ?? (typeof fromFile === 'string' ? fromFile : undefined)));
    try {
      const r = await client.apply(value, o.dryRun ?? false);
      if (r.changes.length === 0) console.log('no change: the daemon already runs this config');
      else console.log(`${o.dryRun ? 'would apply' : 'applied'} ${r.changes.length} change(s):\n${r.changes.map((c) => `  ${c}`).join('\n')}`);
    } catch (e) {
      fail(e, (e as { issues?: unknown }).issues ? 2 : 1);
    }
  });

program
  .command('check')
  .description('validate a config file without running anything')
  .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
  .action((o: { config: string }) => {
    try {
      loadConfigFile(o.config);
      console.log(`${o.config}: valid`);
    } catch (e) {
      fail(e, 2);
    }
  });

program
  .command('install-cni')
  .description('install the quiver-cni plugin into a CNI bin directory and (with --conf-dir) a network config list')
  .option('--bin-dir <dir>', 'CNI bin directory to write into', DEFAULT_BIN_DIR)
  .option('--host-bin-dir <dir>', 'the same directory as the host sees it (when installing from a container)')
  .option('--copy-node', 'copy the node executable next to the plugin (hosts without Node.js)')
  .option('--conf-dir <dir>', `write a config list into this directory (e.g. ${DEFAULT_CONF_DIR})`)
  .option('--conf-file <name>', 'config list file name', DEFAULT_CONF_FILE)
  .option('--conflist <file>', 'config list to install (default: Quiver as the primary network, bridge domain 1)')
  .action((o: { binDir: string; hostBinDir?: string; copyNode?: boolean; confDir?: string; confFile: string; conflist?: string }) => {
    try {
      const r = installCni({ binDir: o.binDir, hostBinDir: o.hostBinDir, copyNode: o.copyNode, confDir: o.confDir, confFile: o.confFile, conflist: o.conflist });
      console.log(`installed ${r.plugin}${r.conflist ? `\nwrote ${r.conflist}` : ''}`);
    } catch (e) {
      fail(e, e instanceof QuiverError ? 2 : 1);
    }
  });

program
  .command('demo')
  .description(
    'two namespaces joined through Quiver over AF_XDP (AF_PACKET if AF_XDP cannot attach): ping, iperf3, then show runtime and interfaces; --pg: a pg stream through the graph instead',
  )
  .option('-s, --seconds <n>', 'iperf3 (or pg) duration in seconds', '2')
  .option('--driver <driver>', 'force af_xdp or af_packet')
  .option('--pg', 'no namespaces: forward a pg stream through ethernet-input and l2-xconnect')
  .option('--size <bytes>', 'pg frame size', '64')
  .action(async (o: { seconds: string; size: string; pg?: boolean; driver?: string }) => {
    try {
      if (o.pg) {
        const r = await runPgDemo({ seconds: Number(o.seconds), size: Number(o.size) });
        if (r.leaked !== 0) process.exitCode = 1;
        return;
      }
      if (o.driver && o.driver !== 'af_xdp' && o.driver !== 'af_packet') fail(new Error(`--driver: '${o.driver}' is not af_xdp or af_packet`), 2);
      ensureTools(['ip', 'ping', 'iperf3'], (l) => console.log(l));
      const r = await runNetnsDemo({ seconds: Number(o.seconds), driver: o.driver as 'af_xdp' | 'af_packet' | undefined });
      if (!r.pingOk || r.leaked !== 0) process.exitCode = 1;
    } catch (e) {
      fail(e);
    }
  });

program
  .command('lab')
  .description('build namespaces with veth pairs for Quiver to attach (198.18.0.0/15, 2001:db8::/32); removed on Ctrl-C')
  .option('--hosts <n>', 'how many namespaces', '2')
  .option('--prefix <p>', 'name prefix of everything created', 'qlab-')
  .action(async (o: { hosts: string; prefix: string }) => {
    try {
      ensureTools(['ip'], (l) => console.log(l));
      await runLab({ hosts: Number(o.hosts), prefix: o.prefix });
    } catch (e) {
      fail(e);
    }
  });
await program.parseAsync();
