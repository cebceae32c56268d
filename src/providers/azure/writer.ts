// The batching writer of one ARM resource (a shared load balancer, the cluster's NSG). Edits from any number
// of Services queue up; one batch applies all of them to one fresh GET and commits them with one PUT guarded
// by If-Match. A 412 (someone else wrote first) re-reads and re-applies the same edits; a batch ARM rejects
// is split in halves until the edit that ARM refuses fails alone; each caller's promise settles with its
// own edit's fate. When the edits change nothing, nothing is written.

import { canonicalJson } from './edit.ts';

/** One Service's change: edits the draft in place, returns what the caller wants back; throws to refuse itself. */
export type Edit<R, T> = (draft: R) => T;

export interface Versioned {
  etag?: string;
}

export interface WriterIO<R extends Versioned> {
  /** The resource as ARM has it now, or undefined when it does not exist. */
  read(): Promise<R | undefined>;
  /** PUT guarded by If-Match (etag) or If-None-Match: * (no etag: create only); resolves with the stored resource. */
  write(next: R, etag: string | undefined): Promise<R>;
  /** Deletes the resource (guarded by If-Match) once no Service uses it. */
  remove(etag: string | undefined): Promise<void>;
  /** A new, empty resource to apply edits to when none exists. */
  empty(): R;
  /** True when the resource holds nothing anyone needs, so it should not exist (an LB without frontends). */
  isEmpty(resource: R): boolean;
  /** How a failed write ends: retry after a re-read, split the batch, or fail every edit of the batch. */
  classify(err: unknown): 'conflict' | 'rejected' | 'failed';
  /** Commits done (PUT or DELETE), for metrics. */
  committed?(kind: 'put' | 'delete', edits: number): void;
}

export interface WriterOptions {
  /** 1 = one edit per write (no batching). */
  maxBatch: number;
  maxConflictRetries: number;
}

interface Pending<R> {
  edit: Edit<R, unknown>;
  resolve(outcome: { value: unknown; resource: R | undefined }): void;
  reject(err: unknown): void;
}

export class ConflictRetriesExhausted extends Error {
  constructor(attempts: number, cause: unknown) {
    super(`gave up after ${attempts} concurrent-write conflicts (HTTP 412) in a row`, { cause });
    this.name = 'ConflictRetriesExhausted';
  }
}

function clone<R>(value: R): R {
  return structuredClone(value);
}

export class BatchWriter<R extends Versioned> {
  readonly #io: WriterIO<R>;
  readonly #options: WriterOptions;
  #queue: Pending<R>[] = [];
  #running = false;

  constructor(io: WriterIO<R>, options: WriterOptions) {
    this.#io = io;
    this.#options = options;
  }

  /** Queues an edit; resolves with its return value and the committed resource once its batch is stored. */
  submit<T>(edit: Edit<R, T>): Promise<{ value: T; resource: R | undefined }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ edit, resolve: resolve as Pending<R>['resolve'], reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        // Whatever arrived while the previous batch was in flight goes out together.
        const batch = this.#queue.splice(0, this.#options.maxBatch);
        await this.#commit(batch);
      }
    } finally {
      this.#running = false;
    }
  }

  async #commit(batch: Pending<R>[]): Promise<void> {
    let conflicts = 0;
    for (;;) {
      let current: R | undefined;
      try {
        current = await this.#io.read();
      } catch (err) {
        for (const p of batch) p.reject(err);
        return;
      }
      let draft = current ? clone(current) : this.#io.empty();
      const applied: Array<{ pending: Pending<R>; value: unknown }> = [];
      for (const pending of batch) {
        // An edit applies to a copy, so one that throws leaves no half-change behind for the others.
        const trial = clone(draft);
        try {
          const value = pending.edit(trial);
          draft = trial;
          applied.push({ pending, value });
        } catch (err) {
          pending.reject(err);
        }
      }
      if (applied.length === 0) return;
      try {
        const resource = await this.#store(current, draft, applied.length);
        for (const a of applied) a.pending.resolve({ value: a.value, resource });
        return;
      } catch (err) {
        const kind = this.#io.classify(err);
        if (kind === 'conflict') {
          conflicts++;
          if (conflicts <= this.#options.maxConflictRetries) {
            batch = applied.map((a) => a.pending);
            continue;
          }
          const exhausted = new ConflictRetriesExhausted(conflicts, err);
          for (const a of applied) a.pending.reject(exhausted);
          return;
        }
        if (kind === 'rejected' && applied.length > 1) {
          const middle = Math.ceil(applied.length / 2);
          await this.#commit(applied.slice(0, middle).map((a) => a.pending));
          await this.#commit(applied.slice(middle).map((a) => a.pending));
          return;
        }
        for (const a of applied) a.pending.reject(err);
        return;
      }
    }
  }

  /** PUT, DELETE or nothing, whichever takes ARM from current to draft. */
  async #store(current: R | undefined, draft: R, edits: number): Promise<R | undefined> {
    if (this.#io.isEmpty(draft)) {
      if (!current) return undefined;
      await this.#io.remove(current.etag);
      this.#io.committed?.('delete', edits);
      return undefined;
    }
    if (current && canonicalJson(current) === canonicalJson(draft)) return current;
    const stored = await this.#io.write(draft, current?.etag);
    this.#io.committed?.('put', edits);
    return stored;
  }
}
