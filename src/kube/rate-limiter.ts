// A token bucket that makes callers wait their turn (client-go's client-side QPS/burst limit).

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * Holds up to `burst` tokens, refilled at `qps` per second. take() reserves a token at once, letting the
 * balance go negative, and sleeps until that token has been refilled: callers are served in the order
 * they asked, with O(1) work each and no timer per waiting caller beyond its own sleep (the reservation
 * scheme of Go's rate.Limiter, which client-go's limiter is built on). A caller that gives up (aborts)
 * hands its token back.
 */
export class TokenBucket {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor(qps: number, burst: number, clock: Clock = realClock) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`invalid rate limit: qps ${qps}, burst ${burst}`);
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Resolves when the caller may go; the delay it had to wait, in milliseconds. */
  async take(signal?: AbortSignal): Promise<number> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    const wait = (-this.tokens * 1000) / this.qps;
    try {
      await this.clock.sleep(wait, signal);
    } catch (err) {
      this.tokens += 1;
      throw err;
    }
    return wait;
  }
}
