// loadBalancerSourceRanges as a per-connection filter; the core hands them over already clean.
import { BlockList } from 'node:net';
import { parseCidr } from '../../net/cidr.ts';

/** Decides whether a client address may connect; built once per change, asked once per connection. */
export interface SourceFilter {
  allows(address: string): boolean;
}

const allowAll: SourceFilter = { allows: () => true };

/**
 * Canonical CIDRs as a filter; an empty list allows everyone (as upstream). IPv4 ranges also match
 * IPv4-mapped IPv6 clients ("::ffff:10.0.0.1").
 */
export function sourceFilter(ranges: string[]): SourceFilter {
  if (ranges.length === 0) return allowAll;
  const list = new BlockList();
  for (const range of ranges) {
    const cidr = parseCidr(range);
    // The contract promises valid ranges; failing beats silently serving everyone.
    if (!cidr) throw new Error(`source range "${range}" is not a CIDR`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family === 'IPv4' ? 'ipv4' : 'ipv6');
  }
  return {
    allows: (address) => list.check(address, address.includes(':') ? 'ipv6' : 'ipv4'),
  };
}
