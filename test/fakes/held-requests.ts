// Requests a fake answers with nothing (its 'timeout' fault): each connection is dropped after a hold, or when the fake stops.
import type { ServerResponse } from 'node:http';

export class HeldRequests {
  private readonly held = new Set<ServerResponse>();
  /** Read at each hold, so that a test may change it between requests; undefined holds until dropAll(). */
  private readonly holdMs: () => number | undefined;

  constructor(holdMs: () => number | undefined) {
    this.holdMs = holdMs;
  }

  hold(res: ServerResponse): void {
    this.held.add(res);
    const ms = this.holdMs();
    if (ms === undefined) return;
    setTimeout(() => {
      this.held.delete(res);
      res.destroy();
    }, ms).unref();
  }

  dropAll(): void {
    for (const res of this.held) res.destroy();
    this.held.clear();
  }
}
