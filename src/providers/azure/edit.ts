// Pure edits of a shared load balancer and of the cluster's NSG: put one Service's share in, take it out,
// set the backend pool, allocate NSG priorities. Each edit touches only what the Service owns (by name) and
// keeps an existing item object when it already matches, so that "nothing changed" is a deep-equal check.

import type { BackendAddressPool, LoadBalancer, LoadBalancingRule, NetworkSecurityGroup, SecurityRule } from '@azure/arm-network';
import { invalidService } from '../provider.ts';
import type { ServicePart } from './desired.ts';
import { ownedByService } from './names.ts';
import { compareStrings } from '../../compare.ts';

function isNamed(x: unknown): x is { name: string } {
  return x !== null && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string';
}

/** JSON with every array of named items sorted by name: ARM does not promise to keep our order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (Array.isArray(v) && v.every(isNamed)) return [...v].sort((a, b) => compareStrings(a.name, b.name));
    return v;
  });
}

/** True when every field desired sets has the same value in actual (ARM adds ids, etags, states, defaults). */
export function matches(desired: unknown, actual: unknown, key = ''): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    // Named items (rules, pool addresses) match by name, in any order.
    if (desired.every(isNamed))
      return desired.every((d) =>
        matches(
          d,
          actual.find((a) => isNamed(a) && a.name === d.name),
        ),
      );
    return desired.every((d, i) => matches(d, actual[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(desired).every(([k, v]) => matches(v, (actual as Record<string, unknown>)[k], k));
  }
  // ARM resource IDs are case-insensitive, and ARM may echo them in another case.
  if (key === 'id' && typeof desired === 'string' && typeof actual === 'string') return desired.toLowerCase() === actual.toLowerCase();
  return desired === actual;
}

/**
 * Replaces (or adds) the item named like desired, unless the existing one already matches (and `same`
 * agrees, for what `matches` cannot see: a field desired leaves unset matches any value).
 */
function upsert<T extends { name?: string }>(list: T[], desired: T, same: (desired: T, actual: T) => boolean = () => true): void {
  const i = list.findIndex((x) => x.name === desired.name);
  if (i < 0) list.push(desired);
  else if (!matches(desired, list[i]) || !same(desired, list[i]!)) list[i] = desired;
}

/**
 * A rule that should have no probe must lose the one it has: a UDP port whose Service went from
 * externalTrafficPolicy Local to Cluster keeps its rule while its probe goes, and ARM refuses a rule that
 * references a probe the PUT removes (InvalidResourceReference).
 */
function sameProbe(desired: LoadBalancingRule, actual: LoadBalancingRule): boolean {
  return (desired.probe === undefined) === (actual.probe === undefined);
}

/** Thrown by an edit when a load balancer has no room left for a new Service. */
export class LoadBalancerFull extends Error {
  constructor(lbName: string, what: string) {
    super(`load balancer ${lbName} is full (${what})`);
    this.name = 'LoadBalancerFull';
  }
}

export interface Limits {
  maxFrontends: number;
  maxRules: number;
}

/** What a Service owns on an LB: its frontends by name, rules and probes by name or by frontend reference. */
function isOwnedRule(
  rule: { name?: string; frontendIPConfiguration?: { id?: string } },
  lbName: string,
  frontendNames: Set<string>,
): boolean {
  if (ownedByService(rule.name, { lbName })) return true;
  const id = rule.frontendIPConfiguration?.id;
  return id !== undefined && frontendNames.has(id.slice(id.lastIndexOf('/') + 1));
}

export interface Removed {
  /** Public IP IDs the removed frontends pointed at (to delete them afterwards, when they are ours). */
  publicIPIds: string[];
  frontends: number;
}

/** Takes every frontend, rule and probe of the Service (identified by its lbName) out of the LB. */
export function removeService(lb: LoadBalancer, lbName: string, keepFrontend?: string): Removed {
  const frontends = (lb.frontendIPConfigurations ?? []).filter((f) => ownedByService(f.name, { lbName }) && f.name !== keepFrontend);
  const names = new Set(frontends.map((f) => f.name!));
  const publicIPIds = frontends.flatMap((f) => (f.publicIPAddress?.id ? [f.publicIPAddress.id] : []));
  lb.frontendIPConfigurations = (lb.frontendIPConfigurations ?? []).filter((f) => !names.has(f.name!));
  lb.loadBalancingRules = (lb.loadBalancingRules ?? []).filter((r) => !isOwnedRule(r, lbName, names));
  const usedProbes = new Set((lb.loadBalancingRules ?? []).flatMap((r) => (r.probe?.id ? [r.probe.id.toLowerCase()] : [])));
  lb.probes = (lb.probes ?? []).filter(
    (p) => !ownedByService(p.name, { lbName }) || (p.id !== undefined && usedProbes.has(p.id.toLowerCase())),
  );
  return { publicIPIds, frontends: frontends.length };
}

export interface Applied {
  /** Public IP IDs the Service's frontend referenced before and no longer does. */
  releasedPublicIPIds: string[];
}

/**
 * Makes the Service's frontend, rules and probes on the LB exactly part. A Service new to this LB must fit
 * the limits (LoadBalancerFull otherwise); one already on it may grow past them, since moving it would
 * change its address.
 */
export function applyServicePart(lb: LoadBalancer, lbName: string, part: ServicePart, limits: Limits, loadBalancerName: string): Applied {
  const owned = (name: string | undefined) => ownedByService(name, { lbName });
  const frontends = lb.frontendIPConfigurations ?? [];
  const before = frontends.find((f) => f.name === part.frontend.name);
  const stale = frontends.filter((f) => owned(f.name) && f.name !== part.frontend.name);
  const staleNames = new Set(stale.map((f) => f.name!));
  const wantedRules = new Set(part.rules.map((r) => r.name));
  const wantedProbes = new Set(part.probes.map((p) => p.name));
  lb.frontendIPConfigurations = frontends.filter((f) => !staleNames.has(f.name!));
  lb.loadBalancingRules = (lb.loadBalancingRules ?? []).filter((r) => !isOwnedRule(r, lbName, staleNames) || wantedRules.has(r.name));
  lb.probes = (lb.probes ?? []).filter((p) => !owned(p.name) || wantedProbes.has(p.name));
  if (before === undefined) {
    const count = lb.frontendIPConfigurations.length;
    const rules = lb.loadBalancingRules.filter((r) => !wantedRules.has(r.name)).length;
    if (count + 1 > limits.maxFrontends) throw new LoadBalancerFull(loadBalancerName, `${count} frontends`);
    if (rules + part.rules.length > limits.maxRules) throw new LoadBalancerFull(loadBalancerName, `${rules} rules`);
  }
  upsert(lb.frontendIPConfigurations, part.frontend);
  for (const probe of part.probes) upsert(lb.probes, probe);
  for (const rule of part.rules) upsert(lb.loadBalancingRules, rule, sameProbe);
  const newPip = part.frontend.publicIPAddress?.id?.toLowerCase();
  const released = [before, ...stale].flatMap((f) => {
    const id = f?.publicIPAddress?.id;
    return id !== undefined && id.toLowerCase() !== newPip ? [id] : [];
  });
  return { releasedPublicIPIds: released };
}

/** Sets the pool (by name) to exactly pool's addresses; other pools are left alone. */
export function applyBackendPool(lb: LoadBalancer, pool: BackendAddressPool): void {
  lb.backendAddressPools ??= [];
  upsert(lb.backendAddressPools, pool);
}

/** Azure's allowed NSG priorities; cloud-provider-azure uses 500-4096 for Service rules. */
export const PRIORITY_MIN = 500;
export const PRIORITY_MAX = 4096;

/**
 * Makes the Service's allow rules in the NSG exactly rules (matched by the Service's name prefix), keeping
 * the priority of a rule that stays and giving each new rule the lowest priority no rule in the NSG holds,
 * foreign rules included. Every rule that is not the Service's is left as it was.
 */
export function applySecurityRules(nsg: NetworkSecurityGroup, lbName: string, rules: SecurityRule[]): void {
  const existing = nsg.securityRules ?? [];
  const mine = new Map(existing.filter((r) => ownedByService(r.name, { lbName })).map((r) => [r.name!, r]));
  const kept = existing.filter((r) => !ownedByService(r.name, { lbName }));
  const wanted = new Set(rules.map((r) => r.name!));
  const taken = new Set<number>();
  for (const r of existing) if (r.priority !== undefined && (!mine.has(r.name!) || wanted.has(r.name!))) taken.add(r.priority);
  const next: SecurityRule[] = [...kept];
  let candidate = PRIORITY_MIN;
  for (const rule of rules) {
    const old = mine.get(rule.name!);
    if (old?.priority !== undefined) {
      const withPriority = { ...rule, priority: old.priority };
      next.push(matches(withPriority, old) ? old : withPriority);
      continue;
    }
    while (taken.has(candidate)) candidate++;
    if (candidate > PRIORITY_MAX)
      throw invalidService(
        `NSG ${nsg.name ?? ''} has no free priority between ${PRIORITY_MIN} and ${PRIORITY_MAX} for the Service's allow rules`,
      );
    taken.add(candidate);
    next.push({ ...rule, priority: candidate });
  }
  nsg.securityRules = next;
}

/** Removes the Service's allow rules; nothing else. */
export function removeSecurityRules(nsg: NetworkSecurityGroup, lbName: string): void {
  nsg.securityRules = (nsg.securityRules ?? []).filter((r) => !ownedByService(r.name, { lbName }));
}
