// memif as a config interface type and the `show memif` command, through the control plane's
// plug-in points (src/feature.ts). Wiring is one line in src/features/index.ts:
//   import '../../memif/memif.feature.js';
// Config: `interfaces: [{type: memif, name: m0, role: server, socket: /run/quiver/memif.sock, id: 0}]`.
import { z } from 'zod';
import { type Issue, defineCommand, interfaceSchema, registerCommand, registerInterfaceType } from '../src/feature.js';
import { MemifSchema, createMemif, formatShowMemif, showMemif } from './memif.js';

/** The memif-specific keys (name, state, mtu, mac, rxMode, rxPlacement are common to every type). */
const own = MemifSchema.omit({ name: true, mac: true, mtu: true, rxMode: true }).shape;
export const MemifConfigSchema = interfaceSchema('memif', own);
type MemifSpec = z.output<typeof MemifConfigSchema>;

registerInterfaceType({
  type: 'memif',
  description: 'shared-memory interface to a VPP, DPDK, libmemif or quiver/memif peer (server or client role)',
  schema: MemifConfigSchema,
  nodes: { input: 'memif-input', output: 'memif-tx' },
  validate(spec, path, config) {
    const issues: Issue[] = [];
    if (spec.worker !== undefined && spec.worker >= config.workers.count)
      issues.push({ path: `${path}.worker`, reason: `${spec.worker} does not exist (workers.count is ${config.workers.count})` });
    // One interface per (socket, id, role): a second would never get its peer.
    const first = new Map<string, string>();
    (config.interfaces ?? []).forEach((i, n) => {
      if (i.type !== 'memif') return;
      const m = i as MemifSpec;
      const key = `${m.socket}\0${m.id}\0${m.role}`;
      if (!first.has(key)) first.set(key, `interfaces[${n}]`);
    });
    const mine = first.get(`${spec.socket}\0${spec.id}\0${spec.role}`);
    if (mine !== path) issues.push({ path: `${path}.id`, reason: `${spec.role} id ${spec.id} on ${spec.socket} is already ${mine}` });
    return issues;
  },
  create(spec, dp) {
    const { type: _type, state: _state, rxPlacement: _placement, mtu: _mtu, mac: _mac, rxMode, ...memif } = spec;
    createMemif({ ...memif, rxMode });
    const i = dp.interfaces.get(spec.name);
    dp.interfaceDefaults.set(i.name, { mtu: i.mtu, mac: i.mac });
  },
});

registerCommand(
  defineCommand({
    name: 'show memif',
    summary: 'memif interfaces: role, socket, id, state, peer, regions, rings with head/tail, counters',
    args: [{ name: 'interface', description: 'one memif interface (default: all)' }],
    schema: z.object({ interface: z.string().min(1).optional() }).strict(),
    run: (a) => showMemif(a.interface),
    format: (list) => (list.length ? formatShowMemif(list) : 'no memif interfaces'),
  }),
);
