// A client of the management API: JSON over HTTP on the daemon's unix socket. quiverctl,
// `quiver apply`, the CNI plugin and the kube agent use it.
import { request } from 'node:http';
import { DEFAULT_SOCKET } from './config.js';
import { QuiverError } from './errors.js';

export interface CommandInfo {
  name: string;
  summary: string;
  args: { name: string; description: string; required?: boolean; variadic?: boolean }[];
  options: { name: string; flags: string; description: string }[];
}

/** The socket path: an explicit one, else $QUIVER_SOCKET, else /run/quiver/quiver.sock. */
export function socketPath(explicit?: string): string {
  return explicit ?? process.env.QUIVER_SOCKET ?? DEFAULT_SOCKET;
}

export class ApiClient {
  constructor(readonly socket: string = socketPath()) {}

  /** One request; a non-2xx answer throws a QuiverError carrying the daemon's field and reason. */
  request<T = unknown>(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket, method, path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              return reject(new QuiverError('api', `answered ${res.statusCode} with something that is not JSON: ${text.slice(0, 200)}`));
            }
            if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) return resolve(json as T);
            const e = (json as { error?: { field?: string; message?: string; issues?: unknown } })?.error;
            const err = new QuiverError(e?.field ?? '', (e?.message ?? text).replace(e?.field ? `${e.field}: ` : '', ''));
            if (e?.issues) Object.assign(err, { issues: e.issues });
            if (e?.message) err.message = e.message;
            reject(err);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.socket} within ${timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED')
          reject(new QuiverError('socket', `no quiver daemon at ${this.socket} (${e.code}); start one with quiver start -c FILE`));
        else if (e.code === 'EACCES') reject(new QuiverError('socket', `permission denied on ${this.socket} (the API is root-only by default)`));
        else reject(e);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Runs a command by its words: `show interface`, {name: 'pg0'}. */
  command<T = unknown>(name: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.request<T>('POST', `/v1/${name.trim().split(/\s+/).join('/')}`, args);
  }
  commands(): Promise<CommandInfo[]> {
    return this.request('GET', '/v1/commands');
  }
  config<T = unknown>(): Promise<T> {
    return this.request('GET', '/v1/config');
  }
  apply(config: unknown, dryRun = false): Promise<{ changes: string[] }> {
    return this.request('PUT', '/v1/config', { config, dryRun });
  }
}
