// af_packet with real traffic between two namespaces (veth): the shared conformance tests
// (with fanout over two queues) under hosts that leave TCP/UDP checksums to "hardware", so
// every TCP segment crosses Quiver's software checksum completion; and option errors.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import * as ifs from '../../src/interfaces/index.js';
import { useEngine, waitFor } from '../helpers/dataplane.js';
import { nsRun, useLab } from '../helpers/netns.js';
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

  it('puts back a VLAN tag the kernel moved into metadata before the packet socket saw the frame', () => {
    const a = lab().hosts[0]!;
    // A tagged frame sent raw from A: the receiving side untags it (skb_vlan_untag) before any
    // packet socket runs, so af_packet only learns the tag from tp_vlan_tci.
    const frame = '02005e0000020200' + '5e000001' + '8100' + '0064' + '88b5' + '51'.repeat(46);
    engine.traceClear();
    engine.traceAdd('af-packet-input', 10);
    nsRun(a.netns, '/usr/bin/python3', ['-c',
      `import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(("eth0", 0)); s.send(bytes.fromhex("${frame}"))`]);
    return waitFor(() => engine.traceGet().some((r) => r.entries.some((e) => e.text.includes('vlan 100'))), 3000, 'the tagged frame').then(() => {
      const rec = engine.traceGet().find((r) => r.entries.some((e) => e.text.includes('vlan 100')))!;
      expect(rec.entries.find((e) => e.node === 'af-packet-input')!.text).toMatch(/64 bytes, vlan tag restored/);
      expect(rec.entries.find((e) => e.node === 'ethernet-input')!.text).toMatch(/type 0x88b5 vlan 100/);
      engine.traceClear();
    });
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
