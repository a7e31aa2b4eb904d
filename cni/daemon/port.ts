// DataplanePort bound to the running Dataplane and the feature modules that create and
// connect interfaces. Each driver or feature this needs is named where it is used; one that
// is not part of this build answers with an error saying so (the attach is then refused whole).
import { addBridgeMember, removeBridgeMember, showBridgeDomain } from '../../graph/l2/bridge.js';
import type { Dataplane } from '../../src/dataplane.js';
import { QuiverError } from '../../src/errors.js';
import type { DataplanePort } from './manager.js';

function missing(what: string): never {
  throw new QuiverError('type', `${what} is not available in this build of the daemon`);
}

export function dataplanePort(dp: Dataplane): DataplanePort {
  const find = (name: string) => dp.interfaces.list().find((i) => i.name === name);
  return {
    createTap: () => missing('the tap driver'),
    createMemif: () => missing('the memif driver'),
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
      const none = `bridge domain ${id} does not exist (declare it in the daemon config: bridgeDomains)`;
      try {
        return showBridgeDomain(id).length ? undefined : none;
      } catch {
        return none;
      }
    },
    vrfProblem: (id) => `vrf ${id}: routing is not available in this build of the daemon`,
    joinBridgeDomain(name, bd) {
      addBridgeMember(bd, { interface: name });
    },
    leaveBridgeDomain(name) {
      removeBridgeMember(name);
    },
    routedAttach: () => missing('routing'),
    routedDetach: () => missing('routing'),
  };
}
