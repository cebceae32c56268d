import { BlockList } from 'node:net';
import { parseCIDR } from './ip.ts';

/** Decides whether a client address may connect; built once per change, asked once per connection. */
export interface SourceFilter {
  allows(address: string): boolean;
}

const allowAll: SourceFilter = { allows: () => true };

/** The CIDRs that are not valid, so that a Service with a typo is rejected rather than left open. */
export function invalidSourceRanges(ranges: string[]): string[] {
  return ranges.filter((range) => !parseCIDR(range.trim()));
}

/**
 * loadBalancerSourceRanges as a filter; an empty list allows everyone (as upstream). IPv4 ranges also
 * match IPv4-mapped IPv6 clients ("::ffff:10.0.0.1").
 */
export function sourceFilter(ranges: string[]): SourceFilter {
  if (ranges.length === 0) return allowAll;
  const list = new BlockList();
  for (const range of ranges) {
    const cidr = parseCIDR(range.trim());
    if (!cidr) continue;
    const [address] = range.trim().split('/') as [string];
    list.addSubnet(address, cidr.prefix, cidr.family === 'IPv4' ? 'ipv4' : 'ipv6');
  }
  return {
    allows: (address) => list.check(address, address.includes(':') ? 'ipv6' : 'ipv4'),
  };
}
