// Entry point the provider registry loads lazily, so the Google Cloud SDK is imported only when provider: gcp.

import type { LoadBalancerProvider, ProviderDeps } from '../provider.ts';
import type { GcpProviderConfig } from './config.ts';
import { GcpProvider, type GcpProviderOptions } from './provider.ts';

export type { GcpProviderConfig } from './config.ts';

export function createGcpProvider(config: GcpProviderConfig, deps: ProviderDeps, options: GcpProviderOptions = {}): LoadBalancerProvider {
  return new GcpProvider(config, deps, options);
}
