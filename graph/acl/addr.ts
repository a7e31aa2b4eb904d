// IPv4/IPv6 address and prefix parsing for ACL rules: text -> 16 bytes (IPv4 in the first 4).

export interface Prefix {
  family: 4 | 6;
  bytes: Uint8Array; // 16 bytes, network order, host bits cleared
  length: number;
}

const IP4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIp4(s: string): Uint8Array | null {
  const m = IP4.exec(s);
  if (!m) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const v = Number(m[i + 1]);
    if (v > 255 || (m[i + 1]!.length > 1 && m[i + 1]![0] === '0')) return null;
    out[i] = v;
  }
  return out;
}

export function parseIp6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return null;
  let tail4: Uint8Array | null = null;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseIp4(s.slice(lastColon + 1));
    if (!tail4) return null;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const words = [...head, ...Array<string>(8 - total).fill('0'), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = words[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return null;
    const v = parseInt(w, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  if (tail4) out.set(tail4.subarray(0, 4), 12);
  return out;
}

/** "198.18.0.0/15", "2001:db8::/32", or a bare address (a host prefix). Error text or the prefix. */
export function parsePrefix(s: unknown): Prefix | string {
  if (typeof s !== 'string') return `${JSON.stringify(s)} is not an address or prefix`;
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseIp4(addr);
  const v6 = v4 ? null : parseIp6(addr);
  if (!v4 && !v6) return `'${s}' is not an IPv4 or IPv6 address or prefix`;
  const family: 4 | 6 = v4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const t = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t) || Number(t) > max) return `'${s}' has a prefix length that is not 0..${max}`;
    length = Number(t);
  }
  const bytes = (v4 ?? v6)!;
  for (let bit = length; bit < 128; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family, bytes, length };
}

export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // RFC 5952: the longest run of zero words (length >= 2) becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
