// A slow readiness check (a cloud call) made safe for probes: one call at a time, bounded, its answer reused.
import { errorMessage } from '../error-message.ts';
import type { LoadBalancerProvider } from '../providers/provider.ts';

export interface CachedCheckOptions {
  /** Names the check in its problems ("provider aws"). */
  name: string;
  /** A call that has not answered by then counts as a problem (it keeps running; no second call starts). */
  timeoutMs: number;
  /** An answer younger than this is served as is, so probes every second do not each call the cloud. */
  ttlMs: number;
  now?: () => number;
}

/**
 * Probes get the last answer at once and never wait on the cloud (a kubelet probe times out after a second
 * by default); an answer older than ttl starts a new call in the background.
 */
export class CachedCheck {
  readonly #check: () => Promise<string[]>;
  readonly #options: CachedCheckOptions;
  readonly #now: () => number;
  #answer: { problems: string[]; at: number } | undefined;
  /** The call in flight, until it settles: never two at once, even when one outlives its timeout. */
  #inflight: Promise<void> | undefined;
  /** Resolves when the call in flight answered or timed out. */
  #decided: Promise<void> = Promise.resolve();

  constructor(check: () => Promise<string[]>, options: CachedCheckOptions) {
    this.#check = check;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The last answer, prefixed with the check's name; before the first one, a problem saying so. */
  problems(): string[] {
    const answer = this.#answer;
    if (!answer || this.#now() - answer.at >= this.#options.ttlMs) void this.refresh();
    if (!answer) return [`${this.#options.name}: not checked yet`];
    return answer.problems.map((p) => `${this.#options.name}: ${p}`);
  }

  /** Starts a call unless one is running; resolves once it answered or timed out. */
  refresh(): Promise<void> {
    if (this.#inflight) return this.#decided;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const call = Promise.resolve()
      .then(() => this.#check())
      .catch((err: unknown) => [`check failed: ${errorMessage(err)}`])
      .then((problems) => {
        settled = true;
        clearTimeout(timer);
        this.#store(problems);
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!settled) this.#store([`no answer within ${this.#options.timeoutMs / 1000} s`]);
        resolve();
      }, this.#options.timeoutMs);
      // A pending readiness check must not keep a stopping process alive.
      timer.unref();
    });
    this.#inflight = call;
    this.#decided = Promise.race([call, timeout]);
    return this.#decided;
  }

  #store(problems: string[]): void {
    this.#answer = { problems, at: this.#now() };
  }
}

/**
 * The provider's own check (credentials, the configured network), for /readyz; undefined when the provider
 * has none. The first call starts at once, so the first probe usually finds an answer.
 */
export function providerReadiness(provider: LoadBalancerProvider): CachedCheck | undefined {
  const check = provider.checkReady?.bind(provider);
  if (!check) return undefined;
  const cached = new CachedCheck(check, { name: `provider ${provider.name}`, timeoutMs: 5_000, ttlMs: 10_000 });
  void cached.refresh();
  return cached;
}
