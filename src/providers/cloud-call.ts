// The retry loop every cloud adapter's calls go through: the rate budget, one counted and timed attempt at a
// time, and p-retry's exponential backoff with jitter for the failures the adapter calls passing.

import pRetry from 'p-retry';
import { Counter, Histogram, type LabelValues, type Metric, type Registry } from 'prom-client';
import type { RateBudget } from './rate-budget.ts';

/** Socket and DNS error codes: the request may not have reached the cloud, or its answer was lost; retry. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The provider config fields every adapter has for its retries. */
export interface RetrySettings {
  maxRetries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
}

/** How an adapter reads one failed attempt. */
export interface FailedAttempt {
  /** The `outcome` label of the calls counter. */
  outcome: string;
  /** Worth another attempt (throttling, 5xx, the network). */
  retry: boolean;
  /** The cloud said "slow down" and the budget should back off for every caller. */
  backOff: boolean;
}

/** An adapter's two call metrics: attempts by outcome, and how long each took. */
export interface CallMetrics<L extends string> {
  calls: Counter<L | 'outcome'>;
  duration: Histogram<L>;
}

export interface CallMetricsSpec<L extends string> {
  /** `<prefix>_calls_total` and `<prefix>_call_duration_seconds`. */
  prefix: string;
  labelNames: L[];
  callsHelp: string;
  durationHelp: string;
  buckets: number[];
}

/** The registry's metric of that name, made on first use: several providers (in tests) share one registry. */
export function registeredMetric<M extends Metric>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export function callMetrics<L extends string>(registry: Registry, spec: CallMetricsSpec<L>): CallMetrics<L> {
  const callsName = `${spec.prefix}_calls_total`;
  const durationName = `${spec.prefix}_call_duration_seconds`;
  return {
    calls: registeredMetric(
      registry,
      callsName,
      () => new Counter({ name: callsName, help: spec.callsHelp, labelNames: [...spec.labelNames, 'outcome'], registers: [registry] }),
    ),
    duration: registeredMetric(
      registry,
      durationName,
      () =>
        new Histogram({
          name: durationName,
          help: spec.durationHelp,
          labelNames: spec.labelNames,
          buckets: spec.buckets,
          registers: [registry],
        }),
    ),
  };
}

export interface CloudCall<L extends string> {
  /** The call's labels on both metrics (the counter adds `outcome`). */
  labels: LabelValues<L>;
  metrics: CallMetrics<L>;
  retry: RetrySettings;
  /** Waited on before each attempt; absent for calls the adapter does not budget. */
  budget?: RateBudget | undefined;
  failure(error: unknown): FailedAttempt;
  /** Before each retry, with p-retry's delay: a log line, and any longer wait the cloud asked for. */
  beforeRetry(error: unknown, attempt: number, retryDelayMs: number): void | Promise<void>;
}

/** `send` until it succeeds, fails for good, or runs out of retries; every attempt is counted and timed. */
export function cloudCall<T, L extends string>(send: () => Promise<T>, call: CloudCall<L>): Promise<T> {
  // TypeScript does not see that spreading LabelValues<L> and adding outcome makes LabelValues<L | 'outcome'>.
  const counted = (outcome: string) => ({ ...call.labels, outcome }) as LabelValues<L | 'outcome'>;
  return pRetry(
    async () => {
      await call.budget?.acquire();
      const stop = call.metrics.duration.startTimer(call.labels);
      try {
        const out = await send();
        call.metrics.calls.inc(counted('success'));
        return out;
      } catch (err) {
        const failed = call.failure(err);
        call.metrics.calls.inc(counted(failed.outcome));
        if (failed.backOff) call.budget?.backOff();
        throw err;
      } finally {
        stop();
      }
    },
    {
      retries: call.retry.maxRetries,
      factor: 2,
      minTimeout: call.retry.retryBaseDelayMs,
      maxTimeout: call.retry.retryMaxDelayMs,
      randomize: true,
      shouldRetry: ({ error }) => call.failure(error).retry,
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft, retryDelay }) => {
        if (!call.failure(error).retry || retriesLeft === 0) return;
        await call.beforeRetry(error, attemptNumber, retryDelay);
      },
    },
  );
}
