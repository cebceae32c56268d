// The main thread's side of the proxy workers: sends every worker the same balancer specs, gathers
// their answers, and replaces a worker that dies.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { BalancerSpec, FromWorker, FrontendStats, ToWorker } from './proxy-spec.ts';

type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

// Run from source the worker is a .ts file; built, it is .js next to this one.
const workerURL = new URL(import.meta.url.endsWith('.ts') ? './proxy-worker.ts' : './proxy-worker.js', import.meta.url);

interface Slot {
  worker: Worker;
  pending: Map<number, (answer: FromWorker) => void>;
}

export class ProxyWorkers {
  private readonly slots: Slot[] = [];
  /** The last spec of every balancer, replayed to a replacement worker. */
  private readonly specs = new Map<string, BalancerSpec>();
  private readonly logger: Logger;
  private nextId = 1;
  private stopping = false;

  constructor(count: number, logger: Logger) {
    this.logger = logger;
    for (let i = 0; i < count; i++) this.slots.push(this.spawn(i));
  }

  private spawn(index: number): Slot {
    const worker = new Worker(workerURL, { name: `proxy-${index}` });
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (answer: FromWorker) => {
      const resolve = slot.pending.get(answer.id);
      slot.pending.delete(answer.id);
      resolve?.(answer);
    });
    worker.on('error', (err) => this.logger.error({ err, worker: index }, 'proxy worker failed'));
    worker.on('exit', (code) => {
      for (const resolve of slot.pending.values()) resolve({ type: 'done', id: 0, errors: [`proxy worker ${index} exited`] });
      slot.pending.clear();
      if (this.stopping) return;
      this.logger.error({ worker: index, code }, 'proxy worker exited; starting a new one');
      const replacement = this.spawn(index);
      this.slots[index] = replacement;
      for (const spec of this.specs.values()) void this.send(replacement, { type: 'apply', spec });
    });
    return slot;
  }

  private send(slot: Slot, request: Request): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      slot.pending.set(id, resolve);
      slot.worker.postMessage({ ...request, id } as ToWorker);
    });
  }

  private async all(request: Request): Promise<FromWorker[]> {
    return Promise.all(this.slots.map((slot) => this.send(slot, request)));
  }

  private static errors(answers: FromWorker[]): string[] {
    return [...new Set(answers.flatMap((a) => (a.type === 'done' ? a.errors : [])))];
  }

  /** Serves the spec in every worker; returns what could not be done (listeners that failed to bind). */
  async apply(spec: BalancerSpec): Promise<string[]> {
    this.specs.set(spec.key, spec);
    return ProxyWorkers.errors(await this.all({ type: 'apply', spec }));
  }

  /** Closes the balancer's listeners now; its connections drain in the background. */
  async remove(key: string): Promise<void> {
    this.specs.delete(key);
    await this.all({ type: 'remove', key });
  }

  async stats(): Promise<FrontendStats[]> {
    const answers = await this.all({ type: 'stats' });
    return answers.flatMap((a) => (a.type === 'stats' ? a.stats : []));
  }

  /** Closes every listener, waits up to graceMs for connections to finish, then ends the workers. */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    await this.all({ type: 'shutdown', graceMs });
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
