// `quiver start -c FILE`: claims the API socket (refusing a live one, clearing a stale one),
// starts the dataplane, applies the config, serves the management API and the metrics,
// and on SIGTERM/SIGINT stops everything and removes the socket file.
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { type Server, createServer as createHttpServer } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { destination, pino, type Logger } from 'pino';
import { type Config, ConfigError, validateConfig } from '../config.js';
import { Dataplane } from '../dataplane.js';
import { type CommandContext, type Issue, sameValue } from '../feature.js';
import { handleApi } from './api.js';
import { startMetricsServer } from './metrics.js';

export function createLogger(c: Config['logging']): Logger {
  const dest =
    c.destination === 'stderr' ? 2 : c.destination === 'stdout' ? 1 : c.destination;
  return pino({ level: c.level, base: { pid: process.pid, name: 'quiver' } }, destination({ dest, sync: true, mkdir: true }));
}

/** Is a daemon answering on this socket? (A file nobody listens on is stale.) */
export function socketIsLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (live: boolean) => {
      s.destroy();
      resolve(live);
    };
    s.setTimeout(timeoutMs, () => done(true)); // a listener that does not accept yet is still someone's
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Listens on the unix socket: refuses a live one, replaces a stale one, sets the file mode. */
async function claimSocket(server: Server, path: string, mode: string, log: Logger): Promise<number> {
  mkdirSync(dirname(path), { recursive: true });
  let exists = false;
  try {
    exists = statSync(path).isSocket() || true;
  } catch {
    exists = false;
  }
  if (exists) {
    if (await socketIsLive(path)) throw new Error(`api.socket: another quiver daemon is serving ${path}`);
    log.warn({ socket: path }, 'removing a stale socket file');
    unlinkSync(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'EADDRINUSE' ? `api.socket: another quiver daemon is serving ${path}` : `api.socket: cannot listen on ${path}: ${e.message}`)),
    );
    // The socket file is created with the umask's mode; narrow it before anyone can connect.
    const old = process.umask(0o177);
    server.listen(path, () => {
      process.umask(old);
      resolve();
    });
  });
  chmodSync(path, parseInt(mode, 8));
  return statSync(path).ino;
}

export interface Daemon {
  dp: Dataplane;
  log: Logger;
  /** Validates, refuses daemon-level changes that need a restart, applies by difference. */
  apply(config: unknown, dryRun: boolean): Promise<{ changes: string[] }>;
  shutdown(reason: string): Promise<void>;
  /** What commands run with: the running config, and changes through apply. */
  context(): CommandContext;
  /** Runs fn after every earlier command and apply (one at a time). */
  serial<T>(fn: () => Promise<T>): Promise<T>;
}

function daemonRestartIssues(prev: Config, next: Config): Issue[] {
  const out: Issue[] = [];
  for (const [path, a, b] of [
    ['api.socket', prev.api.socket, next.api.socket],
    ['api.mode', prev.api.mode, next.api.mode],
    ['logging.destination', prev.logging.destination, next.logging.destination],
  ] as const)
    if (!sameValue(a, b)) out.push({ path, reason: `changing it from ${JSON.stringify(a)} to ${JSON.stringify(b)} needs a restart (quiver start); apply changes nothing` });
  return out;
}

export async function runDaemon(config: Config, opts: { onReady?: () => void } = {}): Promise<Daemon> {
  const log = createLogger(config.logging);
  let ready = false;
  let state: Daemon | undefined;
  const api = createHttpServer((req, res) => {
    if (!ready || !state) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { field: '', message: 'the daemon is starting' } }));
      return;
    }
    void handleApi(state, req, res);
  });
  const socket = config.api.socket;
  const inode = await claimSocket(api, socket, config.api.mode, log);
  const removeSocket = () => {
    try {
      if (statSync(socket).ino === inode) unlinkSync(socket);
    } catch {
      /* already gone */
    }
  };

  let dp: Dataplane;
  try {
    dp = Dataplane.start({ workers: config.workers, buffers: config.buffers, logger: log });
  } catch (e) {
    api.close();
    removeSocket();
    throw e;
  }
  // Daemon sections as started; metrics absent so the first apply opens them.
  let running: Config = { ...dp.config(), api: config.api, logging: config.logging, metrics: undefined };
  let metrics: Server | undefined;
  const stopAll = async () => {
    const closing = new Promise<void>((r) => api.close(() => r()));
    api.closeAllConnections();
    await closing;
    if (metrics) {
      const m = metrics;
      const closingMetrics = new Promise<void>((r) => m.close(() => r()));
      m.closeAllConnections();
      await closingMetrics;
    }
    dp.stop();
    removeSocket();
  };

  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  const applyNow = async (value: unknown, dryRun: boolean) => {
    const next = validateConfig(value, dryRun ? 'dry run' : 'apply');
    const refused = daemonRestartIssues(running, next);
    if (refused.length) throw new ConfigError(refused, 'apply');
    // A new metrics listener is bound before anything changes, so a taken port refuses the whole apply.
    let newMetrics: Server | undefined;
    const metricsChange = !sameValue(running.metrics, next.metrics);
    if (!dryRun && metricsChange && next.metrics) newMetrics = await startMetricsServer(dp, next.metrics.host, next.metrics.port, log).catch((e) => {
      throw new ConfigError([{ path: 'metrics.port', reason: (e as Error).message.replace(/^metrics\.port: /, '') }], 'apply');
    });
    let result;
    try {
      result = await dp.apply(next, { dryRun });
    } catch (e) {
      newMetrics?.close();
      throw e;
    }
    const changes = [...result.changes];
    if (metricsChange) changes.push(next.metrics ? `metrics on ${next.metrics.host}:${next.metrics.port}` : 'metrics off');
    if (running.logging.level !== next.logging.level) changes.push(`logging level ${next.logging.level}`);
    if (!dryRun) {
      if (metricsChange) {
        metrics?.close();
        metrics = newMetrics;
      }
      log.level = next.logging.level;
      running = next;
      log.info({ changes }, 'config applied');
    }
    return { changes };
  };
  const apply = (value: unknown, dryRun: boolean) => serial(() => applyNow(value, dryRun));

  let shuttingDown = false;
  const daemon: Daemon = {
    dp, log, apply,
    context: () => ({
      dp, log,
      config: () => structuredClone(running),
      // Commands that change the running config go through the same queue as apply.
      change: (mutate) => {
        const draft = structuredClone(running);
        mutate(draft);
        return applyNow(draft, false); // commands already run inside serial()
      },
    }),
    serial,
    async shutdown(reason) {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info({ reason }, 'shutting down');
      await stopAll();
    },
  };
  try {
    await apply(config, false);
  } catch (e) {
    await stopAll();
    throw e;
  }
  dp.keepSamplingRates();
  state = daemon;
  ready = true;
  log.info({ socket, mode: config.api.mode, workers: config.workers.count, interfaces: (config.interfaces ?? []).length }, 'quiver daemon ready');
  opts.onReady?.();
  return daemon;
}
