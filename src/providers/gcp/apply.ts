// Executes planned actions, one Compute mutation each (waiting for its operation), with each action's
// tolerances: "already exists" on create is success once the resource is seen to be ours, "already gone"
// on delete is success, a stale fingerprint re-reads and writes again, "in use" on a shared resource means
// another Service still needs it, and a quota error is told to the Service's owner.

import type { Logger } from 'pino';
import { invalidService, type LoadBalancerIdentity, ProviderError, type ServiceEvents, serviceKey } from '../provider.ts';
import { isAlreadyExists, isFingerprintMismatch, isInUse, isNotFound, isQuotaExceeded, quotaName, reasons, settling } from './errors.ts';
import type { Action, DesiredResource, Kind, ResourceRef } from './model.ts';
import { refKey } from './model.ts';
import { describesService } from './names.ts';
import { getOptional, type KindOps } from './resources.ts';

/** How long a Service waits after GCE said a resource is still in use by another one of its own. */
export const IN_USE_RETRY_MS = 5_000;
/** How long a Service waits after a quota error before trying again. */
export const QUOTA_RETRY_MS = 60_000;
const FINGERPRINT_ATTEMPTS = 3;

export interface ApplyContext {
  ops: Record<Kind, KindOps>;
  identity: LoadBalancerIdentity;
  events: ServiceEvents;
  logger: Logger;
  /** Resources whose deletion guards a shared one (see Candidate.guard); filled as deletions succeed. */
  deleted: Set<string>;
}

function body(r: DesiredResource): Record<string, unknown> {
  return { name: r.name, description: r.description, ...r.spec };
}

function describe(ref: ResourceRef): string {
  return `${ref.kind} ${ref.zone ? `${ref.zone}/` : ''}${ref.name}`;
}

function quota(ctx: ApplyContext, err: unknown, ref: ResourceRef): ProviderError {
  const name = quotaName(err);
  ctx.events.record(
    ctx.identity,
    'Warning',
    'QuotaExceeded',
    `GCE quota ${name} exceeded while creating ${describe(ref)}; retrying in ${QUOTA_RETRY_MS / 1000} s`,
  );
  return new ProviderError(`GCE quota ${name} exceeded (creating ${describe(ref)})`, {
    retryable: true,
    retryAfterMs: QUOTA_RETRY_MS,
    cause: err,
  });
}

async function create(ctx: ApplyContext, r: DesiredResource): Promise<void> {
  const ops = ctx.ops[r.kind];
  try {
    await ops.insert(r, body(r));
  } catch (err) {
    if (isQuotaExceeded(err)) throw quota(ctx, err, r);
    if (!isAlreadyExists(err)) throw err;
    // Created by an earlier attempt whose answer was lost, by a crashed process, or by cloud-provider-gcp.
    const existing = await getOptional(ops, r);
    if (!existing) throw settling(`GCE said ${describe(r)} exists but it cannot be read yet`, IN_USE_RETRY_MS, err);
    if (!r.shared && !describesService(existing['description'] as string | undefined, ctx.identity)) {
      throw invalidService(`GCE ${describe(r)} exists and does not belong to this Service`);
    }
    ctx.logger.info({ service: serviceKey(ctx.identity), resource: describe(r) }, 'adopted an existing resource');
  }
}

async function update(ctx: ApplyContext, r: DesiredResource): Promise<void> {
  const ops = ctx.ops[r.kind];
  for (let attempt = 1; ; attempt++) {
    const current = await getOptional(ops, r);
    if (!current) throw settling(`GCE ${describe(r)} vanished during an update`, IN_USE_RETRY_MS, undefined);
    try {
      await ops.update(r, body(r), current['fingerprint'] as string | undefined);
      return;
    } catch (err) {
      if (!isFingerprintMismatch(err) || attempt >= FINGERPRINT_ATTEMPTS) throw err;
      ctx.logger.info({ service: serviceKey(ctx.identity), resource: describe(r) }, 'fingerprint changed under us; re-reading');
    }
  }
}

async function remove(ctx: ApplyContext, ref: ResourceRef, shared: boolean): Promise<void> {
  try {
    await ctx.ops[ref.kind].delete(ref);
  } catch (err) {
    if (isNotFound(err)) {
      ctx.deleted.add(refKey(ref));
      return;
    }
    if (isInUse(err)) {
      // A shared resource still used by another Service stays; one of ours is still held by a resource
      // whose deletion GCE has not finished letting go of.
      if (shared) return;
      throw settling(`GCE ${describe(ref)} is still in use; deleting it again shortly`, IN_USE_RETRY_MS, err);
    }
    throw err;
  }
  ctx.deleted.add(refKey(ref));
}

export async function applyActions(ctx: ApplyContext, actions: Action[], guards: Map<string, string> = new Map()): Promise<void> {
  for (const a of actions) {
    switch (a.type) {
      case 'create':
        await create(ctx, a.resource);
        break;
      case 'update':
        ctx.logger.info({ service: serviceKey(ctx.identity), resource: describe(a.resource), reason: a.reason }, 'updating');
        await update(ctx, a.resource);
        break;
      case 'delete': {
        const guard = guards.get(refKey(a.ref));
        if (guard !== undefined && !ctx.deleted.has(guard)) break;
        ctx.logger.info({ service: serviceKey(ctx.identity), resource: describe(a.ref), reason: a.reason }, 'deleting');
        await remove(ctx, a.ref, a.shared);
        break;
      }
      case 'addMembers':
        try {
          await ctx.ops[a.ref.kind].add!(a.ref, a.members);
        } catch (err) {
          if (isQuotaExceeded(err)) throw quota(ctx, err, a.ref);
          // Another sync added the member first (instance groups answer memberAlreadyExists).
          if (!isAlreadyExists(err) && !reasons(err).includes('memberalreadyexists')) throw err;
        }
        break;
      case 'removeMembers':
        try {
          await ctx.ops[a.ref.kind].remove!(a.ref, a.members);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        break;
    }
  }
}
