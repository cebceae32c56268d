// Which node a new connection or flow goes to.

/**
 * FNV-1a: a cheap, well-spread hash that every worker and every restart computes the same way. The TCP
 * engine (native/tcp_engine.c, affinity_hash) computes the same numbers, so TCP and UDP agree.
 */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche, because FNV alone spreads poorly over strings that differ only at the end.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * ClientIP affinity by rendezvous hashing on a backend id that is stable across workers and restarts: every worker picks the same backend for a client without
 * sharing a table, and when the backend set changes only the clients of the backends that left (or a
 * fair share, for a backend that joined) move.
 */
export function pickForClient<T>(backends: readonly T[], clientIP: string, idOf: (backend: T) => string): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const backend of backends) {
    const score = hash(`${clientIP}|${idOf(backend)}`);
    if (score > bestScore) {
      best = backend;
      bestScore = score;
    }
  }
  return best;
}

/** Round robin: spreads new connections evenly without per-connection bookkeeping. */
export class RoundRobin {
  private next: number;

  constructor(start = 0) {
    this.next = start;
  }

  pick<T>(backends: readonly T[]): T | undefined {
    if (backends.length === 0) return undefined;
    const backend = backends[this.next % backends.length];
    this.next = (this.next + 1) % 1_000_000_007;
    return backend;
  }
}
