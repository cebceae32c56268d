import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import { createAwsProvider } from './aws/index.ts';
import { createLocalProvider } from './local/index.ts';
import type { LoadBalancerProvider } from './provider.ts';

/** What the core hands every provider: never a Kubernetes client. */
export interface ProviderDeps {
  clusterName: string;
  logger: Logger;
  /** Register provider metrics (cloud calls, data path counters) here; served on /metrics. */
  registry: Registry;
}

export function createProvider(config: Config, deps: ProviderDeps): LoadBalancerProvider {
  switch (config.provider.name) {
    case 'local':
      return createLocalProvider(config.provider.local, deps);
    case 'aws':
      // The schema guarantees the section exists when aws is selected.
      return createAwsProvider(config.provider.aws!, deps);
  }
}
