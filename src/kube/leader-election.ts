// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: a candidate takes the
// lease when it is absent, released, or has not changed for leaseDurationSeconds as measured by the
// candidate's OWN clock since it last saw the record change (so clock skew between replicas does not
// matter); the leader renews every retryPeriod and gives up if no renew succeeds within renewDeadline.
// A waiting replica also watches the Lease, so it sees each renewal when it happens rather than at its next
// read: it then counts the lease duration from the leader's last renewal, not up to a retry period later.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
// Deep import: the package index would load every generated API.
import { V1MicroTime } from '@kubernetes/client-node/dist/types.js';
import type { Logger } from 'pino';
import { KubeApiError, KubeClient } from './client.ts';
import { ResilientInformer } from './informer.ts';
import type { KubeAccess } from './kubeconfig.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeAccess;
  /** Shares the controller's connection pool and request metrics; one is made from kubeConfig if absent. */
  client?: KubeClient;
  namespace: string;
  leaseName: string;
  /** Unique per replica (the pod name); two replicas with one identity would both lead. */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Leadership was lost involuntarily (renew failed or the lease was taken); stop reconciling. */
  onStoppedLeading(): void;
  /** The observed holder changed (including to ourselves). */
  onNewLeader?(identity: string): void;
}

/** The Lease fields leader election reads and writes (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** RFC 3339 with microseconds, as the API server stores MicroTime. */
  acquireTime: string | undefined;
  renewTime: string | undefined;
  leaseTransitions: number;
}

/** The last record seen, and when it was first seen in that form, by our monotonic clock. */
export interface Observation {
  record: LeaseRecord;
  observedAt: number;
}

export type LeaseDecision =
  | { action: 'create'; record: LeaseRecord }
  | { action: 'update'; record: LeaseRecord }
  | { action: 'wait'; holder: string; expiresAt: number };

export interface LeaseDecisionInput {
  /** The lease as just read; undefined when it does not exist. */
  current: LeaseRecord | undefined;
  previous: Observation | undefined;
  identity: string;
  leaseDurationMs: number;
  /** Monotonic milliseconds: only ever compared with other monotonic readings. */
  now: number;
  /** Wall-clock time to write into acquireTime/renewTime. */
  timestamp: string;
}

export function microTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/Z$/, '000Z');
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/** The observation clock restarts only when the record changes, never because time passed. */
export function observe(previous: Observation | undefined, current: LeaseRecord, now: number): Observation {
  return previous && sameRecord(previous.record, current) ? previous : { record: current, observedAt: now };
}

/** Whole seconds, rounded up so other replicas never wait less than configured. */
export function leaseDurationSeconds(leaseDurationMs: number): number {
  return Math.max(1, Math.ceil(leaseDurationMs / 1_000));
}

/** What one acquire-or-renew attempt should do, given the lease just read (client-go tryAcquireOrRenew). */
export function decideLease(input: LeaseDecisionInput): { decision: LeaseDecision; observation: Observation | undefined } {
  const { current, identity, now, timestamp } = input;
  const fresh: LeaseRecord = {
    holderIdentity: identity,
    leaseDurationSeconds: leaseDurationSeconds(input.leaseDurationMs),
    acquireTime: timestamp,
    renewTime: timestamp,
    leaseTransitions: 0,
  };
  if (!current) return { decision: { action: 'create', record: fresh }, observation: undefined };

  const observation = observe(input.previous, current, now);
  const holder = current.holderIdentity;
  const expiresAt = observation.observedAt + current.leaseDurationSeconds * 1_000;
  if (holder !== '' && holder !== identity && now < expiresAt) {
    return { decision: { action: 'wait', holder, expiresAt }, observation };
  }
  const record: LeaseRecord =
    holder === identity
      ? { ...fresh, acquireTime: current.acquireTime, leaseTransitions: current.leaseTransitions }
      : { ...fresh, leaseTransitions: current.leaseTransitions + 1 };
  return { decision: { action: 'update', record }, observation };
}

/**
 * How long a candidate waits before its next attempt: client-go's JitterUntil(retryPeriod, 1.2), except
 * that it wakes when the lease it waits for expires (by its own observation clock) if that comes first. A
 * dead leader is then replaced at the expiry, not up to 2.2 retry periods later; the expiry rule itself,
 * and so the guarantee that two replicas never lead at once, is unchanged.
 */
export function candidatePauseMs(retryPeriodMs: number, random: number, expiresInMs: number | undefined): number {
  const jittered = retryPeriodMs * (1 + random * 1.2);
  return expiresInMs === undefined ? jittered : Math.min(jittered, Math.max(0, expiresInMs) + 1);
}

/** client-go ReleaseOnCancel: no holder and a 1 s lease, so a waiting replica takes over at its next retry. */
export function releasedRecord(current: LeaseRecord, timestamp: string): LeaseRecord {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: timestamp,
    renewTime: timestamp,
    leaseTransitions: current.leaseTransitions,
  };
}

// Raw API JSON carries MicroTime as a string; a V1MicroTime (a Date) may come from our own writes.
function timeField(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? microTime(value.getTime()) : String(value);
}

export function recordFromLease(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: timeField(spec.acquireTime),
    renewTime: timeField(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function toMicro(value: string | undefined): V1MicroTime | undefined {
  return value === undefined ? undefined : new V1MicroTime(value);
}

function withRecord(lease: V1Lease, record: LeaseRecord): V1Lease {
  return {
    ...lease,
    spec: {
      ...lease.spec,
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      acquireTime: toMicro(record.acquireTime),
      renewTime: toMicro(record.renewTime),
      leaseTransitions: record.leaseTransitions,
    },
  };
}

function statusOf(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.status : undefined;
}

type AttemptResult = 'ok' | 'held' | 'error';

export class LeaderElector {
  readonly #opts: LeaderElectionOptions;
  readonly #client: KubeClient;
  readonly #stopping = new AbortController();
  #observation: Observation | undefined;
  /** The lease object we last wrote, for the optimistic renew that skips the read. */
  #written: V1Lease | undefined;
  #reportedHolder: string | undefined;
  #leading = false;
  #known = false;
  /** When the lease held by another replica expires (performance.now()), after an attempt that found it held. */
  #heldUntil: number | undefined;
  /** While waiting: the Lease watched, so a renewal is observed as it happens. */
  #watch: ResilientInformer<V1Lease> | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    if (!(opts.retryPeriodMs < opts.renewDeadlineMs && opts.renewDeadlineMs < opts.leaseDurationMs)) {
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
    this.#opts = opts;
    this.#client = opts.client ?? new KubeClient(opts.kubeConfig);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** True once the lease has been read (or found absent) at least once. */
  get leaderKnown(): boolean {
    return this.#known;
  }

  run(callbacks: LeaderCallbacks): void {
    if (this.#loop) throw new Error('LeaderElector.run called twice');
    this.#loop = this.#campaign(callbacks).catch((err: unknown) => {
      this.#opts.logger.error({ err }, 'leader election loop failed');
      // Nobody renews any more: a leader must not go on believing it leads.
      if (this.#leading) {
        this.#leading = false;
        this.#safely(() => callbacks.onStoppedLeading(), 'onStoppedLeading');
      }
    });
  }

  /**
   * Stops campaigning and, if we hold the lease, releases it so another replica takes over at once.
   * Does not call onStoppedLeading: stop your own work BEFORE calling this, or two replicas overlap.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
    await this.#unwatch();
    const wasLeading = this.#leading;
    this.#leading = false;
    if (wasLeading || this.#observation?.record.holderIdentity === this.#opts.identity) await this.#release();
  }

  async #campaign(callbacks: LeaderCallbacks): Promise<void> {
    const { logger, retryPeriodMs, renewDeadlineMs } = this.#opts;
    const stopped = this.#stopping.signal;
    logger.info({ lease: this.#leaseRef(), identity: this.#opts.identity }, 'waiting to acquire leader lease');
    this.#startWatch(callbacks);
    // Jittered as client-go's, so candidates do not collide every period.
    while ((await this.#attempt(this.#signal(renewDeadlineMs), callbacks)) !== 'ok') {
      const expiresIn = this.#heldUntil === undefined ? undefined : this.#heldUntil - performance.now();
      if (!(await this.#pause(candidatePauseMs(retryPeriodMs, Math.random(), expiresIn)))) return;
    }
    await this.#unwatch();
    if (stopped.aborted) return;
    this.#leading = true;
    logger.info({ lease: this.#leaseRef() }, 'acquired leader lease');
    this.#safely(() => callbacks.onStartedLeading(), 'onStartedLeading');

    for (;;) {
      if (!(await this.#pause(retryPeriodMs))) return;
      const deadline = performance.now() + renewDeadlineMs;
      let result: AttemptResult = 'error';
      while (result === 'error') {
        const remaining = deadline - performance.now();
        if (remaining <= 0) break;
        result = await this.#attempt(this.#signal(remaining), callbacks);
        if (stopped.aborted) return;
        if (result === 'error' && !(await this.#pause(Math.min(retryPeriodMs, deadline - performance.now())))) return;
      }
      if (result !== 'ok') {
        this.#leading = false;
        logger.error(
          { lease: this.#leaseRef(), reason: result === 'held' ? 'lease taken by another holder' : 'renew deadline exceeded' },
          'lost leader lease',
        );
        this.#safely(() => callbacks.onStoppedLeading(), 'onStoppedLeading');
        return;
      }
    }
  }

  /** One client-go tryAcquireOrRenew: an optimistic renew when we lead, else read, decide, write. */
  async #attempt(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<AttemptResult> {
    const { namespace, leaseName: name, identity, leaseDurationMs, logger } = this.#opts;
    const decide = (current: LeaseRecord | undefined) =>
      decideLease({
        current,
        previous: this.#observation,
        identity,
        leaseDurationMs,
        now: performance.now(),
        timestamp: microTime(Date.now()),
      });

    const written = this.#written;
    if (this.#leading && written) {
      const { decision } = decide(recordFromLease(written));
      const expiresAt = (this.#observation?.observedAt ?? 0) + leaseDurationMs;
      if (decision.action === 'update' && performance.now() < expiresAt) {
        try {
          return this.#accept(await this.#put(withRecord(written, decision.record), signal), callbacks);
        } catch (err) {
          if (signal.aborted) return 'error';
          logger.debug({ err: String(err) }, 'optimistic lease renew failed; re-reading the lease');
        }
      }
    }

    this.#heldUntil = undefined;
    let lease: V1Lease | undefined;
    try {
      lease = await this.#read(signal);
    } catch (err) {
      if (statusOf(err) !== 404) {
        logger.warn({ err: String(err), lease: this.#leaseRef() }, 'cannot read leader lease');
        return 'error';
      }
    }
    this.#known = true;
    const { decision, observation } = decide(lease && recordFromLease(lease));
    this.#observation = observation;
    if (observation) this.#report(observation.record.holderIdentity, callbacks);
    if (decision.action === 'wait') {
      this.#heldUntil = decision.expiresAt;
      return 'held';
    }

    try {
      const body = withRecord(
        lease ?? { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace } },
        decision.record,
      );
      const result =
        decision.action === 'create'
          ? await this.#client.request<V1Lease>(
              'POST',
              `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
              body,
              undefined,
              signal,
            )
          : await this.#put(body, signal);
      return this.#accept(result, callbacks);
    } catch (err) {
      // 409: another replica wrote first (resourceVersion conflict, or both created); decide again next time.
      const status = statusOf(err);
      const level = status === 409 ? 'debug' : 'warn';
      logger[level]({ err: String(err), lease: this.#leaseRef() }, `cannot ${decision.action} leader lease`);
      return 'error';
    }
  }

  /**
   * Watches the Lease while waiting. A change seen here is observed at its arrival, which is never before
   * the write, so the expiry it implies is never earlier than client-go's: safety is unchanged. Without the
   * watch (refused, or failing) the reads of each attempt observe the Lease as before.
   */
  #startWatch(callbacks: LeaderCallbacks): void {
    const { namespace, leaseName, logger } = this.#opts;
    const seen = (lease: V1Lease) => {
      if (this.#leading || this.#stopping.signal.aborted) return;
      const observation = observe(this.#observation, recordFromLease(lease), performance.now());
      this.#observation = observation;
      const { holderIdentity, leaseDurationSeconds } = observation.record;
      if (holderIdentity !== '' && holderIdentity !== this.#opts.identity) {
        this.#heldUntil = observation.observedAt + leaseDurationSeconds * 1_000;
      }
      this.#report(holderIdentity, callbacks);
    };
    const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases?fieldSelector=${encodeURIComponent(`metadata.name=${leaseName}`)}`;
    this.#watch = new ResilientInformer<V1Lease>(this.#client, path, { add: seen, update: (_old, lease) => seen(lease) }, logger, {
      maxRestartDelayMs: 30_000,
    });
    void this.#watch.start();
  }

  async #unwatch(): Promise<void> {
    const watch = this.#watch;
    this.#watch = undefined;
    await watch?.stop();
  }

  #leasePath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#opts.namespace}/leases/${this.#opts.leaseName}`;
  }

  #read(signal: AbortSignal): Promise<V1Lease> {
    return this.#client.request<V1Lease>('GET', this.#leasePath(), undefined, undefined, signal);
  }

  /** An update with the lease's resourceVersion: a concurrent writer makes it fail with 409. */
  #put(lease: V1Lease, signal: AbortSignal): Promise<V1Lease> {
    return this.#client.request<V1Lease>('PUT', this.#leasePath(), lease, undefined, signal);
  }

  #accept(lease: V1Lease, callbacks: LeaderCallbacks): AttemptResult {
    this.#written = lease;
    this.#observation = { record: recordFromLease(lease), observedAt: performance.now() };
    this.#report(this.#opts.identity, callbacks);
    return 'ok';
  }

  async #release(): Promise<void> {
    const { identity, renewDeadlineMs, logger } = this.#opts;
    const signal = AbortSignal.timeout(renewDeadlineMs);
    // Re-read rather than trusting our copy: a renew aborted by stop() may still have landed.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const lease = await this.#read(signal);
        const record = recordFromLease(lease);
        if (record.holderIdentity !== identity) return;
        await this.#put(withRecord(lease, releasedRecord(record, microTime(Date.now()))), signal);
        this.#observation = undefined;
        this.#written = undefined;
        logger.info({ lease: this.#leaseRef() }, 'released leader lease');
        return;
      } catch (err) {
        if (statusOf(err) === 409) continue;
        if (statusOf(err) === 404) return;
        logger.warn(
          { err: String(err), lease: this.#leaseRef() },
          'cannot release leader lease; another replica takes over when it expires',
        );
        return;
      }
    }
  }

  #report(holder: string, callbacks: LeaderCallbacks): void {
    if (holder === '' || holder === this.#reportedHolder) return;
    this.#reportedHolder = holder;
    this.#opts.logger.info({ lease: this.#leaseRef(), holder }, 'new leader observed');
    const onNewLeader = callbacks.onNewLeader;
    if (onNewLeader) this.#safely(() => onNewLeader.call(callbacks, holder), 'onNewLeader');
  }

  #safely(fn: () => void, name: string): void {
    try {
      fn();
    } catch (err) {
      this.#opts.logger.error({ err }, `leader election callback ${name} threw`);
    }
  }

  #signal(timeoutMs: number): AbortSignal {
    return AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs)))]);
  }

  /** Sleeps; false when stop() interrupted it. */
  async #pause(ms: number): Promise<boolean> {
    if (this.#stopping.signal.aborted) return false;
    try {
      await sleep(Math.max(0, ms), undefined, { signal: this.#stopping.signal });
      return true;
    } catch {
      return false;
    }
  }

  #leaseRef(): string {
    return `${this.#opts.namespace}/${this.#opts.leaseName}`;
  }
}
