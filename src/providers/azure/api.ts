// The one place every ARM call goes through: the write budget, retries (p-retry, honouring Retry-After),
// metrics and logs. The SDK's own retry policy is off (maxRetries 0), so every attempt is visible here.

import type { LoadBalancer, NetworkManagementClient, NetworkSecurityGroup, PublicIPAddress, Subnet } from '@azure/arm-network';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AzureProviderConfig } from './config.ts';
import { classifyFailure, isRetryableFailure, retryAfterMs, armCode } from './errors.ts';
import { type CallMetrics, callMetrics, cloudCall, registeredMetric } from '../cloud-call.ts';
import { type Clock, RateBudget, realClock } from '../rate-budget.ts';

export interface AzureApiDeps {
  registry: Registry;
  logger: Logger;
  clock?: Clock;
}

/** Request options that make a PUT or DELETE conditional on the ETag we read. */
function conditional(etag: string | undefined, createOnly: boolean): { requestOptions?: { headers: Record<string, string> } } {
  if (etag !== undefined) return { requestOptions: { headers: { 'If-Match': etag } } };
  return createOnly ? { requestOptions: { headers: { 'If-None-Match': '*' } } } : {};
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export class AzureApi {
  readonly #client: NetworkManagementClient;
  readonly #config: AzureProviderConfig;
  readonly #logger: Logger;
  readonly #budget: RateBudget;
  readonly #clock: Clock;
  readonly #metrics: CallMetrics<'operation'>;
  readonly #lbPuts: Counter<'load_balancer'>;

  constructor(client: NetworkManagementClient, config: AzureProviderConfig, deps: AzureApiDeps) {
    this.#client = client;
    this.#config = config;
    this.#logger = deps.logger;
    this.#clock = deps.clock ?? realClock;
    // ARM throttles writes per subscription (1200 an hour by default), shared by everything in it.
    this.#budget = new RateBudget(config.writesPerHour / 3600, this.#clock, config.writeBurst);
    this.#metrics = callMetrics(deps.registry, {
      prefix: 'service_lb_azure_api',
      labelNames: ['operation'],
      callsHelp:
        'ARM calls (every attempt) by operation and outcome (success, throttled, server_error, network_error, precondition_failed, not_found, client_error).',
      durationHelp:
        'Duration of one ARM call attempt including long-running operation polling, excluding time waiting for the write budget.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    });
    this.#lbPuts = registeredMetric(
      deps.registry,
      'service_lb_azure_load_balancer_puts_total',
      () =>
        new Counter({
          name: 'service_lb_azure_load_balancer_puts_total',
          help: 'Committed PUTs of each shared load balancer (one per batch of Service changes).',
          labelNames: ['load_balancer'],
          registers: [deps.registry],
        }),
    );
  }

  get #poll() {
    return { updateIntervalInMs: this.#config.pollIntervalMs };
  }

  getLoadBalancer(rg: string, name: string): Promise<LoadBalancer> {
    return this.#call('loadBalancers.get', false, () => this.#client.loadBalancers.get(rg, name));
  }

  async putLoadBalancer(rg: string, name: string, lb: LoadBalancer, etag: string | undefined): Promise<LoadBalancer> {
    const out = await this.#call('loadBalancers.createOrUpdate', true, async () =>
      this.#client.loadBalancers.createOrUpdate(rg, name, lb, { ...this.#poll, ...conditional(etag, true) }),
    );
    this.#lbPuts.inc({ load_balancer: name });
    return out;
  }

  deleteLoadBalancer(rg: string, name: string, etag: string | undefined): Promise<void> {
    return this.#call('loadBalancers.delete', true, async () =>
      this.#client.loadBalancers.delete(rg, name, { ...this.#poll, ...conditional(etag, false) }),
    );
  }

  listLoadBalancers(rg: string): Promise<LoadBalancer[]> {
    return this.#call('loadBalancers.list', false, () => all(this.#client.loadBalancers.list(rg)));
  }

  getPublicIP(rg: string, name: string): Promise<PublicIPAddress> {
    return this.#call('publicIPAddresses.get', false, () => this.#client.publicIPAddresses.get(rg, name));
  }

  putPublicIP(rg: string, name: string, pip: PublicIPAddress): Promise<PublicIPAddress> {
    return this.#call('publicIPAddresses.createOrUpdate', true, async () =>
      this.#client.publicIPAddresses.createOrUpdate(rg, name, pip, this.#poll),
    );
  }

  deletePublicIP(rg: string, name: string): Promise<void> {
    return this.#call('publicIPAddresses.delete', true, async () => this.#client.publicIPAddresses.delete(rg, name, this.#poll));
  }

  listPublicIPs(rg: string): Promise<PublicIPAddress[]> {
    return this.#call('publicIPAddresses.list', false, () => all(this.#client.publicIPAddresses.list(rg)));
  }

  getSubnet(rg: string, vnet: string, name: string): Promise<Subnet> {
    return this.#call('subnets.get', false, () => this.#client.subnets.get(rg, vnet, name));
  }

  getSecurityGroup(rg: string, name: string): Promise<NetworkSecurityGroup> {
    return this.#call('networkSecurityGroups.get', false, () => this.#client.networkSecurityGroups.get(rg, name));
  }

  putSecurityGroup(rg: string, name: string, nsg: NetworkSecurityGroup, etag: string | undefined): Promise<NetworkSecurityGroup> {
    return this.#call('networkSecurityGroups.createOrUpdate', true, async () =>
      this.#client.networkSecurityGroups.createOrUpdate(rg, name, nsg, { ...this.#poll, ...conditional(etag, true) }),
    );
  }

  #call<T>(operation: string, write: boolean, send: () => Promise<T>): Promise<T> {
    return cloudCall(send, {
      labels: { operation },
      metrics: this.#metrics,
      retry: this.#config,
      budget: write ? this.#budget : undefined,
      failure: (err) => {
        const kind = classifyFailure(err);
        // The budget is for writes per hour; a throttled call waits out Retry-After instead.
        return { outcome: kind, retry: isRetryableFailure(kind), backOff: false };
      },
      beforeRetry: async (err, attempt, retryDelay) => {
        const after = retryAfterMs(err);
        this.#logger.warn(
          { operation, attempt, error: armCode(err) ?? classifyFailure(err), retryInMs: (after ?? 0) + retryDelay },
          'ARM call failed, retrying',
        );
        // ARM said when to come back: wait that long before p-retry's own (short) backoff.
        if (after !== undefined) await this.#clock.sleep(after);
      },
    });
  }
}
