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
  /** Delay before restarting a watch that failed; doubles up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
}

/**
 * A list+watch cache that never gives up. ListWatch (list-watch.ts) re-lists on 410 Gone (diffing the
 * fresh list against the cache, so deletions missed while disconnected still fire) and reconnects a
 * watch that goes silent (its inactivity timeout); on any other error it stops, so this wrapper restarts
 * it with backoff, resuming from the last resourceVersion.
 */
export class ResilientInformer<T extends KubernetesObject> implements ObjectCache<T> {
  private readonly listWatch: ListWatch<T>;
  private readonly previous = new Map<string, T>();
  private readonly logger: Logger;
  private readonly options: Required<InformerOptions>;
  private restartDelay: number;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private synced = false;
  private onSynced: () => void = () => {};

  constructor(client: KubeClient, path: string, handlers: InformerHandlers<T>, logger: Logger, options: InformerOptions = {}) {
    this.logger = logger.child({ informer: path });
    this.options = { restartDelayMs: options.restartDelayMs ?? 1_000, maxRestartDelayMs: options.maxRestartDelayMs ?? 30_000 };
    this.restartDelay = this.options.restartDelayMs;
    const list = () => client.request<KubernetesListObject<T>>('GET', path);
    this.listWatch = new ListWatch<T>(path, client, list);
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

  private nextDelay(): number {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, this.options.maxRestartDelayMs);
    return delay;
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    const delay = this.nextDelay();
    this.logger.warn({ err: (err as Error)?.message ?? String(err), delayMs: delay }, 'watch failed; restarting');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => void this.attempt(), delay);
  }

  /** ListWatch reports a failed list through its error callback, which schedules the next attempt. */
  private async attempt(): Promise<void> {
    if (this.stopped) return;
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
    // Only a list that succeeded resets the backoff (ListWatch reports "connect" before it even tries).
    if (this.listWatch.latestResourceVersion() !== '') this.restartDelay = this.options.restartDelayMs;
    if (!this.synced && this.listWatch.latestResourceVersion() !== '') {
      this.synced = true;
      this.onSynced();
    }
  }
}

function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
