// IP addresses as numbers, so that pools, ranges and comparisons do not depend on how an address is
// spelled ("fd00::1" and "fd00:0::0001" are one address).
import { isIPv4, isIPv6 } from 'node:net';
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

function parseV4(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(text: string): bigint {
  // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let body = text;
  if (tail.includes('.')) {
    const v4 = parseV4(tail);
    body = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = body.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? [] : new Array<string>(8 - headGroups.length - restGroups.length).fill('0');
  return [...headGroups, ...zeros, ...restGroups].reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); undefined when it is not one. */
export function parseIP(text: string): IP | undefined {
  if (isIPv4(text)) return { family: 'IPv4', value: parseV4(text) };
  if (isIPv6(text) && !text.includes('%')) return { family: 'IPv6', value: parseV6(text) };
  return undefined;
}

/** The canonical text of an address: dotted quad, or RFC 5952 for IPv6. */
export function formatIP(ip: IP): string {
  if (ip.family === 'IPv4') {
    return [24n, 16n, 8n, 0n].map((shift) => ((ip.value >> shift) & 0xffn).toString()).join('.');
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => Number((ip.value >> shift) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The canonical text of an address given as text; undefined when it is not an address. */
export function canonicalIP(text: string): string | undefined {
  const ip = parseIP(text);
  return ip ? formatIP(ip) : undefined;
}

/** A CIDR ("10.0.0.0/24", "fd00::/120") as the range it covers; undefined when malformed. */
export function parseCIDR(text: string): (IPRange & { prefix: number }) | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bits = bitsOf(ip.family);
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  const first = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, first, last: first + (1n << hostBits) - 1n, prefix };
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
  const cidr = parseCIDR(text.trim());
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
