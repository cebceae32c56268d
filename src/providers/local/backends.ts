// The backends of one UDP frontend inside a worker: which may take new flows, and draining the ones
// that were removed. (The TCP engine keeps the same rules in native/tcp_engine.c.)
import { pickForClient, RoundRobin } from './node-picker.ts';
import type { BackendSpec } from './proxy-spec.ts';

/** A flow that can be cut when its drain grace runs out. */
export interface Closable {
  close(): void;
}

export interface Backend {
  spec: BackendSpec;
  live: Set<Closable>;
}

export class Backends {
  private byNode = new Map<string, Backend>();
  private eligible: Backend[] = [];
  private readonly roundRobin = new RoundRobin(Math.floor(Math.random() * 1_000));
  private readonly drainTimers = new Set<NodeJS.Timeout>();
  affinity: 'None' | 'ClientIP' = 'None';

  constructor(specs: BackendSpec[], affinity: 'None' | 'ClientIP') {
    this.affinity = affinity;
    this.update(specs, 0);
  }

  /** Takes the new backend list; connections to backends that left are cut after graceMs. */
  update(specs: BackendSpec[], graceMs: number): void {
    const next = new Map<string, Backend>();
    for (const spec of specs) {
      const existing = this.byNode.get(spec.node);
      const sameTarget = existing && existing.spec.address === spec.address && existing.spec.port === spec.port;
      next.set(spec.node, sameTarget ? { spec, live: existing.live } : { spec, live: new Set() });
    }
    for (const [node, backend] of this.byNode) {
      const kept = next.get(node);
      if (kept?.live !== backend.live) this.drain(backend.live, graceMs);
    }
    this.byNode = next;
    this.eligible = [...next.values()].filter((b) => b.spec.healthy);
  }

  /** A backend for a new connection, skipping the ones a failed attempt already tried. */
  pick(clientIP: string, tried: readonly Backend[]): Backend | undefined {
    const candidates = tried.length === 0 ? this.eligible : this.eligible.filter((b) => !tried.includes(b));
    return this.affinity === 'ClientIP' ? pickForClient(candidates, clientIP, (b) => b.spec.node) : this.roundRobin.pick(candidates);
  }

  get size(): number {
    return this.eligible.length;
  }

  /** Cuts every connection that is still open after graceMs. */
  drain(live: Set<Closable>, graceMs: number): void {
    if (live.size === 0) return;
    const timer = setTimeout(() => {
      this.drainTimers.delete(timer);
      for (const conn of [...live]) conn.close();
    }, graceMs);
    timer.unref();
    this.drainTimers.add(timer);
  }

  drainAll(graceMs: number): void {
    for (const backend of this.byNode.values()) this.drain(backend.live, graceMs);
  }

  /** Forgets pending drains; the frontend cuts its connections itself. */
  clearTimers(): void {
    for (const timer of this.drainTimers) clearTimeout(timer);
    this.drainTimers.clear();
  }
}
