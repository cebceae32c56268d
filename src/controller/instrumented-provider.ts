// A provider wrapper that counts, times and logs every call, whatever the provider, and bounds how many run at once.
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { LoadBalancerProvider } from '../providers/provider.ts';
import type { ControllerMetrics } from './metrics.ts';
import { errorMessage } from '../error-message.ts';

type Operation = 'get' | 'ensure' | 'updateTargets' | 'delete' | 'listOwned';
const operations: Operation[] = ['get', 'ensure', 'updateTargets', 'delete', 'listOwned'];

/**
 * Counts, times and logs every provider operation in one place, whatever the provider, and runs at most
 * `maxInFlight` (controller.workers) at once, in the order they were asked for: the cloud's concurrency is
 * what the worker count bounds. The time a call waits for its turn is not part of its duration.
 */
export function instrumentProvider(
  provider: LoadBalancerProvider,
  metrics: ControllerMetrics,
  logger: Logger,
  maxInFlight: number,
): LoadBalancerProvider {
  const limit = pLimit(maxInFlight);
  const wrapped: LoadBalancerProvider = {
    name: provider.name,
    start: (known) => provider.start(known),
    stop: () => provider.stop(),
    ...(provider.checkReady ? { checkReady: provider.checkReady.bind(provider) } : {}),
  } as LoadBalancerProvider;
  for (const operation of operations) {
    const call = provider[operation].bind(provider) as (...args: unknown[]) => Promise<unknown>;
    (wrapped as unknown as Record<Operation, unknown>)[operation] = (...args: unknown[]) => {
      metrics.providerCallsWaiting.inc();
      return limit(async () => {
        metrics.providerCallsWaiting.dec();
        const end = metrics.providerCallDuration.startTimer({ provider: provider.name, operation });
        try {
          const result = await call(...args);
          metrics.providerCalls.inc({ provider: provider.name, operation, outcome: 'success' });
          return result;
        } catch (err) {
          metrics.providerCalls.inc({ provider: provider.name, operation, outcome: 'error' });
          logger.debug({ operation, err: errorMessage(err) }, 'provider operation failed');
          throw err;
        } finally {
          end();
        }
      });
    };
  }
  return wrapped;
}
