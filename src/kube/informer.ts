// A list+watch cache of one resource that never gives up, and the read-only ObjectCache view of it.
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { ListWatch } from './list-watch.ts';
import { errorMessage } from '../error-message.ts';

/** What the reconciler and garbage collector read: the informer's cache, or a fake in tests. */
export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  /** Delay before the first restart of a failed watch; doubles on each failure up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** A watch that stayed up this long, or delivered an event, was healthy: the next failure starts over. */
  healthyAfterMs?: number;
  /** [0, 1); Math.random unless a test pins it. */
  random?: () => number;
  now?: () => number;
}

/** Each delay is cut by up to this fraction, so that informers (and replicas) failing together spread out. */
const JITTER = 0.25;

/**
 * Restart delays of a failing watch: initial, doubling, capped at max, each shortened by a random jitter
 * (so the cap holds). reset() starts the sequence over.
 */
export class RestartBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private base: number;

  constructor(initialMs: number, maxMs: number, random: () => number = Math.random) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.random = random;
    this.base = initialMs;
  }

  next(): number {
    const base = this.base;
    this.base = Math.min(base * 2, this.maxMs);
    return Math.round(base * (1 - JITTER * this.random()));
  }

  reset(): void {
    this.base = this.initialMs;
  }
}

/**
 * A list+watch cache that never gives up. ListWatch (list-watch.ts) re-lists on 410 Gone (diffing the
 * fresh list against the cache, so deletions missed while disconnected still fire) and reconnects a
 * watch that goes silent (its inactivity timeout); on any other error it stops, so this wrapper restarts
 * it with backoff, resuming from the last resourceVersion. The backoff grows while the failures go on (an
 * API server outage) and starts over once a watch has been healthy: it delivered something, or it stayed
 * up for healthyAfterMs.
 */
export class ResilientInformer<T extends KubernetesObject> implements ObjectCache<T> {
  private readonly listWatch: ListWatch<T>;
  private readonly previous = new Map<string, T>();
  private readonly logger: Logger;
  private readonly backoff: RestartBackoff;
  private readonly healthyAfterMs: number;
  private readonly now: () => number;
  /** When the current watch was established; undefined while none is. */
  private upSince: number | undefined;
  private delivered = false;
  private failures = 0;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private synced = false;
  private onSynced: () => void = () => {};

  constructor(client: KubeClient, path: string, handlers: InformerHandlers<T>, logger: Logger, options: InformerOptions = {}) {
    this.logger = logger.child({ informer: path });
    this.backoff = new RestartBackoff(options.restartDelayMs ?? 1_000, options.maxRestartDelayMs ?? 30_000, options.random);
    this.healthyAfterMs = options.healthyAfterMs ?? 60_000;
    this.now = options.now ?? (() => performance.now());
    const list = () => client.request<KubernetesListObject<T>>('GET', path);
    this.listWatch = new ListWatch<T>(path, client, list, () => (this.delivered = true));
    // ListWatch reports updates without the old object; keep our own copy so handlers can compare.
    // A handler that throws must not end the watch; log it rather than lose it silently.
    const guarded = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        this.logger.error({ err: errorMessage(err), handler: what }, 'informer handler failed');
      }
    };
    this.listWatch.on('add', (obj) => {
      this.previous.set(keyOf(obj), obj);
      guarded('add', () => handlers.add?.(obj));
    });
    this.listWatch.on('update', (obj) => {
      const key = keyOf(obj);
      const old = this.previous.get(key);
      this.previous.set(key, obj);
      guarded('update', () => (old === undefined ? handlers.add?.(obj) : handlers.update?.(old, obj)));
    });
    this.listWatch.on('delete', (obj) => {
      this.previous.delete(keyOf(obj));
      guarded('delete', () => handlers.delete?.(obj));
    });
    this.listWatch.on('error', (err) => this.scheduleRestart(err));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been delivered; failed attempts are retried with backoff. */
  start(): Promise<void> {
    this.stopped = false;
    const synced = new Promise<void>((resolve) => {
      this.onSynced = resolve;
    });
    void this.attempt();
    return synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.listWatch.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(): readonly T[] {
    return this.listWatch.list();
  }

  /** The delay before the next attempt: the backoff starts over if the watch that just failed was healthy. */
  private nextDelay(): number {
    const now = this.now();
    if (this.delivered || (this.upSince !== undefined && now - this.upSince >= this.healthyAfterMs)) this.backoff.reset();
    this.delivered = false;
    this.upSince = undefined;
    return this.backoff.next();
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const delay = this.nextDelay();
    this.logger.warn({ err: (err as Error)?.message ?? String(err), delayMs: delay }, 'watch failed; restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.attempt(), delay);
  }

  /** ListWatch reports a failed list or watch through its error callback, which schedules the next attempt. */
  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const failures = this.failures;
    try {
      await this.listWatch.start();
    } catch (err) {
      this.scheduleRestart(err);
      return;
    }
    // Stopped while the list was in flight: ListWatch would still open a watch.
    if (this.stopped) {
      await this.listWatch.stop();
      return;
    }
    // start() resolves once the watch request is answered, even when that answer was a failure (already
    // reported, and counted): only an attempt without one has a watch up.
    if (this.failures === failures) this.upSince = this.now();
    if (!this.synced && this.listWatch.latestResourceVersion() !== '') {
      this.synced = true;
      this.onSynced();
    }
  }
}

function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
