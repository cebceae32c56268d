// The one place every Compute call goes through: rate budget, retries with backoff and jitter, metrics, and
// waiting for operations. The SDK makes exactly one attempt per call (retry: null), so every retry is here.

import {
  AddressesClient,
  FirewallsClient,
  ForwardingRulesClient,
  GlobalOperationsClient,
  HealthChecksClient,
  InstanceGroupsClient,
  NetworkEndpointGroupsClient,
  NetworksClient,
  RegionBackendServicesClient,
  RegionHealthChecksClient,
  RegionOperationsClient,
  RegionsClient,
  RegionTargetTcpProxiesClient,
  SubnetworksClient,
  TargetPoolsClient,
  ZoneOperationsClient,
  type protos,
} from '@google-cloud/compute';
import { compute, type compute_v1 } from '@googleapis/compute';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type CallMetrics, callMetrics, cloudCall, type FailedAttempt } from '../cloud-call.ts';
import { RateBudget } from '../rate-budget.ts';
import type { GcpProviderConfig } from './config.ts';
import { classifyFailure, isRetryableFailure, OperationError, reasons } from './errors.ts';

type Operation = protos.google.cloud.compute.v1.IOperation;

/** What the SDK calls take as their last argument: one attempt, our timeout. */
export interface CallOptions {
  retry: null;
  timeout: number;
  autoPaginate?: false;
}

/** The same for the googleapis client (gaxios options): one attempt, our timeout. */
export interface LegacyCallOptions {
  retry: false;
  timeout: number;
}

/** The googleapis client's legacy HTTP health checks; `@google-cloud/compute` 7 has no client for them. */
export type HttpHealthChecks = compute_v1.Resource$Httphealthchecks;

/**
 * The googleapis client's NEGs, for aggregatedList only: `@google-cloud/compute` offers it only as an async
 * iterator that pages by itself, past the budget, retries and metrics of `call`.
 */
export type AggregatedNetworkEndpointGroups = Pick<compute_v1.Resource$Networkendpointgroups, 'aggregatedList'>;

/** An auth client the SDK accepts (google-auth-library's AuthClient); tests pass one with a fixed token. */
export type AuthClient = NonNullable<ConstructorParameters<typeof AddressesClient>[0]>['authClient'];

export interface GcpApiDeps {
  registry: Registry;
  logger: Logger;
  authClient?: AuthClient;
}

/** Compute's failures as the retry loop reads them. */
function failedAttempt(err: unknown): FailedAttempt {
  const kind = classifyFailure(err);
  return { outcome: kind, retry: isRetryableFailure(kind), backOff: kind === 'throttled' };
}

export interface Clients {
  addresses: AddressesClient;
  firewalls: FirewallsClient;
  forwardingRules: ForwardingRulesClient;
  healthChecks: HealthChecksClient;
  instanceGroups: InstanceGroupsClient;
  networkEndpointGroups: NetworkEndpointGroupsClient;
  networks: NetworksClient;
  regionBackendServices: RegionBackendServicesClient;
  regionHealthChecks: RegionHealthChecksClient;
  regionTargetTcpProxies: RegionTargetTcpProxiesClient;
  regions: RegionsClient;
  subnetworks: SubnetworksClient;
  targetPools: TargetPoolsClient;
}

interface OperationClients {
  global: GlobalOperationsClient;
  region: RegionOperationsClient;
  zone: ZoneOperationsClient;
}

/** How long Compute holds an operations wait at most before answering with the operation as it is. */
const OPERATION_WAIT_DEADLINE_MS = 120_000;

function lastSegment(url: string | null | undefined): string {
  return (url ?? '').split('/').pop() ?? '';
}

export class GcpApi {
  readonly clients: Clients;
  /**
   * Legacy httpHealthChecks (the only checks target pools take), through the official googleapis client;
   * its operations are ordinary global operations, waited for with the SDK's GlobalOperationsClient.
   */
  readonly httpHealthChecks: HttpHealthChecks;
  readonly aggregatedNetworkEndpointGroups: AggregatedNetworkEndpointGroups;
  readonly project: string;
  readonly #operations: OperationClients;
  readonly #budget: RateBudget;
  readonly #config: GcpProviderConfig;
  readonly #logger: Logger;
  readonly #metrics: CallMetrics<'operation'>;

  constructor(config: GcpProviderConfig, deps: GcpApiDeps) {
    // Credentials: the injected client, or Application Default Credentials found by google-auth-library.
    const options = {
      fallback: true,
      ...(config.apiEndpoint ? { apiEndpoint: config.apiEndpoint } : {}),
      ...(config.port ? { port: config.port } : {}),
      protocol: config.protocol,
      ...(deps.authClient ? { authClient: deps.authClient } : {}),
    };
    this.clients = {
      addresses: new AddressesClient(options),
      firewalls: new FirewallsClient(options),
      forwardingRules: new ForwardingRulesClient(options),
      healthChecks: new HealthChecksClient(options),
      instanceGroups: new InstanceGroupsClient(options),
      networkEndpointGroups: new NetworkEndpointGroupsClient(options),
      networks: new NetworksClient(options),
      regionBackendServices: new RegionBackendServicesClient(options),
      regionHealthChecks: new RegionHealthChecksClient(options),
      regionTargetTcpProxies: new RegionTargetTcpProxiesClient(options),
      regions: new RegionsClient(options),
      subnetworks: new SubnetworksClient(options),
      targetPools: new TargetPoolsClient(options),
    };
    this.#operations = {
      global: new GlobalOperationsClient(options),
      region: new RegionOperationsClient(options),
      zone: new ZoneOperationsClient(options),
    };
    // gax holds the injected client itself, or a GoogleAuth that finds ADC: either way it has request(),
    // which googleapis calls with each request, so both clients use the same credentials. The googleapis
    // types name google-auth-library 10's classes; ours come from 11, hence the cast.
    const auth = this.clients.addresses.auth as unknown as NonNullable<compute_v1.Options['auth']>;
    const legacy = compute({
      version: 'v1',
      auth,
      ...(config.apiEndpoint ? { rootUrl: `${config.protocol}://${config.apiEndpoint}${config.port ? `:${config.port}` : ''}/` } : {}),
    });
    this.httpHealthChecks = legacy.httpHealthChecks;
    this.aggregatedNetworkEndpointGroups = legacy.networkEndpointGroups;
    this.project = config.project;
    this.#budget = new RateBudget(config.callsPerSecond);
    this.#config = config;
    this.#logger = deps.logger;
    this.#metrics = callMetrics(deps.registry, {
      prefix: 'service_lb_gcp_api',
      labelNames: ['operation'],
      callsHelp:
        'Compute API calls (every attempt, operation waits included) by operation and outcome (success, throttled, server_error, network_error, client_error).',
      durationHelp: 'Duration of one Compute API call attempt, excluding time spent waiting for the rate budget.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    });
  }

  /** A read (or any call that returns no operation), retried when Compute or the network says so. */
  call<T>(operation: string, send: (options: CallOptions, legacy: LegacyCallOptions) => Promise<T>): Promise<T> {
    const options: CallOptions = { retry: null, timeout: this.#config.requestTimeoutMs };
    const legacy: LegacyCallOptions = { retry: false, timeout: this.#config.requestTimeoutMs };
    return cloudCall(() => send(options, legacy), {
      labels: { operation },
      metrics: this.#metrics,
      retry: this.#config,
      budget: this.#budget,
      failure: failedAttempt,
      beforeRetry: (err, attempt, retryInMs) =>
        this.#logger.warn({ api: 'compute', operation, attempt, reasons: reasons(err), retryInMs }, 'Compute call failed, retrying'),
    });
  }

  /**
   * A mutation: the call, then its operation waited for until DONE (wait returns when done or after about
   * two minutes, so it is called again). An operation that ends with an error throws OperationError.
   */
  async mutate(
    operation: string,
    send: (options: CallOptions, legacy: LegacyCallOptions) => Promise<[{ latestResponse: unknown }, ...unknown[]]>,
  ): Promise<void> {
    const [lro] = await this.call(operation, send);
    let op = lro.latestResponse as Operation;
    const deadline = Date.now() + this.#config.operationTimeoutMs;
    while (op.status !== 'DONE') {
      if (Date.now() > deadline)
        throw new OperationError(`operation ${op.name} of ${operation} still running after ${this.#config.operationTimeoutMs} ms`, 504, [
          'timeout',
        ]);
      op = await this.#wait(op);
    }
    if (op.error?.errors?.length) {
      const first = op.error.errors[0]!;
      throw new OperationError(
        first.message ?? `operation ${op.name} failed`,
        op.httpErrorStatusCode ?? undefined,
        op.error.errors.map((e) => e.code ?? '').filter(Boolean),
      );
    }
  }

  /**
   * Compute holds a wait until the operation is DONE or about two minutes have passed, so a wait gets those
   * two minutes on top of the request timeout: cut at the request timeout alone, every operation longer
   * than it would count as a network error, and one longer than maxRetries timeouts would fail.
   */
  async #wait(op: Operation): Promise<Operation> {
    const name = op.name ?? '';
    const long = (o: CallOptions): CallOptions => ({ ...o, timeout: o.timeout + OPERATION_WAIT_DEADLINE_MS });
    if (op.zone) {
      const [out] = await this.call('zoneOperations.wait', (o) =>
        this.#operations.zone.wait({ project: this.project, zone: lastSegment(op.zone), operation: name }, long(o)),
      );
      return out;
    }
    if (op.region) {
      const [out] = await this.call('regionOperations.wait', (o) =>
        this.#operations.region.wait({ project: this.project, region: lastSegment(op.region), operation: name }, long(o)),
      );
      return out;
    }
    const [out] = await this.call('globalOperations.wait', (o) =>
      this.#operations.global.wait({ project: this.project, operation: name }, long(o)),
    );
    return out;
  }

  /** Every item of a list, one counted call per page. */
  async list<T>(
    operation: string,
    page: (pageToken: string | undefined, options: CallOptions) => Promise<[T[], { pageToken?: string | null } | null, ...unknown[]]>,
  ): Promise<T[]> {
    const items: T[] = [];
    let token: string | undefined;
    do {
      const [pageItems, next] = await this.call(operation, (o) => page(token, { ...o, autoPaginate: false }));
      items.push(...pageItems);
      token = next?.pageToken ?? undefined;
    } while (token);
    return items;
  }

  async close(): Promise<void> {
    await Promise.all([...Object.values(this.clients), ...Object.values(this.#operations)].map((c) => c.close()));
  }
}
