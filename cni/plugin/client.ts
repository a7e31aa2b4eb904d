// The plugin's side of the management API: JSON over HTTP on the daemon's unix socket.
// An unreachable daemon is its own error (the commands map it to 11 or 50).
import { request } from 'node:http';

export class DaemonUnreachable extends Error {
  constructor(
    readonly socket: string,
    readonly reason: string,
  ) {
    super(`quiver daemon not reachable at ${socket} (${reason})`);
  }
}

export class DaemonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function callDaemon<T>(socket: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body ?? {}));
    const req = request(
      { socketPath: socket, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': payload.length }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            json = { error: text.slice(0, 300) };
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(json as T);
          // The management API answers {"error": {"field", "message"}}.
          const e = (json as { error?: unknown })?.error;
          const msg =
            typeof e === 'string' ? e : e && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : `HTTP ${status}`;
          // 503: the daemon is starting (restoring attachments); the runtime should retry.
          if (status === 503) return reject(new DaemonUnreachable(socket, msg));
          reject(new DaemonError(status, msg));
        });
        res.on('error', (err) => reject(new DaemonUnreachable(socket, err.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? 'no such socket: is the daemon running?' : err.code === 'ECONNREFUSED' ? 'connection refused: the daemon is not listening' : err.message;
      reject(new DaemonUnreachable(socket, why));
    });
    req.end(payload);
  });
}
