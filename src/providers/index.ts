import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import type { LoadBalancerProvider } from './provider.ts';

/** What the core hands every provider: never a Kubernetes client. */
export interface ProviderDeps {
  clusterName: string;
  logger: Logger;
  /** Register provider metrics (cloud calls, data path counters) here; served on /metrics. */
  registry: Registry;
}

/** Loads only the selected provider, so a cluster on one cloud never loads another cloud's SDK. */
export async function createProvider(config: Config, deps: ProviderDeps): Promise<LoadBalancerProvider> {
  switch (config.provider.name) {
    case 'local': {
      const { createLocalProvider } = await import('./local/index.ts');
      return createLocalProvider(config.provider.local, deps);
    }
    case 'aws': {
      const { createAwsProvider } = await import('./aws/index.ts');
      // The schema guarantees the section exists when aws is selected.
      return createAwsProvider(config.provider.aws!, deps);
    }
  }
}
