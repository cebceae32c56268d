// The local provider's address pools: parsing, checks and membership.
import { quote } from '../../error-message.ts';
import type { IPFamily } from '../provider.ts';
import { formatIP, parsePoolEntry, rangeContains, type IP, type IPRange } from './ip.ts';

export interface PoolConfig {
  name: string;
  addresses: string[];
  autoAssign: boolean;
}

export interface Pool {
  name: string;
  autoAssign: boolean;
  ranges: IPRange[];
}

/** Problems with the configured pools, one line each; empty when they are usable. */
export function poolProblems(pools: PoolConfig[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  pools.forEach((pool, i) => {
    if (names.has(pool.name)) problems.push(`addressPools[${i}].name: duplicate pool name ${quote(pool.name)}`);
    names.add(pool.name);
    pool.addresses.forEach((entry, j) => {
      if (!parsePoolEntry(entry)) {
        problems.push(`addressPools[${i}].addresses[${j}]: ${quote(entry)} is neither a CIDR nor a range "first-last" of one family`);
      }
    });
  });
  const all = pools.flatMap((pool) =>
    pool.addresses.flatMap((entry) => (parsePoolEntry(entry) ? [{ pool: pool.name, entry, range: parsePoolEntry(entry)! }] : [])),
  );
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.range.family === b.range.family && a.range.first <= b.range.last && b.range.first <= a.range.last) {
        problems.push(`addressPools: "${a.entry}" (${a.pool}) overlaps "${b.entry}" (${b.pool})`);
      }
    }
  }
  return problems;
}

/** Pools from validated configuration (see poolProblems). */
export function parsePools(pools: PoolConfig[]): Pool[] {
  return pools.map((pool) => ({
    name: pool.name,
    autoAssign: pool.autoAssign,
    ranges: pool.addresses.map((entry) => parsePoolEntry(entry)!),
  }));
}

export function poolContains(pool: Pool, ip: IP): boolean {
  return pool.ranges.some((range) => rangeContains(range, ip));
}

export function poolOf(pools: Pool[], ip: IP): Pool | undefined {
  return pools.find((pool) => poolContains(pool, ip));
}

/** The first address of the family in the pools, in configured order, that `taken` does not reject. */
export function firstFree(pools: Pool[], family: IPFamily, taken: (ip: string) => boolean): string | undefined {
  for (const pool of pools) {
    for (const range of pool.ranges) {
      if (range.family !== family) continue;
      for (let value = range.first; value <= range.last; value++) {
        const text = formatIP({ family, value });
        if (!taken(text)) return text;
      }
    }
  }
  return undefined;
}
