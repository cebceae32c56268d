// IP addresses as numbers, for the pool range arithmetic that src/net/cidr.ts does not do; parsing,
// validation and canonical text are cidr.ts's ("fd00::1" and "fd00:0::0001" are one address).
import { canonicalIP, ipFamily, parseCidr } from '../../net/cidr.ts';
import type { IPFamily } from '../provider.ts';

export interface IP {
  family: IPFamily;
  value: bigint;
}

/** An inclusive range of addresses of one family. */
export interface IPRange {
  family: IPFamily;
  first: bigint;
  last: bigint;
}

const bitsOf = (family: IPFamily): number => (family === 'IPv4' ? 32 : 128);

/** An IPv4 or IPv6 address (no zone, no prefix) as a number; undefined when it is not one. */
export function parseIP(text: string): IP | undefined {
  const canonical = canonicalIP(text);
  if (canonical === undefined) return undefined;
  const family = ipFamily(canonical)!;
  if (family === 'IPv4') return { family, value: canonical.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n) };
  // Canonical IPv6 is hex groups with at most one "::" and no dotted tail.
  const [head = '', tail] = canonical.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return { family, value: [...headGroups, ...zeros, ...tailGroups].reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n) };
}

/** The canonical text of an address: dotted quad, or RFC 5952 for IPv6. */
export function formatIP(ip: IP): string {
  if (ip.family === 'IPv4') {
    // A free-address search formats every address it passes: plain numbers, not bigint shifts.
    const v = Number(ip.value);
    return `${Math.floor(v / 16_777_216)}.${Math.floor(v / 65_536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((ip.value >> shift) & 0xffffn).toString(16));
  return canonicalIP(groups.join(':'))!;
}

/** A CIDR as the block it covers, whatever host bits are set; undefined when malformed. */
function cidrRange(text: string): (IPRange & { prefix: number }) | undefined {
  const cidr = parseCidr(text);
  if (!cidr) return undefined;
  const hostBits = BigInt(bitsOf(cidr.family) - cidr.prefix);
  const first = (parseIP(cidr.address)!.value >> hostBits) << hostBits;
  return { family: cidr.family, first, last: first + (1n << hostBits) - 1n, prefix: cidr.prefix };
}

/**
 * A pool entry: a CIDR or an inclusive range "first-last". The network and broadcast addresses of an
 * IPv4 CIDR are left out, because many clients refuse to connect to them.
 */
export function parsePoolEntry(text: string): IPRange | undefined {
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const first = parseIP(text.slice(0, dash).trim());
    const last = parseIP(text.slice(dash + 1).trim());
    if (!first || !last || first.family !== last.family || first.value > last.value) return undefined;
    return { family: first.family, first: first.value, last: last.value };
  }
  const cidr = cidrRange(text.trim());
  if (!cidr) return undefined;
  if (cidr.family === 'IPv4' && cidr.prefix <= 30) return { family: 'IPv4', first: cidr.first + 1n, last: cidr.last - 1n };
  return { family: cidr.family, first: cidr.first, last: cidr.last };
}

export function rangeContains(range: IPRange, ip: IP): boolean {
  return range.family === ip.family && ip.value >= range.first && ip.value <= range.last;
}

/** Loopback addresses are local without being added to any interface. */
export function isLoopback(ip: IP): boolean {
  return ip.family === 'IPv4' ? ip.value >> 24n === 127n : ip.value === 1n;
}
