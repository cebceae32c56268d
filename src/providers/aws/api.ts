// The one place every AWS call goes through: rate budget, retries with backoff and jitter, metrics, logs.
// The SDK clients make exactly one attempt each (maxAttempts: 1), so a retry is always visible here.

import { EC2Client, type ServiceInputTypes as Ec2In, type ServiceOutputTypes as Ec2Out } from '@aws-sdk/client-ec2';
import {
  ElasticLoadBalancingClient,
  type ServiceInputTypes as ClassicIn,
  type ServiceOutputTypes as ClassicOut,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  ElasticLoadBalancingV2Client,
  type ServiceInputTypes as ElbIn,
  type ServiceOutputTypes as ElbOut,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import pRetry from 'p-retry';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { AwsProviderConfig } from './config.ts';
import { classifyFailure, errorName, isNotFound, isRetryableFailure } from './errors.ts';
import { RateBudget } from '../rate-budget.ts';

type ElbCommand<I extends ElbIn, O extends ElbOut> = Parameters<typeof ElasticLoadBalancingV2Client.prototype.send<I, O>>[0];
type Ec2Command<I extends Ec2In, O extends Ec2Out> = Parameters<typeof EC2Client.prototype.send<I, O>>[0];
type ClassicCommand<I extends ClassicIn, O extends ClassicOut> = Parameters<typeof ElasticLoadBalancingClient.prototype.send<I, O>>[0];

/** elb: the Classic ELB API (2012-06-01), read only, to find what cloud-provider-aws left behind. */
export type AwsService = 'elbv2' | 'ec2' | 'elb';

export interface AwsApiDeps {
  registry: Registry;
  logger: Logger;
}

function counter(registry: Registry): Counter<'service' | 'operation' | 'outcome'> {
  const name = 'service_lb_aws_api_calls_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'service' | 'operation' | 'outcome'>;
  return new Counter({
    name,
    help: 'AWS API calls (every attempt) by service, operation and outcome (success, not_found, throttled, server_error, network_error, client_error).',
    labelNames: ['service', 'operation', 'outcome'],
    registers: [registry],
  });
}

function histogram(registry: Registry): Histogram<'service' | 'operation'> {
  const name = 'service_lb_aws_api_call_duration_seconds';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<'service' | 'operation'>;
  return new Histogram({
    name,
    help: 'Duration of one AWS API call attempt, excluding time spent waiting for the rate budget.',
    labelNames: ['service', 'operation'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
}

/** The command class name without "Command" is the AWS operation name. */
function operationOf(command: object): string {
  return command.constructor.name.replace(/Command$/, '');
}

export class AwsApi {
  readonly #elb: ElasticLoadBalancingV2Client;
  readonly #ec2: EC2Client;
  readonly #classic: ElasticLoadBalancingClient;
  readonly #budget: RateBudget;
  readonly #config: AwsProviderConfig;
  readonly #logger: Logger;
  readonly #calls: Counter<'service' | 'operation' | 'outcome'>;
  readonly #duration: Histogram<'service' | 'operation'>;

  constructor(config: AwsProviderConfig, deps: AwsApiDeps) {
    const common = {
      region: config.region,
      maxAttempts: 1,
      requestHandler: {
        requestTimeout: config.requestTimeoutMs,
        throwOnRequestTimeout: true,
        connectionTimeout: Math.min(config.requestTimeoutMs, 5_000),
      },
    };
    // Credentials come from the SDK's default chain (env, shared files, web identity, IMDS).
    this.#elb = new ElasticLoadBalancingV2Client({ ...common, ...(config.endpoints.elbv2 ? { endpoint: config.endpoints.elbv2 } : {}) });
    this.#ec2 = new EC2Client({ ...common, ...(config.endpoints.ec2 ? { endpoint: config.endpoints.ec2 } : {}) });
    // AWS serves both Elastic Load Balancing APIs at one endpoint (elasticloadbalancing.<region>), told apart by Version.
    this.#classic = new ElasticLoadBalancingClient({ ...common, ...(config.endpoints.elbv2 ? { endpoint: config.endpoints.elbv2 } : {}) });
    this.#budget = new RateBudget(config.callsPerSecond);
    this.#config = config;
    this.#logger = deps.logger;
    this.#calls = counter(deps.registry);
    this.#duration = histogram(deps.registry);
  }

  elb<I extends ElbIn, O extends ElbOut>(command: ElbCommand<I, O>): Promise<O> {
    return this.#call('elbv2', operationOf(command), () => this.#elb.send(command));
  }

  ec2<I extends Ec2In, O extends Ec2Out>(command: Ec2Command<I, O>): Promise<O> {
    return this.#call('ec2', operationOf(command), () => this.#ec2.send(command));
  }

  classicElb<I extends ClassicIn, O extends ClassicOut>(command: ClassicCommand<I, O>): Promise<O> {
    return this.#call('elb', operationOf(command), () => this.#classic.send(command));
  }

  destroy(): void {
    this.#elb.destroy();
    this.#ec2.destroy();
    this.#classic.destroy();
  }

  async #call<T>(service: AwsService, operation: string, send: () => Promise<T>): Promise<T> {
    return pRetry(
      async () => {
        await this.#budget.acquire();
        const stop = this.#duration.startTimer({ service, operation });
        try {
          const out = await send();
          this.#calls.inc({ service, operation, outcome: 'success' });
          return out;
        } catch (err) {
          const outcome = classifyFailure(err);
          this.#calls.inc({ service, operation, outcome: outcome === 'client_error' && isNotFound(err) ? 'not_found' : outcome });
          if (outcome === 'throttled') this.#budget.backOff();
          throw err;
        } finally {
          stop();
        }
      },
      {
        retries: this.#config.maxRetries,
        factor: 2,
        minTimeout: this.#config.retryBaseDelayMs,
        maxTimeout: this.#config.retryMaxDelayMs,
        randomize: true,
        shouldRetry: ({ error }) => isRetryableFailure(classifyFailure(error)),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
          const kind = classifyFailure(error);
          if (!isRetryableFailure(kind) || retriesLeft === 0) return;
          this.#logger.warn(
            { api: service, operation, attempt: attemptNumber, error: errorName(error), retryInMs: retryDelay },
            'AWS call failed, retrying',
          );
        },
      },
    );
  }
}
