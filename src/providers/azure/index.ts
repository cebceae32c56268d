// Builds the Azure provider: the credential chain, an SDK client with its own retries off, the ARM wrapper.
import { NetworkManagementClient, type NetworkManagementClientOptionalParams } from '@azure/arm-network';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import type { LoadBalancerProvider, ProviderDeps } from '../provider.ts';
import { AzureApi } from './api.ts';
import type { Clock } from '../rate-budget.ts';
import { AzureProvider } from './azure-provider.ts';
import { RESOURCE_MANAGER_ENDPOINTS, type AzureProviderConfig } from './config.ts';

export type { AzureProviderConfig } from './config.ts';

/** What tests (and embedders) inject; never part of the config file. */
export interface AzureProviderOptions {
  credential?: TokenCredential;
  /** Merged over the provider's client options (e.g. tlsOptions with a test CA, an endpoint). */
  clientOptions?: NetworkManagementClientOptionalParams;
  clock?: Clock;
}

export function createAzureProvider(
  config: AzureProviderConfig,
  deps: ProviderDeps,
  options: AzureProviderOptions = {},
): LoadBalancerProvider {
  const audience = RESOURCE_MANAGER_ENDPOINTS[config.cloud];
  // Workload identity, managed identity and environment credentials, in DefaultAzureCredential's order.
  const credential = options.credential ?? new DefaultAzureCredential(config.tenantId ? { tenantId: config.tenantId } : {});
  const client = new NetworkManagementClient(credential, config.subscriptionId, {
    endpoint: config.resourceManagerEndpoint ?? audience,
    credentials: { scopes: [`${audience}/.default`] },
    // Retries live in AzureApi (p-retry), where they are counted and honour the write budget.
    retryOptions: { maxRetries: 0 },
    ...options.clientOptions,
  });
  // The SDK sets no timeout (0): without one, a request ARM never answers holds its sync forever. A policy,
  // not per-call options, so that long-running operation polls and list pages get it too.
  client.pipeline.addPolicy({
    name: 'serviceLbRequestTimeout',
    sendRequest: (request, next) => {
      if (!request.timeout) request.timeout = config.requestTimeoutMs;
      return next(request);
    },
  });
  const api = new AzureApi(client, config, {
    registry: deps.registry,
    logger: deps.logger,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return new AzureProvider(config, deps, api);
}
