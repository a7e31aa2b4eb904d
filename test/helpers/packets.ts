// Hand-written packet builders, independent of the code under test: tests compare the
// dataplane's output against bytes built here (or by scapy).

export function mac(s: string): Buffer {
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

export function ip4(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}

export function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface EthOpts {
  dst?: string;
  src?: string;
  type?: number;
  vlans?: { tpid?: number; vid: number; pcp?: number }[];
}

export function ethernet(o: EthOpts, payload: Buffer): Buffer {
  const parts: Buffer[] = [mac(o.dst ?? '02:00:00:00:00:02'), mac(o.src ?? '02:00:00:00:00:01')];
  for (const v of o.vlans ?? []) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(v.tpid ?? 0x8100, 0);
    t.writeUInt16BE(((v.pcp ?? 0) << 13) | v.vid, 2);
    parts.push(t);
  }
  const type = Buffer.alloc(2);
  type.writeUInt16BE(o.type ?? 0x0800, 0);
  parts.push(type, payload);
  return Buffer.concat(parts);
}

export function ipv4Udp(o: { src: string; dst: string; sport: number; dport: number; ttl?: number; payload?: Buffer; id?: number }): Buffer {
  const payload = o.payload ?? Buffer.alloc(18);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport, 0);
  udp.writeUInt16BE(o.dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(o.id ?? 0, 4);
  ip[8] = o.ttl ?? 64;
  ip[9] = 17;
  ip4(o.src).copy(ip, 12);
  ip4(o.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ip, udp, payload]);
}
