// An example CNF on quiver/memif: answers ARP requests for its address and ICMP echo requests
// sent to it, on one memif, without any dataplane daemon.
//
//   node dist/memif/examples/responder.js --socket /run/memif/responder.sock --role client \
//        --id 0 --ip 198.18.0.2 --mac 02:00:00:00:aa:01
import { Memif } from '../lib/index.js';

export interface ResponderConfig {
  mac: Buffer;  // 6 bytes
  ip: Buffer;   // 4 bytes
}

function checksum(b: Buffer, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += b.readUInt16BE(i);
  if ((end - start) & 1) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The reply to one Ethernet frame, or null when it is not an ARP request or ICMP echo for us. */
export function respond(frame: Buffer, me: ResponderConfig): Buffer | null {
  if (frame.length < 14) return null;
  const type = frame.readUInt16BE(12);
  if (type === 0x0806) return arpReply(frame, me);
  if (type === 0x0800) return echoReply(frame, me);
  return null;
}

function arpReply(f: Buffer, me: ResponderConfig): Buffer | null {
  // Ethernet/IPv4 ARP request (op 1) asking for our address.
  if (f.length < 42 || f.readUInt16BE(14) !== 1 || f.readUInt16BE(16) !== 0x0800 || f[18] !== 6 || f[19] !== 4) return null;
  if (f.readUInt16BE(20) !== 1 || !f.subarray(38, 42).equals(me.ip)) return null;
  const r = Buffer.alloc(42);
  f.copy(r, 0, 6, 12);      // to the requester
  me.mac.copy(r, 6);
  r.writeUInt16BE(0x0806, 12);
  f.copy(r, 14, 14, 20);    // htype, ptype, hlen, plen
  r.writeUInt16BE(2, 20);   // reply
  me.mac.copy(r, 22);       // sender: us
  me.ip.copy(r, 28);
  f.copy(r, 32, 22, 32);    // target: the requester's MAC and IP
  return r;
}

function echoReply(f: Buffer, me: ResponderConfig): Buffer | null {
  if (f.length < 34 || f[14]! >> 4 !== 4) return null;
  const ihl = (f[14]! & 0x0f) * 4;
  const totalLength = f.readUInt16BE(16);
  if (ihl < 20 || 14 + totalLength > f.length || totalLength < ihl + 8) return null;
  if (f[23] !== 1 || !f.subarray(30, 34).equals(me.ip) || (f.readUInt16BE(20) & 0x3fff) !== 0) return null;  // ICMP, to us, not fragmented
  const icmp = 14 + ihl;
  if (f[icmp] !== 8 || f[icmp + 1] !== 0 || checksum(f, icmp, 14 + totalLength) !== 0) return null;  // an intact echo request
  const r = Buffer.from(f.subarray(0, 14 + totalLength));
  f.copy(r, 0, 6, 12);
  me.mac.copy(r, 6);
  f.copy(r, 26, 30, 34);    // source: us (the address it was sent to)
  f.copy(r, 30, 26, 30);    // destination: the sender
  r[22] = 64;
  r.writeUInt16BE(0, 24);
  r.writeUInt16BE(checksum(r, 14, 14 + ihl), 24);
  r[icmp] = 0;              // echo reply: same id, sequence and data
  r.writeUInt16BE(0, icmp + 2);
  r.writeUInt16BE(checksum(r, icmp, 14 + totalLength), icmp + 2);
  return r;
}

/** Answers until the memif is closed; returns how many replies it sent. */
export async function runResponder(m: Memif, me: ResponderConfig): Promise<number> {
  let replies = 0;
  for await (const packets of m) {
    const out: Buffer[] = [];
    for (const p of packets) {
      const r = respond(p, me);
      if (r) out.push(r);
    }
    if (out.length) replies += m.send(out);
  }
  return replies;
}

function parseArgs(argv: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i]!.startsWith('--') || argv[i + 1] === undefined) throw new Error(`usage: responder --socket PATH [--role client|server] [--id N] --ip A.B.C.D --mac aa:bb:cc:dd:ee:ff`);
    o[argv[i]!.slice(2)] = argv[i + 1]!;
  }
  return o;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const me = { mac: Buffer.from((a.mac ?? '02:00:00:00:aa:01').split(':').map((h) => parseInt(h, 16))), ip: Buffer.from((a.ip ?? '198.18.0.2').split('.').map(Number)) };
  const m = Memif.open({ role: (a.role ?? 'client') as 'client' | 'server', socket: a.socket ?? '/run/memif/responder.sock', id: Number(a.id ?? 0) });
  m.on('connected', (peer) => console.log(`connected to ${peer}`));
  m.on('disconnected', (why) => console.log(`disconnected: ${why}`));
  process.on('SIGINT', () => m.close());
  process.on('SIGTERM', () => m.close());
  const n = await runResponder(m, me);
  console.log(`closed after ${n} replies`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
