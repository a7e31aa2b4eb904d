// The management API: JSON over HTTP on the daemon's unix socket.
//   GET  /v1/commands           every command (core and features'), with args and options
//   POST /v1/<words>            runs a command, e.g. POST /v1/show/interface {"name":"pg0"}
//   GET  /v1/<words>?a=b        the same for commands without side effects worth a body
//   GET  /v1/config             the running config
//   PUT  /v1/config             {"config": {...}, "dryRun": false} applies by difference
// Answers are the command's JSON; errors are {"error": {"field", "message", "issues"?}}
// with 400 (bad input), 404 (no such command) or 500.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../config.js';
import { QuiverError } from '../errors.js';
import { command, commands } from '../feature.js';
import { jsonSafe } from '../show/tables.js';
import { parseOrThrow } from '../validate.js';
import type { Daemon } from './daemon.js';

const MAX_BODY = 4 << 20;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body === undefined ? null : jsonSafe(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  if (e instanceof ConfigError) return send(res, 400, { error: { field: e.field, message: e.message, issues: e.issues } });
  if (e instanceof QuiverError) return send(res, 400, { error: { field: e.field, message: e.message } });
  send(res, 500, { error: { field: '', message: e instanceof Error ? e.message : String(e) } });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new QuiverError('body', `larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new QuiverError('body', `is not JSON: ${(e as Error).message}`);
  }
}

export async function handleApi(d: Daemon, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://quiver');
  const path = url.pathname.replace(/\/+$/, '');
  const method = req.method ?? 'GET';
  try {
    if (path === '/v1/commands' && method === 'GET')
      return send(res, 200, commands().map((c) => ({ name: c.name, summary: c.summary, args: c.args ?? [], options: c.options ?? [] })));
    if (path === '/v1/config') {
      if (method === 'GET') return send(res, 200, d.context().config());
      if (method === 'PUT') {
        const body = (await readBody(req)) as { config?: unknown; dryRun?: unknown };
        if (typeof body !== 'object' || body === null || !('config' in body)) throw new QuiverError('config', 'the body is {"config": {...}, "dryRun": false}');
        return send(res, 200, await d.apply(body.config, body.dryRun === true));
      }
      return send(res, 405, { error: { field: '', message: 'GET or PUT' } });
    }
    if (!path.startsWith('/v1/')) return send(res, 404, { error: { field: '', message: `no route ${path}` } });
    const name = path.slice(4).split('/').map(decodeURIComponent).join(' ');
    const spec = command(name);
    if (!spec) return send(res, 404, { error: { field: 'command', message: `command: no command '${name}'` } });
    if (method !== 'POST' && method !== 'GET') return send(res, 405, { error: { field: '', message: 'GET or POST' } });
    const args = method === 'POST' ? await readBody(req) : Object.fromEntries(url.searchParams);
    const result = await d.serial(async () => spec.run(parseOrThrow(spec.schema, args, ''), d.context()));
    d.log.debug({ command: name }, 'command');
    return send(res, 200, result ?? {});
  } catch (e) {
    d.log.debug({ path, err: (e as Error).message }, 'request failed');
    return sendError(res, e);
  }
}
