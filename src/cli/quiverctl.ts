#!/usr/bin/env node
// quiverctl: the operator's CLI in VPP's vocabulary. Every command comes from the registry
// (src/feature.ts): core ones and those features register, so `quiverctl help` lists them all.
// Each runs in the daemon over the management API; the text is made here from the JSON.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ApiClient, socketPath } from '../client.js';
import '../features/index.js';
import { type CommandSpec, commands } from '../feature.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Every command, grouped by verb: what `quiverctl help` prints. */
export function helpText(): string {
  const list = [...commands()].sort((a, b) => a.name.localeCompare(b.name));
  const usage = (c: CommandSpec) =>
    [c.name, ...(c.args ?? []).map((a) => (a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`)), ...(c.options ?? []).map((o) => `[${o.flags}]`)].join(' ');
  const width = Math.min(58, Math.max(...list.map((c) => usage(c).length)) + 2);
  const lines = [
    'usage: quiverctl [-s|--socket PATH] [--json] <command> [args]',
    '',
    `Every command answers over the management API (socket: ${socketPath()}); --json prints the API's JSON.`,
    '',
  ];
  let verb = '';
  for (const c of list) {
    const v = c.name.split(' ')[0]!;
    if (v !== verb) {
      if (verb) lines.push('');
      verb = v;
    }
    const u = usage(c);
    lines.push(u.length >= width ? `  ${u}\n  ${' '.repeat(width)}${c.summary}` : `  ${u.padEnd(width)}${c.summary}`);
  }
  lines.push('', '  help                                    this list');
  return lines.join('\n') + '\n';
}

function buildProgram(io: Io, run: (spec: CommandSpec, args: Record<string, unknown>, json: boolean, socket: string) => Promise<void>): Command {
  const program = new Command('quiverctl');
  program
    .description('Quiver operator CLI')
    .option('-s, --socket <path>', 'management API socket ($QUIVER_SOCKET, /run/quiver/quiver.sock)')
    .option('--json', 'print the JSON answer')
    .helpCommand(false)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(quiverctl help lists every command)');
  program.command('help').description('list every command').argument('[words...]').action(() => io.out(helpText()));

  // Commands are a tree of words: `show` -> `interface` -> `rx-placement`.
  const nodes = new Map<string, Command>([['', program]]);
  const nodeFor = (words: string[]): Command => {
    const key = words.join(' ');
    const found = nodes.get(key);
    if (found) return found;
    const parent = nodeFor(words.slice(0, -1));
    const cmd = parent.command(words[words.length - 1]!).exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    cmd.helpCommand(false);
    nodes.set(key, cmd);
    return cmd;
  };
  for (const spec of [...commands()].sort((a, b) => a.name.split(' ').length - b.name.split(' ').length)) {
    const cmd = nodeFor(spec.name.split(' '));
    cmd.description(spec.summary);
    for (const a of spec.args ?? []) cmd.argument(a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`, a.description);
    for (const o of spec.options ?? []) cmd.option(o.flags, o.description);
    cmd.option('--json', 'print the JSON answer');
    cmd.action(async (...params: unknown[]) => {
      const self = params[params.length - 1] as Command;
      const args: Record<string, unknown> = {};
      (spec.args ?? []).forEach((a, i) => {
        if (params[i] !== undefined) args[a.name] = params[i];
      });
      const opts = self.optsWithGlobals() as Record<string, unknown>;
      for (const o of spec.options ?? []) if (opts[o.name] !== undefined) args[o.name] = opts[o.name];
      await run(spec, args, opts.json === true, socketPath(opts.socket as string | undefined));
    });
  }
  // A verb alone (`quiverctl show`) lists its commands.
  for (const [key, cmd] of nodes) if (key && !commands().some((c) => c.name === key)) cmd.action(() => io.out(cmd.helpInformation()));
  return program;
}

/** Runs quiverctl with these arguments; returns the exit code (0 ok, 1 refused, 2 usage). */
export async function runQuiverctl(argv: string[], io: Io = stdio): Promise<number> {
  if (argv.length === 0) {
    io.out(helpText());
    return 0;
  }
  let code = 0;
  const program = buildProgram(io, async (spec, args, json, socket) => {
    const client = new ApiClient(socket);
    const result = await client.command(spec.name, args);
    if (json) return io.out(`${JSON.stringify(result, null, 2)}\n`);
    const text = spec.format ? spec.format(result as never, args as never) : JSON.stringify(result, null, 2);
    if (typeof args.svg === 'string' && text.startsWith('digraph')) {
      // A command that answers DOT with an svg option: render with graphviz's dot.
      try {
        execFileSync('dot', ['-Tsvg', '-o', args.svg], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
      } catch (e) {
        throw new Error(`svg: dot (graphviz) failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
      }
      return io.out(`wrote ${args.svg}\n`);
    }
    io.out(text.endsWith('\n') ? text : `${text}\n`);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      code = e.exitCode === 0 ? 0 : 2;
    } else {
      io.err(`${e instanceof Error ? e.message : String(e)}\n`);
      code = 1;
    }
  }
  return code;
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && realpathSync(process.argv[1]) === self) process.exitCode = await runQuiverctl(process.argv.slice(2));
