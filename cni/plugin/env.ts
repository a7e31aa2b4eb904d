// The CNI_* environment, per command, with the spec's rules for container IDs and interface
// names. A missing or malformed variable is error 4 naming the variable.
import { existsSync } from 'node:fs';
import { CniError, ErrorCode } from './spec.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, ...). */
  args: Record<string, string>;
  /** CNI_PATH split on ':'. */
  path: string[];
}

/** Which variables each command needs (spec section "Parameters"; DEL may lack CNI_NETNS). */
const REQUIRED: Record<Command, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function bad(variable: string, reason: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, `${variable}: ${reason}`);
}

/** The spec's interface name rules (what the kernel accepts). */
export function checkIfname(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 15) return `'${name}' is longer than 15 characters`;
  if (name === '.' || name === '..') return `'${name}' is not an interface name`;
  if (/[/:\s]/.test(name)) return `'${name}' contains '/', ':' or whitespace`;
  return undefined;
}

export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad('CNI_ARGS', `'${part}' is not KEY=VALUE`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND;
  if (!command) throw bad('CNI_COMMAND', `is not set (one of ${COMMANDS.join(', ')})`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw bad('CNI_COMMAND', `'${command}' is not a CNI command (one of ${COMMANDS.join(', ')})`);
  const cmd = command as Command;
  const missing = REQUIRED[cmd].filter((v) => !env[v]);
  if (missing.length) throw new CniError(ErrorCode.InvalidEnvironment, `required environment variables missing for ${cmd}: ${missing.join(', ')}`);
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID.test(containerId))
    throw bad('CNI_CONTAINERID', `'${containerId}' must start with a letter or digit and hold only letters, digits, _ . -`);
  const ifname = env.CNI_IFNAME ?? '';
  if (REQUIRED[cmd].includes('CNI_IFNAME')) {
    const why = checkIfname(ifname);
    if (why) throw bad('CNI_IFNAME', why);
  }
  const netns = env.CNI_NETNS ?? '';
  if ((cmd === 'ADD' || cmd === 'CHECK') && !existsSync(netns)) throw bad('CNI_NETNS', `${netns}: no such network namespace`);
  return {
    command: cmd,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}
