// The core quiverctl commands (VPP vocabulary), registered like any feature's.
import { z } from 'zod';
import { defineCommand, registerCommand } from '../feature.js';

registerCommand(
  defineCommand({
    name: 'show version',
    summary: 'versions of quiver, the addon, DPDK and the compiler',
    schema: z.object({}).strict(),
    run: (_a, { dp }) => dp.version(),
    format: (v) => `quiver ${v.quiver}, compiler ${v.compiler}, DPDK ${v.dpdk ?? 'not built in'}, TSC ${(v.tscHz / 1e9).toFixed(2)} GHz`,
  }),
);
