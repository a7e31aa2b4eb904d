// Apply by difference: every feature plans the steps from the running config to the next one;
// removals run first (features in reverse order), then additions (features in order). If a
// step fails, the steps already taken are reverted newest first: the dataplane is left as it
// was and the error says which step failed and why.
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import type { Dataplane } from './dataplane.js';
import { QuiverError } from './errors.js';
import { type Change, type Issue, type PlanContext, features, sameValue } from './feature.js';
import { interfaceResets } from './features/interfaces.js';

export interface ApplyResult {
  /** The steps taken (or, for a dry run, that would be taken), in order. */
  changes: string[];
}

/** Engine settings fixed for the life of the engine: a change needs `quiver start` again. */
export function restartIssues(prev: Config, next: Config): Issue[] {
  const out: Issue[] = [];
  const check = (path: string, a: unknown, b: unknown) => {
    if (!sameValue(a, b))
      out.push({ path, reason: `changing it from ${JSON.stringify(a)} to ${JSON.stringify(b)} needs a restart of the dataplane (quiver start); apply changes nothing` });
  };
  check('workers.count', prev.workers.count, next.workers.count);
  check('workers.cores', prev.workers.cores, next.workers.cores);
  check('workers.rxMode', prev.workers.rxMode, next.workers.rxMode);
  check('buffers.count', prev.buffers.count, next.buffers.count);
  check('buffers.hugepages', prev.buffers.hugepages, next.buffers.hugepages);
  return out;
}

/** The ordered steps from prev to next. Pure: nothing runs. */
export function planConfig(dp: Dataplane, prev: Config, next: Config): Change[] {
  const resets = interfaceResets(dp, prev, next);
  const ctx: PlanContext = { prev, next, log: dp.log, dp, interfaceReset: (name) => resets.has(name) };
  const plans = features().map((f) => ({ f, plan: f.plan(prev[f.key] as never, next[f.key] as never, ctx) }));
  const removes = [...plans].reverse().flatMap((p) => p.plan.remove ?? []);
  const adds = plans.flatMap((p) => p.plan.add ?? []);
  const lasts = plans.flatMap((p) => p.plan.last ?? []);
  return [...removes, ...adds, ...lasts];
}

/** Runs steps in order; on failure reverts the ones taken and rethrows naming the failed step. */
export async function runSteps(dp: Dataplane, steps: Change[]): Promise<void> {
  const done: Change[] = [];
  for (const step of steps) {
    try {
      await step.apply();
      done.push(step);
      dp.log.debug({ step: step.describe }, 'applied');
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      dp.log.warn({ step: step.describe, err: reason, reverting: done.length }, 'apply failed; reverting');
      const revertFailures: string[] = [];
      for (const d of done.reverse()) {
        try {
          await d.revert?.();
        } catch (r) {
          revertFailures.push(`${d.describe}: ${r instanceof Error ? r.message : String(r)}`);
        }
      }
      const field = e instanceof QuiverError ? e.field : '';
      const reason0 = field && reason.startsWith(`${field}: `) ? reason.slice(field.length + 2) : reason;
      const suffix = revertFailures.length ? `; reverting also failed: ${revertFailures.join('; ')}` : '; nothing was changed';
      const path = step.path ? (field ? `${step.path}.${field}` : step.path) : field;
      throw new QuiverError(path, `${reason0} (while: ${step.describe})${suffix}`);
    }
  }
}

export async function applyConfig(dp: Dataplane, prev: Config, next: Config, dryRun: boolean): Promise<ApplyResult> {
  const refused = restartIssues(prev, next);
  if (refused.length) throw new ConfigError(refused, 'apply');
  const steps = planConfig(dp, prev, next);
  if (!dryRun) await runSteps(dp, steps);
  return { changes: steps.map((s) => s.describe) };
}
