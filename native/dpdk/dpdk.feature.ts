// DPDK in the declarative config and quiverctl: the `dpdk:` section (EAL arguments, vdevs;
// EAL starts once per process), the `dpdk` interface type, and `show dpdk`. Registered on
// import, like every feature (src/features/index.ts lists them).
import { z } from 'zod';
import { type Issue, defineCommand, interfaceSchema, registerFeature, registerInterfaceType, sameValue } from '../../src/feature.js';
import { QuiverError } from '../../src/errors.js';
import * as dpdk from './dpdk.js';

export const DpdkInterfaceConfigSchema = interfaceSchema('dpdk', dpdk.dpdkPortFields);
type DpdkSpec = z.output<typeof DpdkInterfaceConfigSchema>;

const showDpdk = defineCommand({
  name: 'show dpdk',
  summary: 'DPDK: EAL, every port (driver, MAC, queues, link, rte_eth_stats) and the mbuf pool',
  schema: z.object({}).strict(),
  run: () => dpdk.showDpdk(),
  format: (s) => dpdk.formatShowDpdk(s),
});

registerFeature({
  key: 'dpdk',
  description: 'DPDK EAL arguments and vdevs; EAL starts once per process (changing its arguments needs a restart)',
  schema: dpdk.DpdkConfigSchema,
  order: 50, // before interfaces: a dpdk interface needs EAL
  validate(section) {
    if (!section) return [];
    try {
      dpdk.ealArgs(section);
      return [];
    } catch (e) {
      if (e instanceof QuiverError) return [{ path: e.field, reason: e.message.slice(e.field.length + 2) }];
      throw e;
    }
  },
  plan(prev, next) {
    // EAL cannot stop: a removed section leaves it up, vdevs included, until the process ends.
    if (!next || (prev && sameValue(prev, next))) return {};
    const up = dpdk.dpdkAvailable() && dpdk.dpdkStatus().initialised;
    return {
      add: [
        {
          describe: up ? `dpdk: probe vdevs ${next.vdevs.join(' ') || '(none)'}` : `dpdk: initialise EAL ${dpdk.ealArgs(next).join(' ')}`,
          apply: () => {
            dpdk.initDpdk(next);
          },
        },
      ],
    };
  },
  commands: [showDpdk],
});

registerInterfaceType({
  type: 'dpdk',
  description: 'a DPDK port: vdev (net_memif, net_af_packet, net_tap, net_null, net_ring...) or a NIC, zero-copy with Quiver buffers',
  schema: DpdkInterfaceConfigSchema,
  nodes: { input: 'dpdk-input', output: 'dpdk-tx' },
  validate(spec: DpdkSpec, path, config) {
    const issues: Issue[] = [];
    if (!config.dpdk) issues.push({ path: `${path}.type`, reason: 'a dpdk interface needs the dpdk section (EAL arguments)' });
    if (spec.rxMode === 'interrupt') issues.push({ path: `${path}.rxMode`, reason: 'DPDK ports have no rx interrupts: polling or adaptive' });
    if (spec.workers && spec.workers.length !== spec.rxQueues)
      issues.push({ path: `${path}.workers`, reason: `lists ${spec.workers.length} workers for ${spec.rxQueues} rx queues` });
    (spec.workers ?? []).forEach((w, k) => {
      if (w >= config.workers.count) issues.push({ path: `${path}.workers[${k}]`, reason: `${w} does not exist (workers.count is ${config.workers.count})` });
    });
    const first = (config.interfaces ?? []).findIndex((i) => i.type === 'dpdk' && sameValue((i as DpdkSpec).port, spec.port));
    if (`interfaces[${first}]` !== path) issues.push({ path: `${path}.port`, reason: `port ${JSON.stringify(spec.port)} is already interfaces[${first}]` });
    return issues;
  },
  create(spec: DpdkSpec) {
    dpdk.createDpdkInterface({
      name: spec.name,
      port: spec.port,
      args: spec.args,
      rxQueues: spec.rxQueues,
      txQueues: spec.txQueues,
      rxDescriptors: spec.rxDescriptors,
      txDescriptors: spec.txDescriptors,
      workers: spec.workers,
      rxChecksum: spec.rxChecksum,
      promiscuous: spec.promiscuous,
      mtu: spec.mtu,
      rxMode: spec.rxMode === 'adaptive' ? 'adaptive' : 'polling',
    });
  },
});
