// l2 cross-connect as a config feature: the worked example of a FeatureModule (schema,
// cross-reference validation, plan by difference, quiverctl commands). See src/README.md.
import { z } from 'zod';
import { type Change, type FeatureModule, type Issue, checkInterface, defineCommand, registerFeature } from '../../src/feature.js';

const XconnectSchema = z.array(
  z
    .object({
      rx: z.string().min(1),
      tx: z.string().min(1),
      /** Also tx -> rx (the usual case). */
      bidirectional: z.boolean().default(true),
    })
    .strict(),
);
type Xconnect = z.output<typeof XconnectSchema>;

/** rx -> tx for every direction the section asks for, with the path that asked. */
function directions(section: Xconnect | undefined): Map<string, { tx: string; path: string }> {
  const out = new Map<string, { tx: string; path: string }>();
  (section ?? []).forEach((x, i) => {
    if (!out.has(x.rx)) out.set(x.rx, { tx: x.tx, path: `xconnect[${i}]` });
    if (x.bidirectional && !out.has(x.tx)) out.set(x.tx, { tx: x.rx, path: `xconnect[${i}]` });
  });
  return out;
}

const showXconnect = defineCommand({
  name: 'show xconnect',
  summary: 'l2 cross-connects: rx interface -> tx interface',
  schema: z.object({}).strict(),
  run: (_args, { dp }) => {
    const list = dp.interfaces.list();
    const name = (i: number | null) => list.find((x) => x.index === i)?.name ?? String(i);
    return list.filter((i) => i.mode === 'xconnect').map((i) => ({ rx: i.name, tx: name(i.xconnectPeer) }));
  },
  format: (rows) => (rows.length ? rows.map((r) => `${r.rx.padEnd(24)} -> ${r.tx}`).join('\n') : 'no cross-connects'),
});

const setXconnect = defineCommand({
  name: 'set interface l2 xconnect',
  summary: 'cross-connect rx to tx (one direction, as VPP); tx "none" removes it',
  args: [
    { name: 'rx', description: 'receiving interface', required: true },
    { name: 'tx', description: 'transmitting interface, or none', required: true },
  ],
  schema: z.object({ rx: z.string().min(1), tx: z.string().min(1) }).strict(),
  run: (args, ctx) =>
    ctx.change((draft) => {
      const list = ((draft.xconnect as Xconnect | undefined) ?? []).flatMap((x) =>
        // Split pairs touching rx into single directions so only rx's direction changes.
        x.bidirectional && (x.rx === args.rx || x.tx === args.rx)
          ? [{ rx: x.rx, tx: x.tx, bidirectional: false }, { rx: x.tx, tx: x.rx, bidirectional: false }]
          : [x],
      );
      const kept = list.filter((x) => x.rx !== args.rx);
      if (args.tx !== 'none') kept.push({ rx: args.rx, tx: args.tx, bidirectional: false });
      draft.xconnect = kept;
    }),
  format: (r) => (r.changes.length ? r.changes.join('\n') : 'no change'),
});

export const xconnectFeature: FeatureModule<typeof XconnectSchema> = {
  key: 'xconnect',
  description: 'l2 cross-connects: frames received on rx leave on tx unchanged',
  schema: XconnectSchema,
  order: 200,
  validate(section, config) {
    const issues: Issue[] = [];
    const claimed = new Map<string, string>();
    (section ?? []).forEach((x, i) => {
      const path = `xconnect[${i}]`;
      issues.push(...checkInterface(config, x.rx, `${path}.rx`), ...checkInterface(config, x.tx, `${path}.tx`));
      if (x.rx === x.tx) return void issues.push({ path: `${path}.tx`, reason: `cannot cross-connect ${x.rx} to itself` });
      for (const [rx, field] of x.bidirectional ? [[x.rx, 'rx'], [x.tx, 'tx']] : [[x.rx, 'rx']]) {
        const other = claimed.get(rx!);
        if (other) issues.push({ path: `${path}.${field}`, reason: `${rx} already sends to another interface (${other})` });
        else claimed.set(rx!, path);
      }
    });
    return issues;
  },
  plan(prevSection, nextSection, { dp, interfaceReset }) {
    const prev = directions(prevSection);
    const next = directions(nextSection);
    const changed = (rx: string, a?: { tx: string }, b?: { tx: string }) =>
      !a || !b || a.tx !== b.tx || interfaceReset(rx) || interfaceReset(a.tx) || interfaceReset(b.tx);
    const remove: Change[] = [];
    const add: Change[] = [];
    for (const [rx, p] of prev)
      if (changed(rx, p, next.get(rx)))
        remove.push({
          describe: `remove xconnect ${rx} -> ${p.tx}`,
          apply: () => dp.xconnect(rx, null),
          revert: () => dp.xconnect(rx, p.tx),
        });
    for (const [rx, n] of next)
      if (changed(rx, prev.get(rx), n))
        add.push({
          describe: `xconnect ${rx} -> ${n.tx}`,
          path: n.path,
          apply: () => dp.xconnect(rx, n.tx),
          revert: () => dp.xconnect(rx, null),
        });
    return { remove, add };
  },
  commands: [showXconnect, setXconnect],
};

registerFeature(xconnectFeature);
