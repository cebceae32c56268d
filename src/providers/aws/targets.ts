// Which node IP becomes a target, and how a target group's registrations change.

import { cidrContains, ipFamily, parseCidr, type Cidr } from '../../net/cidr.ts';
import type { Target } from '../provider.ts';
import { TARGETS_PER_CALL, type TargetRef } from './model.ts';

/**
 * One IPv4 address per node, by address type preference (InternalIP first by default). Nodes without a
 * usable address are left out; two nodes reporting the same IP give one target.
 */
export function selectTargetIps(targets: Target[], preference: readonly string[]): string[] {
  const ips = new Set<string>();
  for (const target of targets) {
    for (const type of preference) {
      const address = target.addresses.find((a) => a.type === type && ipFamily(a.address) === 'IPv4');
      if (address) {
        ips.add(address.address);
        break;
      }
    }
  }
  return [...ips].sort();
}

/**
 * The nodes target-node-labels selects, as cloud-provider-aws selects them: every label present, with the
 * given value unless that is empty.
 */
export function nodesWithLabels(targets: Target[], selector: Record<string, string>): Target[] {
  const wanted = Object.entries(selector);
  return targets.filter((t) => wanted.every(([key, value]) => t.labels?.[key] !== undefined && (value === '' || t.labels[key] === value)));
}

/** AWS refuses an IP target outside the VPC unless its zone is "all". */
export function targetRefs(ips: string[], port: number, vpcCidrs: string[]): TargetRef[] {
  const blocks = vpcCidrs.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  return ips.map((id) => (blocks.some((cidr) => cidrContains(cidr, id)) ? { id, port } : { id, port, availabilityZone: 'all' }));
}

function key(target: TargetRef): string {
  return `${target.id}:${target.port}`;
}

export function chunk<T>(items: T[], size: number = TARGETS_PER_CALL): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

export interface TargetChanges {
  deregister: TargetRef[];
  register: TargetRef[];
}

/** What to deregister and register so that observed becomes desired (planTargets deregisters first). */
export function diffTargets(observed: TargetRef[], desired: TargetRef[]): TargetChanges {
  const want = new Set(desired.map(key));
  const have = new Set(observed.map(key));
  return {
    deregister: observed.filter((t) => !want.has(key(t))),
    register: desired.filter((t) => !have.has(key(t))),
  };
}
