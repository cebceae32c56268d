// Strict parsing of the aws-load-balancer-* annotations: defaults, lists, booleans, ranges, refusals.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import { MAX_QUOTED_CHARS } from '../../src/error-message.ts';
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
    assert.deepEqual(o, {
      additionalTags: {},
      targetGroupAttributes: {},
      proxyProtocol: false,
      healthCheck: {},
      type: 'nlb',
      targetType: 'ip',
      ipAddressType: 'ipv4',
      loadBalancerAttributes: {},
      unsupported: [],
    });
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

  test('every other key under aws-load-balancer-* is listed as unsupported, by name', () => {
    const o = parseAwsAnnotations({
      'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout': '60',
      'service.beta.kubernetes.io/aws-load-balancer-quic-enabled-ports': '443',
      [Annotations.scheme]: 'internal',
      'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8',
    });
    assert.deepEqual(o.unsupported, [
      'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout',
      'service.beta.kubernetes.io/aws-load-balancer-quic-enabled-ports',
    ]);
  });

  test('type, name, target type, ip address type, private addresses', () => {
    assert.equal(parseAwsAnnotations({ [Annotations.type]: 'External' }).type, 'external');
    assert.equal(parseAwsAnnotations({ [Annotations.type]: 'nlb-ip' }).type, 'nlb-ip');
    rejects({ [Annotations.type]: 'classic' }, Annotations.type);
    assert.equal(parseAwsAnnotations({ [Annotations.name]: 'my-lb-1' }).name, 'my-lb-1');
    rejects({ [Annotations.name]: '-x' }, Annotations.name);
    rejects({ [Annotations.name]: 'a'.repeat(33) }, Annotations.name);
    rejects({ [Annotations.name]: 'internal-x' }, Annotations.name);
    assert.equal(parseAwsAnnotations({ [Annotations.targetType]: 'instance' }).targetType, 'instance');
    rejects({ [Annotations.targetType]: 'pod' }, Annotations.targetType);
    assert.equal(parseAwsAnnotations({ [Annotations.ipAddressType]: 'dualstack' }).ipAddressType, 'dualstack');
    rejects({ [Annotations.ipAddressType]: 'ipv6' }, Annotations.ipAddressType);
    assert.deepEqual(parseAwsAnnotations({ [Annotations.privateIpv4Addresses]: '10.0.3.10, 10.0.4.10' }).privateIpv4Addresses, [
      '10.0.3.10',
      '10.0.4.10',
    ]);
    rejects({ [Annotations.privateIpv4Addresses]: '10.0.3.10,fd00::1' }, Annotations.privateIpv4Addresses);
    assert.deepEqual(parseAwsAnnotations({ [Annotations.targetNodeLabels]: 'role=edge, zone=a' }).targetNodeLabels, {
      role: 'edge',
      zone: 'a',
    });
    // As cloud-provider-aws: "key" and "key=" ask for the label with any value.
    assert.deepEqual(
      parseAwsAnnotations({ [Annotations.targetNodeLabels]: 'node-role.kubernetes.io/edge, example.com/pool=' }).targetNodeLabels,
      { 'node-role.kubernetes.io/edge': '', 'example.com/pool': '' },
    );
    rejects({ [Annotations.targetNodeLabels]: 'role=edge,,zone=a' }, Annotations.targetNodeLabels);
    rejects({ [Annotations.targetNodeLabels]: 'bad key=x' }, Annotations.targetNodeLabels);
    rejects({ [Annotations.targetNodeLabels]: 'Example.com/pool=x' }, Annotations.targetNodeLabels);
    rejects({ [Annotations.targetNodeLabels]: 'role=edge node' }, Annotations.targetNodeLabels);
    rejects({ [Annotations.targetNodeLabels]: `role=${'x'.repeat(64)}` }, Annotations.targetNodeLabels);
  });

  test('TLS: certificates, ports, policies, backend protocol', () => {
    const cert = 'arn:aws:acm:us-east-1:123456789012:certificate/abc';
    const o = parseAwsAnnotations({
      [Annotations.sslCert]: `${cert}, arn:aws:iam::123456789012:server-certificate/extra`,
      [Annotations.sslPorts]: 'https, 8443',
      [Annotations.alpnPolicy]: 'http2preferred',
      [Annotations.backendProtocol]: 'ssl',
    });
    assert.deepEqual(o.tls, {
      certificates: [cert, 'arn:aws:iam::123456789012:server-certificate/extra'],
      ports: ['https', '8443'],
      sslPolicy: 'ELBSecurityPolicy-2016-08',
      alpnPolicy: 'HTTP2Preferred',
      backendTls: true,
    });
    rejects({ [Annotations.sslCert]: 'not-an-arn' }, Annotations.sslCert);
    rejects({ [Annotations.sslPorts]: '443' }, Annotations.sslPorts);
    rejects({ [Annotations.sslCert]: cert, [Annotations.alpnPolicy]: 'h3' }, Annotations.alpnPolicy);
    rejects({ [Annotations.sslCert]: cert, [Annotations.backendProtocol]: 'http' }, Annotations.backendProtocol);
    rejects({ [Annotations.backendProtocol]: 'ssl' }, Annotations.backendProtocol);
  });

  test('load balancer attributes: the map, then the access-log annotations on top', () => {
    const o = parseAwsAnnotations({
      [Annotations.attributes]: 'deletion_protection.enabled=true,access_logs.s3.enabled=false,access_logs.s3.bucket=old-bucket',
      [Annotations.accessLogEnabled]: 'true',
      [Annotations.accessLogBucket]: 'logs-bucket',
      [Annotations.accessLogPrefix]: 'svc',
      [Annotations.accessLogEmitInterval]: '5',
    });
    assert.deepEqual(o.loadBalancerAttributes, {
      'deletion_protection.enabled': 'true',
      'access_logs.s3.enabled': 'true',
      'access_logs.s3.bucket': 'logs-bucket',
      'access_logs.s3.prefix': 'svc',
    });
    rejects({ [Annotations.attributes]: 'idle_timeout.timeout_seconds=60' }, Annotations.attributes);
    rejects({ [Annotations.attributes]: 'deletion_protection.enabled=yes' }, Annotations.attributes);
    rejects({ [Annotations.accessLogEnabled]: 'true' }, Annotations.accessLogEnabled);
    rejects({ [Annotations.accessLogEmitInterval]: '10' }, Annotations.accessLogEmitInterval);
  });

  test('security groups, backend rules, a named health check port', () => {
    const o = parseAwsAnnotations({
      [Annotations.securityGroups]: 'sg-0abc, frontend',
      [Annotations.manageBackendRules]: 'false',
      [Annotations.healthCheckPort]: 'health',
    });
    assert.deepEqual(o.securityGroups, ['sg-0abc', 'frontend']);
    assert.equal(o.manageBackendRules, false);
    assert.equal(o.healthCheck.port, 'health');
    rejects({ [Annotations.manageBackendRules]: 'maybe' }, Annotations.manageBackendRules);
  });

  test('a 20 KB bad value is quoted cut short in the error, with its size: every key', () => {
    const huge = '!'.repeat(20_000);
    // Lists of names, checked against AWS later (network.ts quotes them the same way).
    const checkedLater: string[] = [Annotations.subnets, Annotations.securityGroups];
    let quoted = 0;
    for (const key of Object.values(Annotations)) {
      if (checkedLater.includes(key)) continue;
      const err = rejects({ [key]: huge }, key);
      assert.ok(err.message.length < MAX_QUOTED_CHARS + 400, `${key}: ${err.message.length} characters`);
      assert.ok(!err.message.includes('!'.repeat(MAX_QUOTED_CHARS + 1)), `${key} quotes more than ${MAX_QUOTED_CHARS} characters`);
      if (err.message.includes('…(20000 bytes)')) quoted++;
    }
    // Most errors quote the value (the rest only say which other annotation is missing).
    assert.ok(quoted >= 25, `${quoted} errors quote the value`);
    const scheme = rejects({ [Annotations.scheme]: 'internal', [Annotations.internal]: `false${huge}` }, Annotations.internal);
    assert.ok(scheme.message.length < MAX_QUOTED_CHARS + 400);
    for (const [key, value] of [
      [Annotations.attributes, `${huge}=1`],
      [Annotations.attributes, `deletion_protection.enabled=${huge}`],
      [Annotations.targetGroupAttributes, `${huge}=1`],
      [Annotations.additionalTags, `kubernetes.io/cluster/${huge}=x`],
    ] as const) {
      const err = rejects({ [key]: value }, key);
      // The known keys these errors list are a fixed few hundred characters.
      assert.ok(err.message.length < MAX_QUOTED_CHARS + 1000, `${key} ${value.slice(0, 30)}: ${err.message.length} characters`);
      assert.ok(err.message.includes('…(20'), err.message.slice(0, 300));
    }
  });
});
