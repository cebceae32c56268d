// Entry point the provider registry loads lazily, so the AWS SDK is imported only when provider: aws.

import type { ProviderDeps } from '../provider.ts';
import type { LoadBalancerProvider } from '../provider.ts';
import type { AwsProviderConfig } from './config.ts';
import { AwsNlbProvider } from './nlb-provider.ts';

export type { AwsProviderConfig } from './config.ts';

export function createAwsProvider(config: AwsProviderConfig, deps: ProviderDeps): LoadBalancerProvider {
  return new AwsNlbProvider(config, deps);
}
