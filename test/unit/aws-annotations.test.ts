// Strict parsing of the aws-load-balancer-* annotations: defaults, lists, booleans, ranges, refusals.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import { Annotations, parseAwsAnnotations } from '../../src/providers/aws/annotations.ts';

function rejects(annotations: Record<string, string>, annotation: string): ProviderError {
  try {
    parseAwsAnnotations(annotations);
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
    assert.equal(err.retryable, false);
    assert.ok(err.message.includes(annotation), `message "${err.message}" should name ${annotation}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(annotations)} to be rejected`);
}

describe('aws annotations', () => {
  test('no annotations: defaults only', () => {
    const o = parseAwsAnnotations({ 'example.com/other': 'x' });
    assert.deepEqual(o, { additionalTags: {}, targetGroupAttributes: {}, proxyProtocol: false, healthCheck: {} });
  });

  test('scheme and the legacy internal annotation', () => {
    assert.equal(parseAwsAnnotations({ [Annotations.scheme]: 'internal' }).scheme, 'internal');
    assert.equal(parseAwsAnnotations({ [Annotations.scheme]: 'Internet-Facing' }).scheme, 'internet-facing');
    assert.equal(parseAwsAnnotations({ [Annotations.internal]: 'true' }).scheme, 'internal');
    assert.equal(parseAwsAnnotations({ [Annotations.internal]: '0.0.0.0/0' }).scheme, 'internal');
    assert.equal(parseAwsAnnotations({ [Annotations.internal]: 'false' }).scheme, 'internet-facing');
    rejects({ [Annotations.scheme]: 'public' }, Annotations.scheme);
    rejects({ [Annotations.internal]: 'yes please' }, Annotations.internal);
    rejects({ [Annotations.scheme]: 'internet-facing', [Annotations.internal]: 'true' }, Annotations.internal);
  });

  test('subnets and EIP allocations are lists', () => {
    const o = parseAwsAnnotations({
      [Annotations.subnets]: 'subnet-1, public-a',
      [Annotations.eipAllocations]: 'eipalloc-0a1,eipalloc-0b2',
    });
    assert.deepEqual(o.subnets, ['subnet-1', 'public-a']);
    assert.deepEqual(o.eipAllocations, ['eipalloc-0a1', 'eipalloc-0b2']);
    rejects({ [Annotations.subnets]: 'subnet-1,,subnet-2' }, Annotations.subnets);
    rejects({ [Annotations.eipAllocations]: 'eipalloc-1,10.0.0.1' }, Annotations.eipAllocations);
  });

  test('cross-zone is a boolean', () => {
    assert.equal(parseAwsAnnotations({ [Annotations.crossZone]: 'TRUE' }).crossZone, true);
    assert.equal(parseAwsAnnotations({ [Annotations.crossZone]: 'false' }).crossZone, false);
    rejects({ [Annotations.crossZone]: 'on' }, Annotations.crossZone);
  });

  test('additional tags: key=value pairs, ownership keys reserved', () => {
    assert.deepEqual(parseAwsAnnotations({ [Annotations.additionalTags]: 'team=web, cost-center = 42' }).additionalTags, {
      team: 'web',
      'cost-center': '42',
    });
    rejects({ [Annotations.additionalTags]: 'team' }, Annotations.additionalTags);
    rejects({ [Annotations.additionalTags]: 'kubernetes.io/service-uid=x' }, Annotations.additionalTags);
    rejects({ [Annotations.additionalTags]: 'kubernetes.io/cluster/other=owned' }, Annotations.additionalTags);
    rejects({ [Annotations.additionalTags]: `k=${'v'.repeat(257)}` }, Annotations.additionalTags);
  });

  test('target group attributes: known keys with valid values only', () => {
    const o = parseAwsAnnotations({
      [Annotations.targetGroupAttributes]: 'deregistration_delay.timeout_seconds=30,preserve_client_ip.enabled=true',
    });
    assert.deepEqual(o.targetGroupAttributes, { 'deregistration_delay.timeout_seconds': '30', 'preserve_client_ip.enabled': 'true' });
    const unknown = rejects({ [Annotations.targetGroupAttributes]: 'slow_start.duration_seconds=30' }, Annotations.targetGroupAttributes);
    assert.match(unknown.message, /unknown target group attribute "slow_start.duration_seconds"/);
    rejects({ [Annotations.targetGroupAttributes]: 'deregistration_delay.timeout_seconds=forever' }, Annotations.targetGroupAttributes);
    rejects({ [Annotations.targetGroupAttributes]: 'stickiness.type=lb_cookie' }, Annotations.targetGroupAttributes);
  });

  test('proxy protocol only as "*"', () => {
    assert.equal(parseAwsAnnotations({ [Annotations.proxyProtocol]: '*' }).proxyProtocol, true);
    rejects({ [Annotations.proxyProtocol]: 'v2' }, Annotations.proxyProtocol);
  });

  test('health check overrides are range-checked', () => {
    const o = parseAwsAnnotations({
      [Annotations.healthCheckProtocol]: 'http',
      [Annotations.healthCheckPort]: '8080',
      [Annotations.healthCheckPath]: '/ready',
      [Annotations.healthCheckInterval]: '30',
      [Annotations.healthCheckTimeout]: '5',
      [Annotations.healthCheckHealthyThreshold]: '2',
      [Annotations.healthCheckUnhealthyThreshold]: '4',
      [Annotations.healthCheckSuccessCodes]: '200-299,302',
    });
    assert.deepEqual(o.healthCheck, {
      protocol: 'HTTP',
      port: '8080',
      path: '/ready',
      intervalSeconds: 30,
      timeoutSeconds: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 4,
      matcher: '200-299,302',
    });
    assert.equal(parseAwsAnnotations({ [Annotations.healthCheckPort]: 'traffic-port' }).healthCheck.port, 'traffic-port');
    rejects({ [Annotations.healthCheckProtocol]: 'ICMP' }, Annotations.healthCheckProtocol);
    rejects({ [Annotations.healthCheckPort]: '70000' }, Annotations.healthCheckPort);
    rejects({ [Annotations.healthCheckPath]: 'healthz' }, Annotations.healthCheckPath);
    rejects({ [Annotations.healthCheckInterval]: '1' }, Annotations.healthCheckInterval);
    rejects({ [Annotations.healthCheckTimeout]: '2s' }, Annotations.healthCheckTimeout);
    rejects({ [Annotations.healthCheckHealthyThreshold]: '11' }, Annotations.healthCheckHealthyThreshold);
    rejects({ [Annotations.healthCheckUnhealthyThreshold]: '1' }, Annotations.healthCheckUnhealthyThreshold);
    rejects({ [Annotations.healthCheckSuccessCodes]: 'ok' }, Annotations.healthCheckSuccessCodes);
  });
});
