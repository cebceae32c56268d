// A keyed, level-triggered work queue with the semantics of client-go's rate-limited workqueue:
// - a key waiting in the queue is there once, however often it is added (dedupe);
// - a key being processed is never handed to a second worker; adding it meanwhile marks it dirty, and it
//   is queued again when the first worker calls done();
// - failures back off per key, exponentially from `initialBackoffMs` to `maxBackoffMs`, until forget().

export interface QueueOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Injected for tests; defaults to the global timers. */
  timers?: Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;
}

export interface QueueObserver {
  onDepthChange?(depth: number): void;
  onRetry?(key: string, delayMs: number): void;
  /** The key was added and was not already waiting (client-go counts these adds; a key in work counts). */
  onAdd?(key: string): void;
  /** A worker took the key. */
  onStart?(key: string): void;
  /** The worker handed the key back. */
  onDone?(key: string): void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private idleWaiters: Array<() => void> = [];
  private readonly timers: Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;
  private shuttingDown = false;
  private readonly options: QueueOptions;
  private readonly observer: QueueObserver;

  constructor(options: QueueOptions, observer: QueueObserver = {}) {
    this.options = options;
    this.observer = observer;
    this.timers = options.timers ?? globalThis;
  }

  get depth(): number {
    return this.queue.length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.observer.onAdd?.(key);
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** Hands a dirty key to a waiting worker, or queues it. */
  private enqueue(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.observer.onStart?.(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.observer.onDepthChange?.(this.queue.length);
  }

  /** Adds the key after delayMs; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.timers.clearTimeout(pending.timer);
    const timer = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, timer });
  }

  /**
   * Requeues after this key's next exponential backoff delay; returns that delay. A key that changed
   * while it was being processed (the finalizer the failed sync itself added, say) runs again as soon as
   * done() is called: that run is the retry, so this failure is not counted and 0 is returned. Counting
   * it made the first real backoff 10 s instead of 5 s.
   */
  addRateLimited(key: string): number {
    if (this.processing.has(key) && this.dirty.has(key)) return 0;
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min(this.options.initialBackoffMs * 2 ** failures, this.options.maxBackoffMs);
    this.observer.onRetry?.(key, delay);
    this.addAfter(key, delay);
    return delay;
  }

  /** Requeues after exactly delayMs, without growing the key's backoff (a provider's retry-after). */
  addAfterRetry(key: string, delayMs: number): void {
    this.observer.onRetry?.(key, delayMs);
    this.addAfter(key, delayMs);
  }

  /** Clears the key's failure history: its next failure starts again at the initial backoff. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Nothing waiting and nothing being processed (delayed keys aside). */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.processing.size === 0;
  }

  /** Resolves when the queue is idle, or after maxWaitMs, whichever comes first. */
  whenIdle(maxWaitMs: number): Promise<void> {
    if (this.isIdle || this.shuttingDown) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve();
      }, maxWaitMs);
      const done = () => {
        this.timers.clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
    });
  }

  /** Resolves with the next key to process, or undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    // After shutDown, keys still queued are left alone: stopping must not run a sync per Service first.
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.observer.onDepthChange?.(this.queue.length);
      this.dirty.delete(key);
      this.processing.add(key);
      this.observer.onStart?.(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    this.observer.onDone?.(key);
    if (this.dirty.has(key)) {
      // Its add was counted when it came in during the work; queueing it now is not another add.
      if (this.shuttingDown) this.dirty.delete(key);
      else this.enqueue(key);
    }
    if (this.isIdle && this.idleWaiters.length > 0) for (const waiter of this.idleWaiters.splice(0)) waiter();
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.timers.clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    for (const waiter of this.idleWaiters.splice(0)) waiter();
  }
}

/** Runs `workers` loops that take keys and hand them to handle(); resolves when the queue shuts down. */
export async function runWorkers(queue: WorkQueue, workers: number, handle: (key: string) => Promise<void>): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await handle(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
