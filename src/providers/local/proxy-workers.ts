// The main thread's side of the proxy workers: sends every worker the same frontend group specs, gathers
// their answers, and replaces a worker that dies. With no workers, the data path runs on this thread.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { FrontendHost } from './frontend-host.ts';
import type { FrontendGroupSpec, FromWorker, FrontendStats, ToWorker } from './proxy-spec.ts';
import type { EngineLimits } from './tcp-proxy.ts';

type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

// Run from source the worker is a .ts file; built, it is .js next to this one.
const workerURL = new URL(import.meta.url.endsWith('.ts') ? './proxy-worker.ts' : './proxy-worker.js', import.meta.url);

const RESPAWN_FIRST_MS = 100;
const RESPAWN_MAX_MS = 10_000;
/** A worker that ran this long before exiting is not part of a crash loop. */
const STABLE_MS = 30_000;
/** /metrics must answer even when a worker does not. */
const STATS_TIMEOUT_MS = 2_000;

/**
 * When to replace a worker that exited after uptimeMs, given how many short-lived workers came before
 * it in that slot: 100 ms doubling to 10 s while it keeps failing, so that a spec that kills every
 * worker does not spin a core.
 */
export function nextRespawn(quickExits: number, uptimeMs: number): { delayMs: number; quickExits: number } {
  const before = uptimeMs >= STABLE_MS ? 0 : quickExits;
  return { delayMs: Math.min(RESPAWN_FIRST_MS * 2 ** before, RESPAWN_MAX_MS), quickExits: before + 1 };
}

/** The answer, or late()'s if none comes within ms. */
export function answerWithin<T>(answer: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late()), ms);
  });
  return Promise.race([answer, deadline]).finally(() => clearTimeout(timer));
}

interface Slot {
  index: number;
  /** None when the data path runs on the main thread. */
  worker?: Worker;
  post(message: ToWorker): void;
  pending: Map<number, (answer: FromWorker) => void>;
  startedAt: number;
  /** False from the worker's exit until its replacement is in the slot. */
  alive: boolean;
}

export class ProxyWorkers {
  private readonly slots: Slot[] = [];
  /**
   * Every frontend group's spec as of now, for a replacement worker: built when needed rather than a copy
   * of the last spec kept per group (at 1000 Services x 100 nodes, 100,000 backend objects in the heap).
   */
  private readonly current: () => Iterable<FrontendGroupSpec>;
  private readonly logger: Logger;
  /** Each worker's engine's, over all its listeners. */
  private readonly limits: EngineLimits;
  /** Per slot: workers in a row that exited soon after starting. */
  private readonly quickExits: number[] = [];
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private stopping = false;
  /** Specs applied during this turn of the loop, sent together at its end (the latest per group). */
  private batch: { specs: Map<string, FrontendGroupSpec>; answers: Promise<FromWorker[]> } | undefined;

  /**
   * count 0: the data path on this thread, without a worker's ~14 MB (its own V8 heap and Node runtime); TCP
   * still flows on the native engine's thread, but UDP datagrams wait for this thread's loop.
   */
  constructor(count: number, logger: Logger, limits: EngineLimits, current: () => Iterable<FrontendGroupSpec>) {
    this.logger = logger;
    this.limits = limits;
    this.current = current;
    if (count === 0) this.slots.push(this.onThisThread());
    for (let i = 0; i < count; i++) {
      this.quickExits.push(0);
      this.slots.push(this.spawn(i));
    }
  }

  private static answer(slot: Slot, answer: FromWorker): void {
    const resolve = slot.pending.get(answer.id);
    slot.pending.delete(answer.id);
    resolve?.(answer);
  }

  private onThisThread(): Slot {
    const host = new FrontendHost(this.limits);
    const slot: Slot = {
      index: 0,
      post: (message) => host.handle(message, (answer) => ProxyWorkers.answer(slot, answer)),
      pending: new Map(),
      startedAt: performance.now(),
      alive: true,
    };
    return slot;
  }

  private spawn(index: number): Slot {
    const worker = new Worker(workerURL, { name: `proxy-${index}`, workerData: this.limits });
    const slot: Slot = {
      index,
      worker,
      post: (message) => worker.postMessage(message),
      pending: new Map(),
      startedAt: performance.now(),
      alive: true,
    };
    worker.on('message', (answer: FromWorker) => ProxyWorkers.answer(slot, answer));
    worker.on('error', (err) => this.logger.error({ err, worker: index }, 'proxy worker failed'));
    worker.on('exit', (code) => {
      slot.alive = false;
      for (const [id, resolve] of slot.pending) resolve({ type: 'done', id, errors: [`proxy worker ${index} exited`] });
      slot.pending.clear();
      if (this.stopping) return;
      const next = nextRespawn(this.quickExits[index]!, performance.now() - slot.startedAt);
      this.quickExits[index] = next.quickExits;
      this.logger.error({ worker: index, code, delayMs: next.delayMs }, 'proxy worker exited; starting a new one');
      const timer = setTimeout(() => {
        this.respawnTimers.delete(timer);
        this.replace(index);
      }, next.delayMs);
      this.respawnTimers.add(timer);
    });
    return slot;
  }

  /** Starts a worker in the slot and gives it every frontend group; what it cannot bind is only logged. */
  private replace(index: number): void {
    const slot = this.spawn(index);
    this.slots[index] = slot;
    const specs = [...this.current()];
    if (specs.length === 0) return;
    void this.send(slot, { type: 'apply', specs }).then((answer) => {
      for (const spec of specs) {
        const errors = ProxyWorkers.errors([answer], spec.key);
        if (errors.length > 0)
          this.logger.error({ worker: index, service: spec.service, errors }, 'replacement proxy worker cannot serve the load balancer');
      }
    });
  }

  /** The worker's answer; with timeoutMs, an error answer if it takes longer (the worker may be hung). */
  private send(slot: Slot, request: Request, timeoutMs?: number): Promise<FromWorker> {
    const id = this.nextId++;
    // A slot waiting for its replacement: the replacement is given the latest specs when it starts.
    if (!slot.alive) return Promise.resolve({ type: 'done', id, errors: [] });
    const answer = new Promise<FromWorker>((resolve) => {
      slot.pending.set(id, resolve);
      slot.post({ ...request, id } as ToWorker);
    });
    if (timeoutMs === undefined) return answer;
    return answerWithin(answer, timeoutMs, () => {
      slot.pending.delete(id);
      this.logger.warn({ worker: slot.index, request: request.type, timeoutMs }, 'proxy worker did not answer in time');
      return { type: 'done', id, errors: [`proxy worker ${slot.index} did not answer within ${timeoutMs} ms`] };
    });
  }

  private async all(request: Request): Promise<FromWorker[]> {
    return Promise.all(this.slots.map((slot) => this.send(slot, request)));
  }

  /** What the answers say could not be done, for one group when `key` is given. */
  private static errors(answers: FromWorker[], key?: string): string[] {
    return [...new Set(answers.flatMap((a) => (a.type === 'done' ? a.errors : a.type === 'applied' && key ? (a.errors[key] ?? []) : [])))];
  }

  /**
   * Serves the spec in every worker; returns what could not be done (listeners that failed to bind).
   * Specs applied in the same turn of the event loop (a node change updates every load balancer) go to
   * each worker in one message rather than one message each.
   */
  async apply(spec: FrontendGroupSpec): Promise<string[]> {
    if (!this.batch) {
      const specs = new Map<string, FrontendGroupSpec>();
      const answers = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.batch = undefined;
        return specs.size === 0 ? [] : this.all({ type: 'apply', specs: [...specs.values()] });
      });
      this.batch = { specs, answers };
    }
    this.batch.specs.set(spec.key, spec);
    return ProxyWorkers.errors(await this.batch.answers, spec.key);
  }

  /** Closes the group's listeners now; its connections drain in the background. */
  async remove(key: string): Promise<void> {
    // A spec still waiting for its batch must not reach the workers after the removal.
    this.batch?.specs.delete(key);
    await this.all({ type: 'remove', key });
  }

  /** The counters of every worker that answers in time; one that does not is left out, and logged. */
  async stats(): Promise<FrontendStats[]> {
    const answers = await Promise.all(this.slots.map((slot) => this.send(slot, { type: 'stats' }, STATS_TIMEOUT_MS)));
    return answers.flatMap((a) => (a.type === 'stats' ? a.stats : []));
  }

  /**
   * Why a worker cannot be counted on: one that exited and waits for its replacement, or one whose loop did
   * not answer within timeoutMs (hung). Empty when every worker answered.
   */
  async problems(timeoutMs: number): Promise<string[]> {
    const answers = await Promise.all(
      this.slots.map((slot) => (slot.alive ? this.send(slot, { type: 'ping' }, timeoutMs) : Promise.resolve(undefined))),
    );
    return answers.flatMap((answer, index) =>
      answer === undefined ? [`proxy worker ${index} exited and is being replaced`] : answer.type === 'done' ? answer.errors : [],
    );
  }

  /** Closes every listener, waits up to graceMs for connections to finish, then ends the workers. */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    this.batch?.specs.clear();
    for (const timer of this.respawnTimers) clearTimeout(timer);
    this.respawnTimers.clear();
    await this.all({ type: 'shutdown', graceMs });
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }
}
