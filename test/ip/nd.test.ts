// IPv6 neighbor discovery over pg, byte for byte: advertisements for solicitations of our
// addresses (multicast, unicast, DAD), learning, RFC 4861 checks, router messages ignored,
// packets held while a neighbor resolves and released after.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, sleep, useEngine, waitFor } from '../helpers/dataplane.js';
import { clear, deltas, expectFrames, l3Interface, out, send } from './l3.js';
import { NA_OVERRIDE, NA_ROUTER, NA_SOLICITED, decHlim, ethernet, icmp6, linkLocal, multicastMac, na, ns, solicitedNode, udp6 } from './packets.js';

useEngine();

let mac0 = '', mac1 = '';
const ME = '2001:db8::1';

beforeAll(() => {
  mac0 = l3Interface('pg0', [`${ME}/64`]);
  mac1 = l3Interface('pg1', ['2001:db8:1::1/64']);
});

const v6 = (dst: string, src: string, p: Buffer) => ethernet({ dst, src, type: 0x86dd }, p);
const neighbor = (a: string) => ip.neighbors('ip6').find((n) => n.address === a);

describe('neighbor discovery', () => {
  it('answers a multicast solicitation for its address and learns the solicitor', async () => {
    clear('pg0');
    const host = { ip: '2001:db8::5', mac: '02:00:00:00:66:05' };
    const sol = ns({ src: host.ip, dst: solicitedNode(ME), target: ME, srcMac: host.mac });
    const { delta } = await deltas([['ip6-local', 'advertisements-sent']], () => send('pg0', [v6(multicastMac(solicitedNode(ME)), host.mac, sol)]));
    expectFrames(await out('pg0', 1), [v6(host.mac, mac0, na({ src: ME, dst: host.ip, target: ME, mac: mac0, flags: NA_ROUTER | NA_SOLICITED | NA_OVERRIDE }))]);
    expect(delta).toEqual([1n]);
    await waitFor(() => neighbor(host.ip)?.state === 'reachable');
    expect(neighbor(host.ip)).toMatchObject({ interface: 'pg0', mac: host.mac });
    expectNoLeak();
  });

  it('answers for its link-local, a unicast probe without options, and DAD to all-nodes', async () => {
    clear('pg0');
    const ll = linkLocal(mac0);
    const host = { ip: linkLocal('02:00:00:00:66:06'), mac: '02:00:00:00:66:06' };
    const forLl = ns({ src: host.ip, dst: solicitedNode(ll), target: ll, srcMac: host.mac });
    const probe = ns({ src: '2001:db8::7', dst: ME, target: ME }); // neighbor unreachability detection
    const dad = ns({ src: '::', dst: solicitedNode(ME), target: ME });
    await send('pg0', [
      v6(multicastMac(solicitedNode(ll)), host.mac, forLl),
      v6(mac0, '02:00:00:00:66:07', probe),
      v6(multicastMac(solicitedNode(ME)), '02:00:00:00:66:08', dad),
    ]);
    expectFrames(await out('pg0', 3), [
      v6(host.mac, mac0, na({ src: ll, dst: host.ip, target: ll, mac: mac0, flags: NA_ROUTER | NA_SOLICITED | NA_OVERRIDE })),
      v6('02:00:00:00:66:07', mac0, na({ src: ME, dst: '2001:db8::7', target: ME, mac: mac0, flags: NA_ROUTER | NA_SOLICITED | NA_OVERRIDE })),
      v6('33:33:00:00:00:01', mac0, na({ src: ME, dst: 'ff02::1', target: ME, mac: mac0, flags: NA_ROUTER | NA_OVERRIDE })),
    ]);
    await waitFor(() => neighbor(host.ip)?.mac === host.mac);
    expect(neighbor('2001:db8::7')).toBeUndefined(); // nothing to learn from a probe without an option
    expectNoLeak();
  });

  it('drops messages that fail RFC 4861 checks and ignores router messages', async () => {
    clear('pg0');
    const hop64 = ns({ src: '2001:db8::9', dst: solicitedNode(ME), target: ME, srcMac: '02:00:00:00:66:09', hlim: 64 });
    const notOurs = ns({ src: '2001:db8::9', dst: solicitedNode('2001:db8::99'), target: '2001:db8::99', srcMac: '02:00:00:00:66:09' });
    const rs = icmp6({ src: linkLocal('02:00:00:00:66:09'), dst: 'ff02::2', type: 133, code: 0, hlim: 255 });
    const ra = icmp6({ src: linkLocal('02:00:00:00:66:09'), dst: 'ff02::1', type: 134, code: 0, rest: Buffer.from([64, 0, 0, 0]), body: Buffer.alloc(8), hlim: 255 });
    const { delta } = await deltas(
      [['ip6-local', 'nd-invalid'], ['ip6-local', 'router-solicitation-ignored'], ['ip6-local', 'router-advertisement-ignored']],
      () => send('pg0', [hop64, notOurs, rs, ra].map((p) => v6('33:33:00:00:00:01', '02:00:00:00:66:09', p))),
    );
    expect(delta).toEqual([1n, 1n, 1n]);
    await sleep(50);
    expect(pg.captured('pg0')).toHaveLength(0);
    expect(neighbor('2001:db8::9')).toBeUndefined();
    expectNoLeak();
  });

  it('holds packets while it solicits a neighbor and releases them on the advertisement', async () => {
    clear('pg1');
    const host = { ip: '2001:db8:1::20', mac: '02:00:00:00:66:20' };
    ip.addNeighbor({ interface: 'pg0', address: '2001:db8::2', mac: '02:00:00:00:00:02' });
    const pkts = [1, 2].map((i) => udp6({ src: '2001:db8::2', dst: host.ip, sport: i, dport: 9 }));
    await send('pg0', pkts.map((p) => v6(mac0, '02:00:00:00:00:02', p)));
    const group = solicitedNode(host.ip);
    expectFrames(await out('pg1', 1), [v6(multicastMac(group), mac1, ns({ src: '2001:db8:1::1', dst: group, target: host.ip, srcMac: mac1 }))]);
    clear('pg1');
    await send('pg1', [v6(mac1, host.mac, na({ src: host.ip, dst: '2001:db8:1::1', target: host.ip, mac: host.mac, flags: NA_SOLICITED | NA_OVERRIDE }))]);
    expectFrames(await out('pg1', 2), pkts.map((p) => v6(host.mac, mac1, decHlim(p))));
    expect(neighbor(host.ip)).toMatchObject({ state: 'reachable', mac: host.mac });
    expectNoLeak();
  });

  it('lets unsolicited advertisements refresh a known neighbor only', async () => {
    const known = '2001:db8:1::20';
    const moved = '02:00:00:00:66:2f';
    await send('pg1', [
      v6('33:33:00:00:00:01', moved, na({ src: known, dst: 'ff02::1', target: known, mac: moved, flags: NA_OVERRIDE })),
      v6('33:33:00:00:00:01', moved, na({ src: '2001:db8:1::21', dst: 'ff02::1', target: '2001:db8:1::21', mac: moved, flags: NA_OVERRIDE })),
    ]);
    await waitFor(() => neighbor(known)?.mac === moved);
    await sleep(50);
    expect(neighbor('2001:db8:1::21')).toBeUndefined();
    expectNoLeak();
  });
});
