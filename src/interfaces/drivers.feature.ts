// af_xdp, af_packet and tap as config interface types (src/feature.ts registerInterfaceType):
//   interfaces:
//     - { type: af_xdp, name: host-a, hostInterface: veth-a }
//     - { type: af_packet, name: host-b, hostInterface: eth1, queues: 2 }
//     - { type: tap, name: pod1, hostName: eth0, netns: pod1, addresses: [198.18.0.1/24] }
// The common fields (state, mtu, mac, rxMode, rxPlacement) are applied by the registry after
// creation; mtu and mac of af_xdp/af_packet then reach the Linux interface too.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../config.js';
import { type Issue, interfaceSchema, registerInterfaceType } from '../feature.js';
import { AfPacketSchema, createAfPacketInterface } from './af_packet.js';
import { AfXdpSchema, createAfXdpInterface } from './af_xdp.js';
import { LinuxIfName, MacAddress, WorkerOption } from './common.js';
import { TapSchema, createTapInterface } from './tap.js';

const xdp = AfXdpSchema.shape;
const pkt = AfPacketSchema.shape;
const tap = TapSchema.shape;

export const AfXdpConfigSchema = interfaceSchema('af_xdp', {
  hostInterface: LinuxIfName,
  queues: xdp.queues,
  xdpMode: xdp.mode,
  attach: xdp.attach,
  replaceProgram: xdp.replaceProgram,
  ringSize: xdp.ringSize,
  worker: WorkerOption.optional(),
});
export const AfPacketConfigSchema = interfaceSchema('af_packet', {
  hostInterface: LinuxIfName,
  queues: pkt.queues,
  fanout: pkt.fanout,
  blockSize: pkt.blockSize,
  blocks: pkt.blocks,
  blockTimeoutMs: pkt.blockTimeoutMs,
  txFrames: pkt.txFrames,
  worker: WorkerOption.optional(),
});
export const TapConfigSchema = interfaceSchema('tap', {
  hostName: LinuxIfName,
  netns: tap.netns,
  queues: tap.queues,
  hostMac: MacAddress.optional(),
  addresses: tap.addresses,
  offloads: tap.offloads,
  /** Bring the Linux side up (its own admin state; Quiver's `state` is the carrier). */
  hostUp: z.boolean().default(true),
  worker: WorkerOption.optional(),
});

function workerIssues(spec: { worker?: number }, path: string, config: Config): Issue[] {
  return spec.worker !== undefined && spec.worker >= config.workers.count
    ? [{ path: `${path}.worker`, reason: `${spec.worker} does not exist (workers.count is ${config.workers.count})` }]
    : [];
}

// One attachment per Linux interface: two drivers on one veth would steal each other's frames.
function hostIssues(spec: { hostInterface: string }, path: string, config: Config): Issue[] {
  const issues: Issue[] = [];
  if (!existsSync(`/sys/class/net/${spec.hostInterface}`))
    issues.push({ path: `${path}.hostInterface`, reason: `no Linux interface '${spec.hostInterface}'` });
  const first = (config.interfaces ?? []).findIndex(
    (i) => (i.type === 'af_xdp' || i.type === 'af_packet') && (i as { hostInterface?: string }).hostInterface === spec.hostInterface,
  );
  if (first >= 0 && `interfaces[${first}]` !== path)
    issues.push({ path: `${path}.hostInterface`, reason: `'${spec.hostInterface}' is already attached by interfaces[${first}]` });
  return issues;
}

registerInterfaceType({
  type: 'af_xdp',
  description: 'a Linux interface through AF_XDP sockets; UMEM = the buffer pool (no copy into the graph)',
  schema: AfXdpConfigSchema,
  nodes: { input: 'af-xdp-input', output: 'af-xdp-output' },
  validate: (spec, path, config) => [...hostIssues(spec, path, config), ...workerIssues(spec, path, config)],
  create(spec) {
    createAfXdpInterface({
      host: spec.hostInterface, name: spec.name, queues: spec.queues, mode: spec.xdpMode, attach: spec.attach,
      replaceProgram: spec.replaceProgram, ringSize: spec.ringSize, worker: spec.worker,
    });
  },
});

registerInterfaceType({
  type: 'af_packet',
  description: 'any Linux interface through TPACKET_V3 rings (copies; always available)',
  schema: AfPacketConfigSchema,
  nodes: { input: 'af-packet-input', output: 'af-packet-output' },
  validate: (spec, path, config) => [...hostIssues(spec, path, config), ...workerIssues(spec, path, config)],
  create(spec) {
    createAfPacketInterface({
      host: spec.hostInterface, name: spec.name, queues: spec.queues, fanout: spec.fanout, blockSize: spec.blockSize,
      blocks: spec.blocks, blockTimeoutMs: spec.blockTimeoutMs, txFrames: spec.txFrames, worker: spec.worker,
    });
  },
});

registerInterfaceType({
  type: 'tap',
  description: 'a TAP device owned by Quiver, optionally in another network namespace',
  schema: TapConfigSchema,
  nodes: { input: 'tap-input', output: 'tap-output' },
  validate(spec, path, config) {
    const issues = workerIssues(spec, path, config);
    if (spec.netns && !spec.netns.startsWith('/') && !existsSync(`/run/netns/${spec.netns}`))
      issues.push({ path: `${path}.netns`, reason: `no network namespace '${spec.netns}'` });
    return issues;
  },
  create(spec) {
    createTapInterface({
      hostName: spec.hostName, name: spec.name, netns: spec.netns, queues: spec.queues, hostMac: spec.hostMac,
      addresses: spec.addresses, offloads: spec.offloads, up: spec.hostUp, worker: spec.worker,
      ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}),
    });
  },
});
