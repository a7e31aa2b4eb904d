// CNI in the daemon: the `cni:` config section (where attachments are recorded) and the
// endpoints quiver-cni calls (POST /v1/cni/add, del, get, check, gc, status), registered as
// commands so they run one at a time with every other command and apply. Enabling the
// section (at daemon start, or by apply) restores the recorded attachments.
import { z } from 'zod';
import { QuiverError } from '../../src/errors.js';
import { type Change, defineCommand, registerFeature } from '../../src/feature.js';
import type { Dataplane } from '../../src/dataplane.js';
import { AttachmentManager } from './manager.js';
import { dataplanePort } from './port.js';
import { AttachmentStore, DEFAULT_STATE_FILE } from './store.js';

const CniSchema = z
  .object({
    /** Where attachments are recorded; a restart rebuilds what it lists. */
    stateFile: z.string().regex(/^\//, 'must be an absolute path').default(DEFAULT_STATE_FILE),
  })
  .strict();
type CniSection = z.output<typeof CniSchema>;

let manager: AttachmentManager | undefined;

function active(): AttachmentManager {
  if (!manager) throw new QuiverError('cni', 'CNI is not enabled in this daemon: add a cni: section to its config');
  return manager;
}

const ifname = z.string().min(1).max(15).regex(/^[^/:\s]+$/, "may not hold '/', ':' or whitespace");
const KeySchema = z.object({ network: z.string().min(1), containerId: z.string().min(1), ifname }).strict();
const AddressSchema = z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'is not address/prefix');
const AttachSchema = KeySchema.extend({
  netns: z.string().regex(/^\//, 'must be an absolute path'),
  type: z.enum(['tap', 'memif']),
  bridgeDomain: z.number().int().min(1).optional(),
  vrf: z.number().int().min(0).optional(),
  mtu: z.number().int().min(576).max(9216),
  mac: z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'is not a MAC address').optional(),
  ips: z.array(z.object({ address: AddressSchema, gateway: z.string().optional() }).strict()),
  routes: z.array(z.object({ dst: AddressSchema, gw: z.string().optional() }).strict()),
  memif: z
    .object({
      socketDir: z.string().regex(/^\//, 'must be an absolute path'),
      ringSize: z.number().int().min(4).max(14),
      bufferSize: z.number().int().min(128).max(65535),
      queues: z.number().int().min(1).max(16),
      secret: z.string().max(24).optional(),
    })
    .strict()
    .optional(),
  pod: z.object({ namespace: z.string().optional(), name: z.string().optional(), uid: z.string().regex(/^[A-Za-z0-9-]+$/).optional() }).strict().optional(),
})
  .strict()
  .superRefine((a, ctx) => {
    if (a.type === 'memif' && !a.memif) ctx.addIssue({ code: 'custom', path: ['memif'], message: 'is required for a memif attachment' });
    if (a.bridgeDomain !== undefined && a.vrf !== undefined) ctx.addIssue({ code: 'custom', path: ['vrf'], message: 'give bridgeDomain or vrf, not both' });
  });

const commands = [
  defineCommand({ name: 'cni add', summary: 'attach a pod (used by quiver-cni)', schema: AttachSchema, run: (a) => active().add(a) }),
  defineCommand({ name: 'cni del', summary: 'detach a pod (used by quiver-cni)', schema: KeySchema, run: (a) => active().del(a) }),
  defineCommand({ name: 'cni get', summary: 'one attachment (used by quiver-cni)', schema: KeySchema, run: (a) => ({ attachment: active().get(a) }) }),
  defineCommand({
    name: 'cni check',
    summary: 'compare an attachment with what ADD reported (used by quiver-cni)',
    schema: KeySchema.extend({
      netns: z.string(),
      expect: z.object({ mac: z.string().optional(), socketPath: z.string().optional(), addresses: z.array(z.string()), routes: z.array(z.object({ dst: z.string(), gw: z.string().optional() }).passthrough()) }).strict(),
    }).strict(),
    run: async (a) => ({ problems: await active().check(a) }),
  }),
  defineCommand({
    name: 'cni gc',
    summary: 'remove attachments not in the valid list (used by quiver-cni)',
    schema: z.object({ network: z.string().min(1), valid: z.array(z.object({ containerID: z.string(), ifname: z.string() }).strict()) }).strict(),
    run: async (a) => ({ removed: await active().gc(a.network, a.valid) }),
  }),
  defineCommand({
    name: 'cni status',
    summary: 'whether the daemon can serve CNI ADD',
    schema: z.object({ network: z.string().optional() }).strict(),
    run: () => (manager ? manager.status() : { ready: false, attachments: 0, reason: 'the daemon config has no cni: section' }),
  }),
  defineCommand({
    name: 'show cni',
    summary: 'pods attached by quiver-cni',
    schema: z.object({ network: z.string().optional() }).strict(),
    run: (a) => active().list(a.network),
    format: (rows) =>
      rows.length
        ? [
            `${'network'.padEnd(14)} ${'container'.padEnd(14)} ${'ifname'.padEnd(8)} ${'type'.padEnd(6)} ${'interface'.padEnd(16)} ${'attach'.padEnd(8)} addresses`,
            ...rows.map(
              (r) =>
                `${r.network.padEnd(14)} ${r.containerId.slice(0, 12).padEnd(14)} ${r.ifname.padEnd(8)} ${r.type.padEnd(6)} ${r.quiverInterface.padEnd(16)} ${(r.bridgeDomain !== undefined ? `bd ${r.bridgeDomain}` : r.vrf !== undefined ? `vrf ${r.vrf}` : '-').padEnd(8)} ${r.ips.map((i) => i.address).join(' ')}${r.socketPath ? ` ${r.socketPath}` : ''}`,
            ),
          ].join('\n')
        : 'no attachments',
  }),
];

function enable(section: CniSection, dp: Dataplane): Change {
  return {
    describe: `cni: serve quiver-cni, attachments recorded in ${section.stateFile}`,
    path: 'cni',
    async apply() {
      const store = new AttachmentStore(section.stateFile);
      store.load();
      manager = new AttachmentManager({ port: dataplanePort(dp), store, log: dp.log });
      await manager.restore();
    },
    revert() {
      manager = undefined;
    },
  };
}

registerFeature({
  key: 'cni',
  description: 'CNI: pods attached by quiver-cni over tap or memif, recorded in a state file',
  schema: CniSchema,
  // After interfaces (100), l2 (200), ip (300), acl (400): restored attachments join bridge
  // domains and VRFs that exist by then.
  order: 500,
  plan(prev, next, { dp }) {
    if (!prev && next) return { add: [enable(next, dp)] };
    if (prev && !next)
      return {
        remove: [
          {
            describe: 'cni: stop serving quiver-cni (attachments stay in place and recorded)',
            apply: () => void (manager = undefined),
            revert: async () => enable(prev, dp).apply(),
          },
        ],
      };
    if (prev && next && prev.stateFile !== next.stateFile)
      return {
        add: [
          {
            describe: `cni: state file ${prev.stateFile} -> ${next.stateFile}`,
            path: 'cni.stateFile',
            apply: () => {
              throw new QuiverError('cni.stateFile', 'changing it needs a daemon restart (the attachments recorded in the old file are live)');
            },
          },
        ],
      };
    return {};
  },
  commands,
});
