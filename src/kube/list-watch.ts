// A list+watch cache of one resource over KubeClient's connection pool, with the behaviour of
// @kubernetes/client-node's ListWatch but without its package (whose serializer loads every model).
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { IncomingMessage } from 'node:http';
import type { KubeClient } from './client.ts';

type Verb = 'add' | 'update' | 'delete';

/** A watch that ended with an HTTP error: 410 Gone means the resourceVersion is too old. */
export class WatchError extends Error {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'WatchError';
    this.statusCode = statusCode;
  }
}

const BASE_RECONNECT_DELAY_MS = 1_000;
const MAX_RECONNECT_DELAY_MS = 30_000;
/** A watch that sends nothing for this long is taken as dead and reopened from the last resourceVersion. */
const INACTIVITY_TIMEOUT_MS = 30_000;

const keyOf = (obj: KubernetesObject): string => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

/**
 * Nobody in the controller reads managedFields, and at a thousand Services they are a large part of
 * every cached object.
 */
function slim<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/**
 * start() lists (unless it can resume), then watches from the list's resourceVersion. A watch that the
 * server closes is reopened from the last resourceVersion, with a delay that doubles while no event
 * arrives; a 410 Gone re-lists, and the fresh list is diffed against the cache so that deletions missed
 * meanwhile are reported. Any other failure is reported to the 'error' handlers and the ListWatch stops
 * (its owner restarts it).
 */
export class ListWatch<T extends KubernetesObject> {
  private readonly path: string;
  private readonly client: KubeClient;
  private readonly listFn: () => Promise<KubernetesListObject<T>>;
  private readonly onDelivery: () => void;
  private readonly handlers: { [V in Verb]: ((obj: T) => void)[] } = { add: [], update: [], delete: [] };
  private readonly errorHandlers: ((err: unknown) => void)[] = [];
  private objects = new Map<string, T>();
  private resourceVersion = '';
  private request: AbortController | undefined;
  private reconnectDelayMs = 0;
  private hasConnected = false;
  private stopped = false;

  /** onDelivery: told of every watch event (bookmarks too), so a caller can tell a healthy watch. */
  constructor(path: string, client: KubeClient, listFn: () => Promise<KubernetesListObject<T>>, onDelivery: () => void = () => {}) {
    this.path = path;
    this.client = client;
    this.listFn = listFn;
    this.onDelivery = onDelivery;
  }

  on(verb: Verb, handler: (obj: T) => void): void;
  on(verb: 'error', handler: (err: unknown) => void): void;
  on(verb: Verb | 'error', handler: ((obj: T) => void) | ((err: unknown) => void)): void {
    if (verb === 'error') this.errorHandlers.push(handler as (err: unknown) => void);
    else this.handlers[verb].push(handler as (obj: T) => void);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  latestResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Resolves once the list is in and the watch is open (or either failed, which 'error' reports). */
  async start(): Promise<void> {
    this.stopped = false;
    this.reconnectDelayMs = 0;
    this.hasConnected = false;
    await this.done(undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort();
  }

  private abort(): void {
    this.request?.abort();
    this.request = undefined;
  }

  private emit(verb: Verb, obj: T): void {
    for (const handler of this.handlers[verb]) handler(obj);
  }

  private fail(err: unknown): void {
    for (const handler of this.errorHandlers) handler(err);
  }

  private async done(err: unknown): Promise<void> {
    this.abort();
    if (err instanceof WatchError && err.statusCode === 410) this.resourceVersion = '';
    // A silent watch timed out: it already waited a full timeout, so reopen at once.
    else if (err instanceof Error && err.name === 'TimeoutError') this.reconnectDelayMs = 0;
    else if (err !== undefined) return this.fail(err);
    if (this.stopped) return;
    if (!this.resourceVersion) {
      let list: KubernetesListObject<T>;
      try {
        list = await this.listFn();
      } catch (listErr) {
        return this.fail(listErr);
      }
      this.replace(list.items.map(slim));
      this.resourceVersion = list.metadata?.resourceVersion ?? '';
    }
    if (this.reconnectDelayMs > 0 && this.hasConnected) await new Promise((r) => setTimeout(r, this.reconnectDelayMs));
    if (this.hasConnected)
      this.reconnectDelayMs = Math.min(
        this.reconnectDelayMs > 0 ? this.reconnectDelayMs * 2 : BASE_RECONNECT_DELAY_MS,
        MAX_RECONNECT_DELAY_MS,
      );
    this.hasConnected = true;
    if (this.stopped) return;
    await this.watch();
  }

  /** The fresh list replaces the cache: what is gone is deleted, what is new or changed is reported. */
  private replace(items: T[]): void {
    const fresh = new Map(items.map((obj) => [keyOf(obj), obj]));
    for (const [key, old] of this.objects) {
      if (!fresh.has(key)) {
        this.objects.delete(key);
        this.emit('delete', old);
      }
    }
    for (const obj of items) this.upsert(obj);
  }

  private upsert(obj: T): void {
    const key = keyOf(obj);
    const found = this.objects.get(key);
    if (!found) {
      this.objects.set(key, obj);
      this.emit('add', obj);
    } else if (found.metadata?.resourceVersion === undefined || found.metadata.resourceVersion !== obj.metadata?.resourceVersion) {
      this.objects.set(key, obj);
      this.emit('update', obj);
    }
  }

  private event(type: string, obj: T): void {
    switch (type) {
      case 'ERROR':
        // The server ends the watch after this; the next start re-lists when the version is gone.
        if ((obj as { code?: number }).code === 410) this.resourceVersion = '';
        return;
      case 'ADDED':
      case 'MODIFIED':
        this.upsert(slim(obj));
        break;
      case 'DELETED':
        if (this.objects.delete(keyOf(obj))) this.emit('delete', obj);
        break;
    }
    this.reconnectDelayMs = 0;
    this.resourceVersion = obj.metadata?.resourceVersion ?? '';
  }

  /** Opens the watch; events arrive in the background, and its end calls done() again. */
  private async watch(): Promise<void> {
    const controller = new AbortController();
    this.request = controller;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const armTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, INACTIVITY_TIMEOUT_MS);
      timer.unref();
    };
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      // Our own stop() or a newer watch aborted this one: nothing to report.
      if (this.request !== controller && !timedOut) return;
      const reason = timedOut ? Object.assign(new Error('watch inactive'), { name: 'TimeoutError' }) : err;
      void this.done(reason);
    };
    armTimer();
    let body: IncomingMessage;
    try {
      const sep = this.path.includes('?') ? '&' : '?';
      const response = await this.client.stream(
        `${this.path}${sep}watch=true&resourceVersion=${encodeURIComponent(this.resourceVersion)}`,
        controller.signal,
      );
      if (response.statusCode !== 200) {
        response.destroy();
        throw new WatchError(response.statusCode ?? 0, `watch ${this.path}: ${response.statusCode} ${response.statusMessage}`);
      }
      body = response;
    } catch (err) {
      end(err);
      return;
    }
    armTimer();
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          armTimer();
          // Split once per chunk: rescanning the rest of the buffer for every line is quadratic.
          const lines = (buffer + decoder.decode(chunk, { stream: true })).split('\n');
          buffer = lines.pop()!;
          for (const line of lines) {
            if (!line.trim()) continue;
            let parsed: { type: string; object: T };
            try {
              parsed = JSON.parse(line) as { type: string; object: T };
            } catch {
              continue;
            }
            this.onDelivery();
            this.event(parsed.type, parsed.object);
          }
        }
        end(undefined);
      } catch (err) {
        end(err);
      }
    })();
  }
}
