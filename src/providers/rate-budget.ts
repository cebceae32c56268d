// A token bucket shared by every cloud call (or write) of one provider, so that a large sync (hundreds of
// Services on several workers) spreads its calls instead of causing a throttling storm on an account that
// other clusters share.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Callers reserve a token in arrival order, going into debt when the bucket is empty, and wait it off. */
export class RateBudget {
  readonly #ratePerMs: number;
  readonly #capacity: number;
  readonly #clock: Clock;
  #tokens: number;
  #updatedAt: number;

  /** burst defaults to one second of calls: a single sync runs at full speed, a storm is smoothed. */
  constructor(callsPerSecond: number, clock: Clock = realClock, burst: number = Math.max(1, callsPerSecond)) {
    this.#ratePerMs = callsPerSecond / 1000;
    this.#capacity = burst;
    this.#clock = clock;
    this.#tokens = this.#capacity;
    this.#updatedAt = clock.now();
  }

  /** Resolves when the caller may make one call. */
  async acquire(): Promise<void> {
    this.#refill();
    this.#tokens -= 1;
    if (this.#tokens >= 0) return;
    await this.#clock.sleep(Math.ceil(-this.#tokens / this.#ratePerMs));
  }

  /**
   * The cloud said "slow down": new calls wait about a second. Throttles arriving together do not stack (each
   * failed call also backs off on its own, in the retry loop).
   */
  backOff(): void {
    this.#refill();
    this.#tokens = Math.min(this.#tokens, -this.#capacity);
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#updatedAt) * this.#ratePerMs);
    this.#updatedAt = now;
  }
}
