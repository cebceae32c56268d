// desired + observed -> ordered Compute changes, for a sync, a node change, or a deletion. Pure.
//
// Order matters to GCE and to crashes. Resources are created in the desired order (address, firewalls,
// health checks, target pool / groups / NEGs, backend services, proxies, forwarding rules LAST: a forwarding
// rule's existence means "fully created"). A resource GCE cannot change in place is deleted and created
// again, and so is everything that refers to it (deleted first, newest first). Leftovers of another shape
// of the Service go after the new shape is up. Every step is re-derived from what exists, so a sync that
// stops anywhere is finished by the next one.

import { invalidService, type LoadBalancerIdentity } from '../provider.ts';
import type { Candidate } from './desired.ts';
import { type Action, type DesiredResource, MEMBERS_PER_CALL, type Member, MUTABLE_KINDS, type ObservedResource, refKey } from './model.ts';
import { describesService } from './names.ts';

/** Compute answers full URLs for references; we write paths from "projects/". */
function scalar(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  const at = value.indexOf('projects/');
  const path = at > 0 && /^https?:\/\//.test(value) ? value.slice(at) : value;
  return path.endsWith('/32') && /^\d+\.\d+\.\d+\.\d+\/32$/.test(path) ? path.slice(0, -3) : path;
}

function isEmpty(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === false ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && !Array.isArray(value) && Object.values(value as object).every(isEmpty))
  );
}

/**
 * Whether what exists satisfies what we want: every field we set has our value (lists as sets, references
 * by path); fields GCE adds on its own (defaults, ids, fingerprints) are not ours to compare.
 */
export function matches(desired: unknown, observed: unknown): boolean {
  if (isEmpty(desired)) return isEmpty(observed);
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return false;
    const left = [...observed];
    return desired.every((d) => {
      const i = left.findIndex((o) => matches(d, o));
      if (i < 0) return false;
      left.splice(i, 1);
      return true;
    });
  }
  if (typeof desired === 'object') {
    if (typeof observed !== 'object' || observed === null) return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => matches(v, (observed as Record<string, unknown>)[k]));
  }
  return observed !== undefined && observed !== null && scalar(desired) === scalar(observed);
}

/** The fields of spec that differ from what exists. */
export function differingFields(spec: Record<string, unknown>, raw: Record<string, unknown>): string[] {
  return Object.keys(spec).filter((k) => !matches(spec[k], raw[k]));
}

function chunks(members: Member[], size: number): Member[][] {
  const out: Member[][] = [];
  for (let i = 0; i < members.length; i += size) out.push(members.slice(i, i + size));
  return out;
}

/** The add/remove calls that turn observed members into desired ones: removals first (a full group could not take more). */
export function planMembers(resource: DesiredResource, observed: Member[]): Action[] {
  const want = new Map((resource.members ?? []).map((m) => [m.key, m]));
  const have = new Map(observed.map((m) => [m.key, m]));
  const remove = observed.filter((m) => !want.has(m.key));
  const add = (resource.members ?? []).filter((m) => !have.has(m.key));
  const size = MEMBERS_PER_CALL[resource.kind] ?? 500;
  const ref = { kind: resource.kind, name: resource.name, ...(resource.zone ? { zone: resource.zone } : {}) };
  return [
    ...chunks(remove, size).map((members): Action => ({ type: 'removeMembers', ref, members })),
    ...chunks(add, size).map((members): Action => ({ type: 'addMembers', ref, members })),
  ];
}

/** Kinds whose create call carries the members itself. */
const MEMBERS_IN_CREATE = new Set(['targetPool']);

export interface SyncInput {
  identity: LoadBalancerIdentity;
  desired: DesiredResource[];
  /** Observed state by refKey, for every desired resource and every candidate (absent = not there). */
  observed: Map<string, ObservedResource>;
  /** Leftovers to remove once the desired resources are up, in deletion order. */
  leftovers: Candidate[];
}

export function planSync({ identity, desired, observed, leftovers }: SyncInput): Action[] {
  const replace = new Map<string, string>();
  for (const r of desired) {
    const o = observed.get(refKey(r));
    if (!o) continue;
    if (!r.shared && !describesService(o.raw['description'] as string | undefined, identity)) {
      throw invalidService(
        `GCE ${r.kind} "${r.name}" exists and does not belong to this Service (its description: ${String(o.raw['description'] ?? '')})`,
      );
    }
    const fields = differingFields(r.spec, o.raw);
    if (fields.length > 0 && !MUTABLE_KINDS.has(r.kind)) replace.set(refKey(r), `${fields.join(', ')} changed`);
    const dependency = r.dependsOn.find((d) => replace.has(d));
    if (dependency !== undefined && !replace.has(refKey(r))) replace.set(refKey(r), `${dependency} is replaced`);
  }

  const actions: Action[] = [];
  for (const r of [...desired].reverse()) {
    const reason = replace.get(refKey(r));
    if (reason !== undefined) actions.push({ type: 'delete', ref: r, shared: r.shared, reason });
  }
  for (const r of desired) {
    const o = observed.get(refKey(r));
    if (!o || replace.has(refKey(r))) {
      actions.push({ type: 'create', resource: r });
      if (r.members && !MEMBERS_IN_CREATE.has(r.kind)) actions.push(...planMembers(r, []));
      continue;
    }
    const fields = differingFields(r.spec, o.raw);
    if (fields.length > 0) actions.push({ type: 'update', resource: r, reason: `${fields.join(', ')} changed` });
    if (r.members) actions.push(...planMembers(r, o.members ?? []));
  }
  const wanted = new Set(desired.map(refKey));
  for (const c of leftovers) {
    if (wanted.has(refKey(c.ref)) || !observed.has(refKey(c.ref))) continue;
    actions.push({ type: 'delete', ref: c.ref, shared: c.shared, reason: 'no longer used by this Service' });
  }
  return actions;
}

/** Only the member changes (a node change): the cheap path, no spec comparison. */
export function planTargets(desired: DesiredResource[], observed: Map<string, ObservedResource>): Action[] {
  return desired.filter((r) => r.members && observed.has(refKey(r))).flatMap((r) => planMembers(r, observed.get(refKey(r))!.members ?? []));
}
