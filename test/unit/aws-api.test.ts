// The call wrapper against a local socket: what is retried, what is not, and what is counted.

import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AwsApi } from '../../src/providers/aws/api.ts';
import { awsProviderConfigSchema } from '../../src/providers/aws/config.ts';
import { toProviderError } from '../../src/providers/aws/errors.ts';
import { useTestCredentials } from '../fakes/aws-cloud.ts';

useTestCredentials();

const ELB_NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const OK = `<DescribeLoadBalancersResponse xmlns="${ELB_NS}"><DescribeLoadBalancersResult><LoadBalancers><member><LoadBalancerName>lb</LoadBalancerName><DNSName>lb.example</DNSName></member></LoadBalancers></DescribeLoadBalancersResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>`;
const error = (code: string) =>
  `<ErrorResponse xmlns="${ELB_NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>m</Message></Error><RequestId>1</RequestId></ErrorResponse>`;

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

function api(endpoint: string, registry: Registry, overrides: Record<string, unknown> = {}): AwsApi {
  const config = awsProviderConfigSchema.parse({
    region: 'us-east-1',
    endpoints: { elbv2: endpoint },
    vpcId: 'vpc-1',
    maxRetries: 3,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    callsPerSecond: 1000,
    ...overrides,
  });
  return new AwsApi(config, { registry, logger: pino({ level: 'silent' }) });
}

async function outcomes(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('service_lb_aws_api_calls_total');
  return Object.fromEntries((await metric!.get()).values.map((v) => [String(v.labels['outcome']), v.value]));
}

describe('aws call wrapper', () => {
  const servers: Array<{ close(): unknown }> = [];
  after(() => servers.forEach((s) => s.close()));

  test('throttling and 5xx are retried with backoff, then the answer is parsed; every attempt is counted', async () => {
    const answers = [
      [400, error('Throttling')],
      [503, error('ServiceUnavailable')],
      [200, OK],
    ] as const;
    let i = 0;
    const server = createHttpServer((req, res) => {
      req.resume().on('end', () => {
        const [status, body] = answers[Math.min(i++, answers.length - 1)]!;
        res.writeHead(status, { 'content-type': 'text/xml' }).end(body);
      });
    });
    servers.push(server);
    const registry = new Registry();
    const out = await api(await listen(server), registry).elb(new DescribeLoadBalancersCommand({}));
    assert.equal(out.LoadBalancers?.[0]?.DNSName, 'lb.example');
    assert.deepEqual(await outcomes(registry), { throttled: 1, server_error: 1, success: 1 });
  });

  for (const [code, outcome] of [
    ['ValidationError', 'client_error'],
    ['LoadBalancerNotFound', 'not_found'],
  ] as const) {
    test(`a request mistake (${code}) is not retried, keeps its AWS name, and counts as ${outcome}`, async () => {
      let calls = 0;
      const server = createHttpServer((req, res) => {
        calls++;
        req.resume().on('end', () => res.writeHead(400, { 'content-type': 'text/xml' }).end(error(code)));
      });
      servers.push(server);
      const registry = new Registry();
      await assert.rejects(api(await listen(server), registry).elb(new DescribeLoadBalancersCommand({ Names: ['x'] })), (err: Error) => {
        assert.match(err.name, new RegExp(`^${code}`));
        assert.equal(toProviderError(err, 'ctx').retryable, false);
        return true;
      });
      assert.equal(calls, 1);
      assert.deepEqual(await outcomes(registry), { [outcome]: 1 });
    });
  }

  test('a server that never answers times out, is retried, and ends as a retryable error', async () => {
    const blackHole = createTcpServer(() => {});
    servers.push(blackHole);
    const registry = new Registry();
    await assert.rejects(
      api(await listen(blackHole), registry, { requestTimeoutMs: 200, maxRetries: 1 }).elb(new DescribeLoadBalancersCommand({})),
      (err: Error) => {
        assert.equal(toProviderError(err, 'ctx').retryable, true);
        return true;
      },
    );
    assert.deepEqual(await outcomes(registry), { network_error: 2 });
  });
});
