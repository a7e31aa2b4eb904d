// Sessions with two workers: host A's interface is polled by worker 0, router B's by worker
// 1. A session is made where the packet that matched permit+reflect ran (worker 0, on its way
// out of pgB) and its replies, received by worker 1, find it in worker 0's table, read-only.
// Each worker ages its own table.
import { beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { ipv4, tcp, udp } from './gen.js';
import { FAR, HOST_A, type Topo, captured, clear, decTtl, expectFrames, routedTopology, send } from './topo.js';

useEngine({ workers: 2 });

let t: Topo;
beforeAll(() => {
  t = routedTopology('pgA', 'pgB', [0, 1]);
  acl.setAcl('out', [{ action: 'permit+reflect', src: '198.18.0.0/24' }]);
  acl.setAcl('in', []);
  acl.applyAcls('pgB', { output: ['out'], input: ['in'] });
});

describe('sessions across workers', () => {
  it('lets replies received on another worker in, and ages the session on its owner', async () => {
    expect(engine.findInterface('pgA').rxQueues.map((q) => q.worker)).toEqual([0]);
    expect(engine.findInterface('pgB').rxQueues.map((q) => q.worker)).toEqual([1]);
    acl.setSessionConfig({ udp: 1.5 }); // long enough that the replies below meet it alive
    clear('pgA', 'pgB');
    const flows = [out(udp(1000, 53)), out(tcp(40000, 80, 0x02))];
    await send('pgA', flows.map(t.fromA));
    expectFrames(await captured('pgB', 2), flows.map((p) => t.toB(decTtl(p))));
    const s = acl.aclSessions();
    expect(s.sessions.map((x) => x.worker)).toEqual([0, 0]);
    const replies = [back(udp(53, 1000)), back(tcp(80, 40000, 0x12)), back(udp(53, 1001))];
    await send('pgB', replies.map(t.fromB));
    expectFrames(await captured('pgA', 2), replies.slice(0, 2).map((p) => t.toA(decTtl(p))));
    // The responder's flags reached the owner's session from the other worker.
    expect(acl.aclSessions().sessions.find((x) => x.protocol === 6)!.tcpFlagsResponder).toBe(0x12);
    await waitFor(() => acl.aclSessions().sessions.every((x) => x.protocol !== 17), 6000, 'the UDP session to age out');
    clear('pgA');
    await send('pgB', [t.fromB(back(udp(53, 1000)))]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await captured('pgA', 0)).toEqual([]);
    expectNoLeak();
  });
});

function out(l4: Parameters<typeof ipv4>[1]) {
  return ipv4({ src: HOST_A.ip, dst: FAR }, l4);
}
function back(l4: Parameters<typeof ipv4>[1]) {
  return ipv4({ src: FAR, dst: HOST_A.ip }, l4);
}
