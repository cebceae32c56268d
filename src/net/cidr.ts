// IP addresses and CIDR ranges, parsed one way everywhere (core and providers), on ipaddr.js.
import ipaddr from 'ipaddr.js';

export type IPFamilyName = 'IPv4' | 'IPv6';

export interface Cidr {
  family: IPFamilyName;
  /** The address as written, canonical (RFC 5952 for IPv6); host bits are kept, as Go's ParseCIDR input is. */
  address: string;
  prefix: number;
  /** address/prefix, canonical. */
  text: string;
}

// Go's parser (which the API server validates with) refuses IPv4 octets with leading zeros; so do we.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (IPV4.test(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(':') && !text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

function formatAddress(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

/** An IPv4 dotted quad or an IPv6 address, canonical; undefined when it is neither. */
export function canonicalIP(text: string): string | undefined {
  const ip = parseAddress(text);
  return ip ? formatAddress(ip) : undefined;
}

export function ipFamily(text: string): IPFamilyName | undefined {
  const ip = parseAddress(text);
  if (!ip) return undefined;
  return ip.kind() === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** "address/prefix" with a prefix in range for the family; undefined otherwise (no bare addresses). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const family: IPFamilyName = ip.kind() === 'ipv4' ? 'IPv4' : 'IPv6';
  if (prefix > (family === 'IPv4' ? 32 : 128)) return undefined;
  const address = formatAddress(ip);
  return { family, address, prefix, text: `${address}/${prefix}` };
}

/** Whether ip lies in cidr. Both of one family; an IPv4-mapped IPv6 address counts as its IPv4 form. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  let address = parseAddress(ip);
  if (!address) return false;
  if (address.kind() === 'ipv6' && cidr.family === 'IPv4' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  const base = parseAddress(cidr.address)!;
  if (address.kind() !== base.kind()) return false;
  return address.match(base, cidr.prefix);
}

export interface CleanRanges {
  ranges: string[];
  invalid: string[];
}

/** Trims, validates and canonicalises a list of CIDRs, dropping empty entries and duplicates. */
export function cleanCidrs(raw: readonly string[]): CleanRanges {
  const ranges: string[] = [];
  const invalid: string[] = [];
  for (const entry of raw) {
    const trimmed = entry.trim();
    if (!trimmed) continue;
    const cidr = parseCidr(trimmed);
    if (!cidr) invalid.push(trimmed);
    else if (!ranges.includes(cidr.text)) ranges.push(cidr.text);
  }
  return { ranges, invalid };
}
