// Which Service holds which address. Pure: `allocate` decides without changing anything, and the
// provider commits the decision only once it has succeeded, so that a rejected request disturbs nothing.
import { quote } from '../../error-message.ts';
import type { IPFamily } from '../provider.ts';
import { parseIP } from './ip.ts';
import { firstFree, poolContains, poolOf, type Pool } from './pools.ts';

/** A Service's claim on one address. */
export interface Holder {
  owner: string;
  /** Shown in messages: "namespace/name". */
  service: string;
  sharingKey: string | undefined;
  /** "TCP/53", "UDP/53"... */
  ports: string[];
  /**
   * Rebuilt from status at start: the sharing key is not known until the Service is ensured again, and
   * holders that already shared the address keep doing so in the meantime.
   */
  restored: boolean;
}

export interface AllocationRequest {
  owner: string;
  service: string;
  families: IPFamily[];
  requested: { family: IPFamily; ip: string }[];
  pool: string | undefined;
  sharingKey: string | undefined;
  ports: string[];
  /** Addresses in the Service's status today, canonical. */
  current: string[];
}

/** A refusal `waitsForCapacity` when another Service holds what was asked for: it may come free. */
export type AllocationResult = { ok: true; ips: string[] } | { ok: false; message: string; waitsForCapacity: boolean };

export class AllocationTable {
  private readonly byIP = new Map<string, Map<string, Holder>>();
  private readonly byOwner = new Map<string, string[]>();

  holders(ip: string): Holder[] {
    return [...(this.byIP.get(ip)?.values() ?? [])];
  }

  /** Whether anyone holds the address: asked for every address a search for a free one passes. */
  isHeld(ip: string): boolean {
    return (this.byIP.get(ip)?.size ?? 0) > 0;
  }

  ipsOf(owner: string): string[] {
    return this.byOwner.get(owner) ?? [];
  }

  /** Every address with at least one holder. */
  addresses(): string[] {
    return [...this.byIP.keys()];
  }

  /** Replaces the owner's claims; returns the addresses that no longer have any holder. */
  assign(holder: Holder, ips: string[]): string[] {
    const freed = this.release(holder.owner).filter((ip) => !ips.includes(ip));
    for (const ip of ips) {
      let holders = this.byIP.get(ip);
      if (!holders) this.byIP.set(ip, (holders = new Map()));
      holders.set(holder.owner, holder);
    }
    this.byOwner.set(holder.owner, [...ips]);
    return freed;
  }

  /** The owner's claims as "ip port" pairs, to tell whether a change gave anything up. */
  claims(owner: string): Set<string> {
    return new Set(this.ipsOf(owner).flatMap((ip) => (this.byIP.get(ip)?.get(owner)?.ports ?? []).map((port) => `${ip} ${port}`)));
  }

  /** Drops the owner's claims; returns the addresses that no longer have any holder. */
  release(owner: string): string[] {
    const freed: string[] = [];
    for (const ip of this.byOwner.get(owner) ?? []) {
      const holders = this.byIP.get(ip);
      holders?.delete(owner);
      if (holders?.size === 0) {
        this.byIP.delete(ip);
        freed.push(ip);
      }
    }
    this.byOwner.delete(owner);
    return freed;
  }
}

function overlap(a: string[], b: string[]): string[] {
  return a.filter((port) => b.includes(port));
}

/** Why the requester may not use the address; undefined when it may. */
function conflict(table: AllocationTable, ip: string, req: AllocationRequest): string | undefined {
  const alreadyHolds = table.ipsOf(req.owner).includes(ip);
  for (const other of table.holders(ip)) {
    if (other.owner === req.owner) continue;
    const sameKey = req.sharingKey !== undefined && other.sharingKey === req.sharingKey;
    if (!sameKey && !(other.restored && alreadyHolds)) {
      return (
        `address ${ip} is already used by Service ${other.service}` +
        (other.sharingKey !== undefined && !other.restored ? ` (sharing key ${quote(other.sharingKey)})` : '')
      );
    }
    const ports = overlap(req.ports, other.ports);
    if (ports.length > 0) return `address ${ip} is shared with Service ${other.service}, and ports ${ports.join(', ')} overlap`;
  }
  return undefined;
}

function familyOf(ip: string): IPFamily | undefined {
  return parseIP(ip)?.family;
}

function allowedPools(pools: Pool[], req: AllocationRequest): Pool[] | string {
  if (req.pool === undefined) return pools;
  const pool = pools.find((p) => p.name === req.pool);
  return pool ? [pool] : `address pool ${quote(req.pool)} does not exist (known: ${pools.map((p) => p.name).join(', ')})`;
}

/** Picks one address per family for the request, or says in plain words why it cannot. */
export function allocate(table: AllocationTable, pools: Pool[], req: AllocationRequest): AllocationResult {
  const scope = allowedPools(pools, req);
  if (typeof scope === 'string') return { ok: false, message: scope, waitsForCapacity: false };
  const families = [...new Set(req.families.length > 0 ? req.families : (['IPv4'] as IPFamily[]))];
  for (const r of req.requested) {
    if (!families.includes(r.family)) {
      return {
        ok: false,
        message: `requested address ${r.ip} is ${r.family}, but the Service's ipFamilies are ${families.join(', ')}`,
        waitsForCapacity: false,
      };
    }
  }
  const inScope = (ip: string): boolean => {
    const parsed = parseIP(ip);
    return parsed !== undefined && scope.some((pool) => poolContains(pool, parsed));
  };
  const usable = (ip: string): boolean => inScope(ip) && conflict(table, ip, req) === undefined;

  const ips: string[] = [];
  for (const family of families) {
    const requested = req.requested.find((r) => r.family === family);
    if (requested) {
      const ip = parseIP(requested.ip)!;
      if (!inScope(requested.ip)) {
        const where = req.pool !== undefined ? `address pool ${quote(req.pool)}` : 'any address pool';
        const actual = poolOf(pools, ip);
        return {
          ok: false,
          message:
            `requested address ${requested.ip} is not in ${where}` +
            (actual && req.pool !== undefined ? ` (it is in "${actual.name}")` : ''),
          waitsForCapacity: false,
        };
      }
      const why = conflict(table, requested.ip, req);
      if (why) return { ok: false, message: why, waitsForCapacity: true };
      ips.push(requested.ip);
      continue;
    }
    // Stability first: what the Service holds, then what its status says.
    const kept = [...table.ipsOf(req.owner), ...req.current].find((ip) => familyOf(ip) === family && usable(ip));
    if (kept) {
      ips.push(kept);
      continue;
    }
    if (req.sharingKey !== undefined) {
      const group = table
        .addresses()
        .filter((ip) => familyOf(ip) === family && inScope(ip))
        .filter((ip) => table.holders(ip).some((h) => h.owner !== req.owner && h.sharingKey === req.sharingKey));
      const shared = group.find((ip) => conflict(table, ip, req) === undefined);
      if (shared) {
        ips.push(shared);
        continue;
      }
      if (group.length > 0) return { ok: false, message: conflict(table, group[0]!, req)!, waitsForCapacity: true };
    }
    const autoPools = req.pool !== undefined ? scope : scope.filter((pool) => pool.autoAssign);
    if (!autoPools.some((pool) => pool.ranges.some((range) => range.family === family))) {
      return {
        ok: false,
        message: `no ${req.pool !== undefined ? `address pool ${quote(req.pool)}` : 'auto-assigned address pool'} has ${family} addresses`,
        waitsForCapacity: false,
      };
    }
    const free = firstFree(autoPools, family, (ip) => table.isHeld(ip));
    if (!free) {
      return {
        ok: false,
        message: `no free ${family} address left in ${autoPools.map((p) => `"${p.name}"`).join(', ')}`,
        waitsForCapacity: true,
      };
    }
    ips.push(free);
  }
  return { ok: true, ips };
}
