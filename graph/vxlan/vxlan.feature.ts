// VXLAN tunnels in the declarative config (`interfaces: [{type: vxlan, ...}]`) and quiverctl
// (`show vxlan tunnel`). A tunnel is an interface: bridge domains take it as a member, routes
// name it as their interface; its counters are the tunnel's interface counters (inner frames).
import { z } from 'zod';
import { QuiverError } from '../../src/errors.js';
import { type Issue, defineCommand, interfaceSchema, registerCommand, registerInterfaceType } from '../../src/feature.js';
import { jsonSafe } from '../../src/show/tables.js';
import { type TunnelInfo, TunnelFields, checkTunnel, createTunnel, tunnels } from './vxlan.js';

export const VxlanConfigSchema = interfaceSchema('vxlan', TunnelFields);
type VxlanSpec = z.output<typeof VxlanConfigSchema>;

const key = (t: Pick<VxlanSpec, 'src' | 'dst' | 'vni' | 'dstPort'>) => `${t.src}|${t.dst}|${t.vni}|${t.dstPort}`;

registerInterfaceType({
  type: 'vxlan',
  description: 'VXLAN tunnel (RFC 7348) to a remote VTEP over an IPv4 or IPv6 underlay; a bridge member or a routed interface',
  schema: VxlanConfigSchema,
  order: 20, // tunnels after the interfaces that carry their underlay
  nodes: { input: 'vxlan4-input', output: 'vxlan4-encap' },
  validate(spec, path, config) {
    const issues: Issue[] = [];
    checkTunnel(spec, (field, reason) => issues.push({ path: `${path}.${field}`, reason }));
    // Decap finds a tunnel by (VNI, remote, local, port): two tunnels with the same four
    // would be indistinguishable on receive.
    const first = (config.interfaces ?? []).findIndex((i) => i.type === 'vxlan' && key(i as VxlanSpec) === key(spec));
    const here = Number(/\[(\d+)\]$/.exec(path)?.[1]);
    const vrfs = ((config as { vrfs?: { id: number }[] }).vrfs ?? []).map((v) => v.id);
    if (spec.encapVrf !== 0 && !vrfs.includes(spec.encapVrf))
      issues.push({ path: `${path}.encapVrf`, reason: `table ${spec.encapVrf} is not in vrfs` });
    if (first >= 0 && first !== here)
      issues.push({ path: `${path}.vni`, reason: `interfaces[${first}] already carries VNI ${spec.vni} from ${spec.src} to ${spec.dst}` });
    return issues;
  },
  create(spec) {
    createTunnel({
      name: spec.name, src: spec.src, dst: spec.dst, vni: spec.vni, dstPort: spec.dstPort,
      encapVrf: spec.encapVrf, ttl: spec.ttl, df: spec.df, mac: spec.mac, mtu: spec.mtu,
    }, { deferTable: true }); // validated against vrfs, which are applied after interfaces
  },
  // Any change of src/dst/vni/port/vrf/ttl/df re-creates the tunnel (the default): its
  // template and decap key change together.
});

export interface TunnelRow extends TunnelInfo {
  adminUp: boolean;
  mtu: number;
  mode: string;
  counters: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number };
}

export const showVxlanTunnel = defineCommand({
  name: 'show vxlan tunnel',
  summary: 'VXLAN tunnels: endpoints, VNI, port, encap table, mode and counters (inner frames)',
  args: [{ name: 'name', description: 'one tunnel' }],
  schema: z.object({ name: z.string().min(1).optional() }).strict(),
  run: (a, { dp }): TunnelRow[] => {
    const list = tunnels().filter((t) => a.name === undefined || t.name === a.name);
    if (a.name !== undefined && list.length === 0) throw new QuiverError('name', `no VXLAN tunnel '${a.name}'`);
    return list.map((t) => {
      const i = dp.interfaces.get(t.index);
      const c = jsonSafe(dp.stats.interfaceCounters(t.index));
      return {
        ...t, adminUp: i.adminUp, mtu: i.mtu, mode: i.mode,
        counters: { rxPackets: c.rxPackets, rxBytes: c.rxBytes, txPackets: c.txPackets, txBytes: c.txBytes, drops: c.drops },
      };
    });
  },
  format: (rows) =>
    rows.length === 0
      ? 'no VXLAN tunnels'
      : rows
          .map((t) =>
            [
              `[${t.index}] ${t.name} src ${t.src} dst ${t.dst} vni ${t.vni} dst-port ${t.dstPort} encap-vrf ${t.encapVrf}${t.encapVrfFound ? '' : ' (missing)'} ttl ${t.ttl}${t.df ? ' df' : ''}`,
              `    ${t.adminUp ? 'up' : 'down'}, mode ${t.mode}, mtu ${t.mtu}`,
              `    rx ${t.counters.rxPackets} packets ${t.counters.rxBytes} bytes, tx ${t.counters.txPackets} packets ${t.counters.txBytes} bytes, drops ${t.counters.drops}`,
            ].join('\n'),
          )
          .join('\n'),
});

registerCommand(showVxlanTunnel);
