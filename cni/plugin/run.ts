// One invocation of quiver-cni, as a function: environment and stdin in, stdout text and exit
// status out. main.ts wraps it for the executable.
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, type Context } from './commands.js';
import { configVersion, decode, parseNetConf } from './config.js';
import { readEnv } from './env.js';
import { CniError, ErrorCode, isVersion, LATEST_VERSION, resultFor, SUPPORTED_VERSIONS } from './spec.js';

/** Runs one invocation; returns what to print on stdout and the exit status. */
export async function run(env: NodeJS.ProcessEnv, stdin: string, log: (l: string) => void): Promise<{ out: string; status: number }> {
  // The version errors are reported in: the config's when it can be read, else ours.
  let errVersion: string = LATEST_VERSION;
  try {
    const cniEnv = readEnv(env);
    if (cniEnv.command === 'VERSION') {
      // stdin holds {"cniVersion": "..."}; an empty stdin is tolerated (older runtimes).
      const asked = stdin.trim() ? decode(stdin).cniVersion : undefined;
      const v = isVersion(asked) ? asked : LATEST_VERSION;
      return { out: JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED_VERSIONS }), status: 0 };
    }
    const raw = decode(stdin);
    if (isVersion(raw.cniVersion)) errVersion = raw.cniVersion;
    configVersion(raw);
    const conf = parseNetConf(raw);
    const ctx: Context = { conf, env: cniEnv, base: env, log };
    switch (cniEnv.command) {
      case 'ADD':
        return { out: JSON.stringify(resultFor(await cmdAdd(ctx), conf.cniVersion)), status: 0 };
      case 'DEL':
        await cmdDel(ctx);
        break;
      case 'CHECK':
        await cmdCheck(ctx);
        break;
      case 'GC':
        await cmdGc(ctx);
        break;
      case 'STATUS':
        await cmdStatus(ctx);
        break;
    }
    return { out: '', status: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrorCode.IoFailure, `quiver-cni: ${(e as Error).message ?? String(e)}`);
    log(`error ${err.code}: ${err.message}`);
    return { out: JSON.stringify(err.toJSON(errVersion)), status: 1 };
  }
}
