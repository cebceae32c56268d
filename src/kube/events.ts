// Kubernetes Events on Services: correlated as client-go's EventCorrelator does, written by a few writers.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { serviceKey } from '../providers/provider.ts';
import { KubeApiError, type KubeClient } from './client.ts';
import { errorMessage } from '../error-message.ts';

export type EventType = 'Normal' | 'Warning';

/** The object an event is about: a Service, as the informer or a provider's identity names it. */
export interface EventSubject {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
}

/** Why an event was not written: the spam filter, the API server refusing it, or shutdown. */
export type DropReason = 'spam_filter' | 'write_failed' | 'shutdown';

/** client-go's correlator settings (tools/record/events_cache.go). */
export interface CorrelatorLimits {
  /** Repeats of an identical event within this window bump one Event's count; also the aggregation window. */
  windowMs: number;
  /** This many distinct messages for one object, type and reason within the window are aggregated. */
  aggregateAfter: number;
  /** Per object: a burst of events, then one more every spamRefillMs. */
  spamBurst: number;
  spamRefillMs: number;
  /** Objects (and event keys) remembered, least recently used first out. */
  cacheEntries: number;
}

export const defaultCorrelatorLimits: CorrelatorLimits = {
  windowMs: 10 * 60_000,
  aggregateAfter: 10,
  spamBurst: 25,
  spamRefillMs: 5 * 60_000,
  // client-go keeps 4096; a controller of thousands of Services has a few keys for each.
  cacheEntries: 16_384,
};

const MAX_MESSAGE = 1024;
/** Attempts per write when the API server is unreachable, throttling (429) or failing (5xx). */
const MAX_TRIES = 3;
const RETRY_DELAY_MS = 1_000;

/** A Map that forgets its least recently used entries beyond a size. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  private readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

export interface Correlation {
  /** Events with the same key are one Event object on the server: the later ones bump its count. */
  key: string;
  message: string;
}

/**
 * client-go's EventCorrelator, minus the writing: identical events share a key (so they become one Event
 * with a count); past aggregateAfter distinct messages for one object, type and reason within the window,
 * they share one key and a "(combined from similar events): " message; and a per-object token bucket
 * (burst 25, one more every 5 minutes) filters out the rest of a flood.
 */
export class EventCorrelator {
  private readonly limits: CorrelatorLimits;
  private readonly now: () => number;
  private readonly spam: Lru<{ tokens: number; at: number }>;
  private readonly similar: Lru<{ messages: Set<string>; at: number }>;

  constructor(limits: CorrelatorLimits = defaultCorrelatorLimits, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
    this.spam = new Lru(limits.cacheEntries);
    this.similar = new Lru(limits.cacheEntries);
  }

  /** undefined: filtered as spam. */
  correlate(subject: EventSubject, type: EventType, reason: string, message: string): Correlation | undefined {
    const now = this.now();
    const m = subject.metadata ?? {};
    const object = [m.namespace, m.name, m.uid].join('\u0000');
    const aggregateKey = [object, type, reason].join('\u0000');

    let group = this.similar.get(aggregateKey);
    if (!group || now - group.at > this.limits.windowMs) group = { messages: new Set(), at: now };
    group.messages.add(message);
    group.at = now;
    this.similar.set(aggregateKey, group);
    let correlation: Correlation = { key: `${aggregateKey}\u0000${message}`, message };
    if (group.messages.size >= this.limits.aggregateAfter) {
      // As client-go: keep the set from growing past the threshold.
      group.messages.delete(group.messages.values().next().value!);
      correlation = { key: aggregateKey, message: `(combined from similar events): ${message}` };
    }

    const bucket = this.spam.get(object) ?? { tokens: this.limits.spamBurst, at: now };
    bucket.tokens = Math.min(this.limits.spamBurst, bucket.tokens + (now - bucket.at) / this.limits.spamRefillMs);
    bucket.at = now;
    this.spam.set(object, bucket);
    if (bucket.tokens < 1) return undefined;
    bucket.tokens -= 1;
    return correlation;
  }
}

export interface EventRecorderOptions {
  /** Writes in flight at once. */
  writers?: number;
  onDropped?: (reason: DropReason) => void;
  /**
   * Awaited before each write: the controller's syncs go first. Events are bookkeeping, and a write costs
   * the API server and this process about what a sync's own write costs; during a burst they wait (repeats
   * folding into them meanwhile) and go out once the work queue is idle, or after a bounded wait.
   */
  whenIdle?: () => Promise<void>;
  limits?: CorrelatorLimits;
  now?: () => number;
}

/** Occurrences of one correlated event waiting to be written: repeats fold into it, so it never grows. */
interface Pending {
  key: string;
  subject: EventSubject;
  type: EventType;
  reason: string;
  message: string;
  occurrences: number;
  first: number;
  last: number;
  done: Array<() => void>;
}

/**
 * Records core/v1 Events on Services. The correlator decides which Event object an occurrence belongs to;
 * occurrences waiting to be written are kept one per correlation key, so a burst of a thousand Services
 * needs a thousand small entries and a flood of repeats needs none: nothing is dropped for lack of room.
 * A few writers send them in the background (never two for one key, so a count is never written out of
 * order), so event writes neither slow the syncs nor trail far behind them. Recording never fails a sync;
 * an event that is dropped (spam filter, a write the API server keeps refusing, shutdown) is counted.
 */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly logger: Logger;
  private readonly correlator: EventCorrelator;
  private readonly windowMs: number;
  private readonly writers: number;
  private readonly onDropped: (reason: DropReason) => void;
  private readonly whenIdle: () => Promise<void>;
  private readonly now: () => number;
  private readonly series: Lru<{ name: string; count: number; at: number }>;
  private readonly pending = new Map<string, Pending>();
  private readonly inFlight = new Set<string>();
  private closed = false;

  constructor(client: KubeClient, component: string, instance: string, logger: Logger, options: EventRecorderOptions = {}) {
    this.client = client;
    this.component = component;
    this.instance = instance;
    this.logger = logger;
    const limits = options.limits ?? defaultCorrelatorLimits;
    this.now = options.now ?? Date.now;
    this.correlator = new EventCorrelator(limits, this.now);
    this.windowMs = limits.windowMs;
    this.series = new Lru(limits.cacheEntries);
    this.writers = options.writers ?? 4;
    this.onDropped = options.onDropped ?? (() => {});
    this.whenIdle = options.whenIdle ?? (() => Promise.resolve());
  }

  /** Queues the event; resolves when it is written (or failed or dropped). Callers may ignore the promise. */
  record(svc: EventSubject, type: EventType, reason: string, message: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const correlation = this.correlator.correlate(svc, type, reason, text);
    if (!correlation) {
      this.onDropped('spam_filter');
      this.logger.debug({ reason, service: subjectKey(svc) }, 'too many events about this Service; dropping event');
      return Promise.resolve();
    }
    const now = this.now();
    const subject = subjectOf(svc);
    return new Promise((resolve) => {
      const queued = this.pending.get(correlation.key);
      if (queued) {
        queued.occurrences++;
        queued.last = now;
        queued.message = correlation.message;
        queued.subject = subject;
        queued.done.push(resolve);
      } else {
        this.pending.set(correlation.key, {
          key: correlation.key,
          subject,
          type,
          reason,
          message: correlation.message,
          occurrences: 1,
          first: now,
          last: now,
          done: [resolve],
        });
      }
      this.pump();
    });
  }

  /** Drops events not yet written, as client-go's broadcaster does on shutdown; writes in flight finish. */
  close(): void {
    this.closed = true;
    for (const job of this.pending.values()) {
      for (let i = 0; i < job.occurrences; i++) this.onDropped('shutdown');
      for (const done of job.done) done();
    }
    this.pending.clear();
  }

  /** Starts writes while a writer is free and an event waits whose key is not being written. */
  private pump(): void {
    while (this.inFlight.size < this.writers) {
      let next: Pending | undefined;
      // Skips at most one entry per writer: a key in flight has at most one entry waiting.
      for (const job of this.pending.values()) {
        if (!this.inFlight.has(job.key)) {
          next = job;
          break;
        }
      }
      if (!next) return;
      const job = next;
      this.pending.delete(job.key);
      this.inFlight.add(job.key);
      void this.write(job).finally(() => {
        this.inFlight.delete(job.key);
        for (const done of job.done) done();
        if (!this.closed) this.pump();
      });
    }
  }

  private async write(job: Pending): Promise<void> {
    await this.whenIdle();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeOnce(job);
        return;
      } catch (err) {
        if (attempt >= MAX_TRIES || !retryable(err) || this.closed) {
          for (let i = 0; i < job.occurrences; i++) this.onDropped('write_failed');
          this.logger.warn({ err: errorMessage(err), reason: job.reason, service: subjectKey(job.subject) }, 'could not record event');
          return;
        }
        const delay = err instanceof KubeApiError && err.retryAfterMs !== undefined ? err.retryAfterMs : RETRY_DELAY_MS * attempt;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async writeOnce(job: Pending): Promise<void> {
    const m = job.subject.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const previous = this.series.get(job.key);
    if (previous && job.last - previous.at < this.windowMs) {
      const count = previous.count + job.occurrences;
      try {
        await this.client.request(
          'PATCH',
          `/api/v1/namespaces/${namespace}/events/${previous.name}`,
          { count, message: job.message, lastTimestamp: timestampOf(job.last) },
          'merge',
        );
        this.series.set(job.key, { ...previous, count, at: job.last });
        return;
      } catch (err) {
        // Gone (expired by the API server's TTL): start a new series; anything else is worth a retry.
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        this.series.delete(job.key);
      }
    }
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${m.name}.`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Service', namespace, name: m.name, uid: m.uid, resourceVersion: m.resourceVersion },
      type: job.type,
      reason: job.reason,
      message: job.message,
      count: job.occurrences,
      firstTimestamp: timestampOf(job.first),
      lastTimestamp: timestampOf(job.last),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    const created = await this.client.request<CoreV1Event>('POST', `/api/v1/namespaces/${namespace}/events`, event);
    this.series.set(job.key, { name: created.metadata.name!, count: job.occurrences, at: job.last });
  }
}

function retryable(err: unknown): boolean {
  return err instanceof KubeApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

function timestampOf(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The fields an Event names its Service by, and nothing else: during a burst, events wait for the syncs, and
 * one that held the Service itself kept a copy alive that the informer had already replaced.
 */
function subjectOf(svc: EventSubject): EventSubject {
  const { namespace, name, uid, resourceVersion } = svc.metadata ?? {};
  return { metadata: { namespace, name, uid, resourceVersion } };
}

function subjectKey(svc: EventSubject): string {
  return serviceKey({ namespace: svc.metadata?.namespace ?? 'default', name: svc.metadata?.name ?? '' });
}
