// af_packet with real traffic between two namespaces (veth): the shared conformance tests
// (with fanout over two queues) under hosts that leave TCP/UDP checksums to "hardware", so
// every TCP segment crosses Quiver's software checksum completion; and option errors.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import * as ifs from '../../src/interfaces/index.js';
import { useEngine } from '../helpers/dataplane.js';
import { useLab } from '../helpers/netns.js';
import { type DriverUnderTest, conformanceTests } from './conformance.js';

useEngine({ workers: 2 });
// csum: the hosts keep tx checksum offload, so TCP arrives with CHECKSUM_PARTIAL and Quiver
// must finish the checksums for the transfer to succeed.
const lab = useLab({ queues: 2, offloads: 'csum' });

const afPacket: DriverUnderTest = {
  driver: 'af_packet',
  create: (_lab, h, name) => createAfPacketInterface({ host: h.quiverSide, name, queues: 2 }),
  linuxSide: (h) => ({ name: h.quiverSide }),
  queues: 2,
  inputNode: 'af-packet-input',
};

describe('af_packet', () => {
  conformanceTests(afPacket, lab);
});

describe('af_packet specifics', () => {
  it('completed the TCP checksums the hosts left to hardware (the transfer above needed it)', () => {
    const e = engine.statsSegment().errors(true).find((x) => x.node === 'af-packet-output' && x.name === 'l4-checksum-completed')!;
    expect(e.count).toBeGreaterThan(100n);
  });

  it('refuses bad options naming the field', () => {
    const h = lab().hosts[0]!;
    expect(() => createAfPacketInterface({ host: 'qd-nonexistent' })).toThrow(/^host: no interface 'qd-nonexistent'/);
    expect(() => createAfPacketInterface({ host: 'a/b' })).toThrow(/^host: .*not a Linux interface name/);
    expect(() => createAfPacketInterface({ host: h.quiverSide, blockSize: 5000 })).toThrow(/^blockSize: must be a power of two/);
    expect(() => createAfPacketInterface({ host: h.quiverSide, queues: 0 })).toThrow(/^queues: /);
    expect(() => createAfPacketInterface({ host: h.quiverSide, name: 'qa' })).toThrow(/^name: interface 'qa' already exists/);
    expect(() => createAfPacketInterface({ host: h.quiverSide, bogus: 1 } as never)).toThrow(/^bogus: unknown key/);
    expect(() => ifs.createInterface({ driver: 'af_packet', host: h.quiverSide, fanout: 'random' as never })).toThrow(/^fanout: /);
    expect(engine.interfaces().filter((i) => i.driver === 'af_packet').map((i) => i.name)).toEqual(['qa']);
  });
});
