// DataplanePort bound to the running Dataplane and the modules that create and connect
// interfaces: the tap driver (src/interfaces/tap.ts), memif (memif/memif.ts), bridge domains
// (graph/l2/bridge.ts) and VRFs/routes (graph/ip/ip.ts).
import * as ip from '../../graph/ip/ip.js';
import { addBridgeMember, removeBridgeMember, showBridgeDomain } from '../../graph/l2/bridge.js';
import { createMemif } from '../../memif/memif.js';
import type { Dataplane } from '../../src/dataplane.js';
import { createTapInterface } from '../../src/interfaces/tap.js';
import type { DataplanePort } from './manager.js';

export function dataplanePort(dp: Dataplane): DataplanePort {
  const find = (name: string) => dp.interfaces.list().find((i) => i.name === name);
  return {
    createTap({ name, netns, podIfname, mtu, mac }) {
      // The Linux side comes up once the pod side is configured (podnet); Quiver's stays down
      // until the attachment is complete.
      createTapInterface({ name, hostName: podIfname, netns, mtu, mac, up: false });
    },
    createMemif({ name, socketPath, ringSize, bufferSize, queues, secret, mtu }) {
      createMemif({ name, role: 'server', socket: socketPath, id: 0, secret, log2RingSize: ringSize, bufferSize, rxQueues: queues, txQueues: queues, mtu });
    },
    deleteInterface(name) {
      if (find(name)) dp.interfaces.delete(name);
    },
    interfaceExists: (name) => find(name) !== undefined,
    interfaceMac: (name) => dp.interfaces.get(name).mac,
    interfaceState(name) {
      const i = find(name);
      return i && { adminUp: i.adminUp, linkUp: i.linkUp };
    },
    setUp(name, up) {
      dp.interfaces.setState(name, { adminUp: up });
    },
    bridgeDomainProblem(id) {
      try {
        return showBridgeDomain(id).length ? undefined : `bridge domain ${id} does not exist (declare it in the daemon config: bridgeDomains)`;
      } catch {
        return `bridge domain ${id} does not exist (declare it in the daemon config: bridgeDomains)`;
      }
    },
    vrfProblem: (id) => (ip.tables().some((t) => t.id === id) ? undefined : `vrf ${id} does not exist (declare it in the daemon config: vrfs)`),
    joinBridgeDomain(name, bd) {
      addBridgeMember(bd, { interface: name });
    },
    leaveBridgeDomain(name) {
      removeBridgeMember(name);
    },
    routedAttach(name, vrf, pod) {
      ip.setInterfaceTable(name, vrf);
      for (const prefix of pod.addresses) {
        const address = prefix.split('/')[0]!;
        // The pod's MAC is known: no ARP/ND needed (the interface has no address to ask from).
        ip.addNeighbor({ interface: name, address, mac: pod.mac });
        ip.addRoute({ table: vrf, prefix, paths: [{ via: address, interface: name }] });
      }
    },
    routedDetach(name, vrf, pod) {
      for (const prefix of pod.addresses) {
        ip.deleteRoute({ table: vrf, prefix });
        ip.deleteNeighbor({ interface: name, address: prefix.split('/')[0]! });
      }
    },
  };
}
