// Independent builders for VXLAN test packets (hand-written from RFC 7348 / RFC 768 / RFC 8200,
// sharing nothing with the dataplane), and a scapy decoder for a second opinion.
import { execFileSync } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { checksum, ethernet, ip4, mac } from '../helpers/packets.js';

export function ip6(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

function sum16(b: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i);
  if (b.length & 1) acc += b[b.length - 1]! << 8;
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

export function vxlanHeader(vni: number, flags = 0x08): Buffer {
  const v = Buffer.alloc(8);
  v[0] = flags;
  v.writeUInt32BE(vni * 256, 4);
  return v;
}

export interface OuterOpts {
  src: string;
  dst: string;
  sport: number;
  dport?: number;
  vni: number;
  ttl?: number;
  df?: boolean;
  id?: number;
  flags?: number;
  /** IPv6: a UDP checksum of 0 instead of the computed one. */
  zeroChecksum?: boolean;
  /** IPv4: compute the (optional) UDP checksum instead of sending 0. */
  v4Checksum?: boolean;
}

/** Outer IP/UDP/VXLAN + inner frame (no outer Ethernet). */
export function vxlanIp(o: OuterOpts, inner: Buffer): Buffer {
  const payload = Buffer.concat([vxlanHeader(o.vni, o.flags), inner]);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport, 0);
  udp.writeUInt16BE(o.dport ?? 4789, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  if (isIPv4(o.src)) {
    if (o.v4Checksum) {
      const pseudo = Buffer.alloc(12);
      ip4(o.src).copy(pseudo, 0);
      ip4(o.dst).copy(pseudo, 4);
      pseudo[9] = 17;
      pseudo.writeUInt16BE(8 + payload.length, 10);
      const c = ~fold(sum16(payload, sum16(udp, sum16(pseudo)))) & 0xffff;
      udp.writeUInt16BE(c === 0 ? 0xffff : c, 6);
    }
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + payload.length, 2);
    ip.writeUInt16BE(o.id ?? 0, 4);
    ip.writeUInt16BE(o.df ? 0x4000 : 0, 6);
    ip[8] = o.ttl ?? 64;
    ip[9] = 17;
    ip4(o.src).copy(ip, 12);
    ip4(o.dst).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    return Buffer.concat([ip, udp, payload]);
  }
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(8 + payload.length, 4);
  ip[6] = 17;
  ip[7] = o.ttl ?? 64;
  ip6(o.src).copy(ip, 8);
  ip6(o.dst).copy(ip, 24);
  if (!o.zeroChecksum) {
    const pseudo = Buffer.alloc(40);
    ip.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(8 + payload.length, 32);
    pseudo[39] = 17;
    const c = ~fold(sum16(payload, sum16(udp, sum16(pseudo)))) & 0xffff;
    udp.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  }
  return Buffer.concat([ip, udp, payload]);
}

/** Outer Ethernet + vxlanIp. */
export function vxlanFrame(o: OuterOpts & { dstMac: string; srcMac: string }, inner: Buffer): Buffer {
  return ethernet({ dst: o.dstMac, src: o.srcMac, type: isIPv4(o.src) ? 0x0800 : 0x86dd }, vxlanIp(o, inner));
}

/** An inner Ethernet/IPv4/UDP frame of `size` bytes. */
export function innerFrame(o: { src?: string; dst?: string; srcMac?: string; dstMac?: string; sport?: number; dport?: number; size?: number }): Buffer {
  const size = o.size ?? 64;
  const payloadLen = size - 14 - 28;
  const payload = Buffer.alloc(payloadLen);
  for (let i = 0; i < payloadLen; i++) payload[i] = i & 0xff;
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport ?? 1000, 0);
  udp.writeUInt16BE(o.dport ?? 2000, 2);
  udp.writeUInt16BE(8 + payloadLen, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(28 + payloadLen, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip4(o.src ?? '198.18.10.1').copy(ip, 12);
  ip4(o.dst ?? '198.18.20.1').copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return ethernet({ dst: o.dstMac ?? '02:aa:00:00:00:02', src: o.srcMac ?? '02:aa:00:00:00:01' }, Buffer.concat([ip, udp, payload]));
}

export { mac };

export interface ScapyView {
  vni: number;
  sport: number;
  dport: number;
  ipChecksumOk: boolean;
  udpChecksumOk: boolean;
  udpChecksum: number;
  innerHex: string;
}

/** scapy's reading of Ethernet frames holding VXLAN (a decoder independent of ours). */
export function scapyDecode(frames: Buffer[]): ScapyView[] {
  const script = `
import sys, json
from scapy.all import Ether, IP, IPv6, UDP, raw
from scapy.layers.vxlan import VXLAN
from scapy.packet import bind_layers
bind_layers(UDP, VXLAN, dport=4789)
out = []
for h in json.load(sys.stdin):
    p = Ether(bytes.fromhex(h))
    ipl = p[IP] if IP in p else p[IPv6]
    u = p[UDP]
    ip_ok = True
    if IP in p:
        q = IP(raw(p[IP])); c = q.chksum; del q.chksum
        ip_ok = IP(raw(q)).chksum == c
    q = ipl.__class__(raw(ipl)); uc = q[UDP].chksum; del q[UDP].chksum
    recomputed = ipl.__class__(raw(q))[UDP].chksum
    out.append(dict(vni=p[VXLAN].vni, sport=u.sport, dport=u.dport, ipChecksumOk=ip_ok,
                    udpChecksumOk=(uc == recomputed) if uc != 0 else IP in p, udpChecksum=uc,
                    innerHex=raw(p[VXLAN].payload).hex()))
print(json.dumps(out))
`;
  const res = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(frames.map((f) => f.toString('hex'))) });
  return JSON.parse(res.toString());
}
