// Throttling and 5xx injected between the provider and moto: the provider backs off, converges, and leaves
// nothing behind.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ProviderError } from '../../src/providers/provider.ts';
import { account, clients, createVpc, makeProvider, targetsOf, useTestCredentials, type TestProvider, type TestVpc } from '../fakes/aws-cloud.ts';
import { AwsFaultProxy } from '../fakes/aws-fault-proxy.ts';
import { startMoto, type Moto } from '../fakes/aws-moto.ts';
import { desiredService, node, tcp } from '../fakes/aws-service.ts';

useTestCredentials();

async function outcomes(registry: TestProvider['registry']): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric('service_lb_aws_api_calls_total');
  const byKey = new Map<string, number>();
  for (const v of (await metric!.get()).values) byKey.set(`${v.labels['operation']}/${v.labels['outcome']}`, v.value);
  return byKey;
}

describe('aws provider under throttling and 5xx', () => {
  let moto: Moto;
  let proxy: AwsFaultProxy;
  let elb: ElasticLoadBalancingV2Client;
  let ec2: EC2Client;
  let vpc: TestVpc;
  let aws: TestProvider;

  before(async () => {
    moto = await startMoto();
    proxy = await AwsFaultProxy.start(moto.url);
    ({ elb, ec2 } = clients(moto.url));
  });
  after(async () => {
    await proxy?.stop();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    vpc = await createVpc(ec2);
    aws = makeProvider(proxy.url, vpc.vpcId);
    proxy.takeCalls();
  });
  afterEach(async () => {
    proxy.clearFaults();
    await aws.provider.stop();
  });

  test('faults within the retry budget: every call eventually succeeds, each resource exists once', async () => {
    proxy.inject('DescribeLoadBalancers', 'throttle', 2);
    proxy.inject('CreateSecurityGroup', 'throttle', 2); // EC2: 503 RequestLimitExceeded
    proxy.inject('AuthorizeSecurityGroupIngress', 'server-error', 1);
    proxy.inject('CreateLoadBalancer', 'throttle', 3);
    proxy.inject('CreateTargetGroup', 'server-error', 2); // ELBv2: 503 ServiceUnavailable
    proxy.inject('RegisterTargets', 'throttle', 1);
    proxy.inject('CreateListener', 'server-error', 3);
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    await aws.provider.ensure(svc);

    const a = await account(elb, ec2, vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(a.targetGroups.length, 2);
    assert.equal(a.securityGroups.length, 1);
    assert.equal(a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.length, 2);
    for (const tg of a.targetGroups) assert.equal((await targetsOf(elb, tg.TargetGroupArn!)).length, 2);

    const o = await outcomes(aws.registry);
    assert.equal(o.get('CreateLoadBalancer/throttled'), 3);
    assert.equal(o.get('CreateLoadBalancer/success'), 1);
    assert.equal(o.get('CreateSecurityGroup/throttled'), 2);
    assert.equal(o.get('AuthorizeSecurityGroupIngress/server_error'), 1);
    assert.equal(o.get('CreateTargetGroup/server_error'), 2);
    assert.equal(o.get('CreateTargetGroup/success'), 2);
    assert.equal(o.get('CreateListener/server_error'), 3);
    assert.equal(o.get('CreateListener/success'), 2);
    assert.ok(proxy.calls.some((c) => c.injected === 'throttle' && c.service === 'ec2' && c.status === 503));
  });

  test('faults beyond the retry budget: a retryable error, then the next sync converges without duplicates', async () => {
    const svc = desiredService();
    proxy.inject('RegisterTargets', 'server-error', 50);
    await assert.rejects(aws.provider.ensure(svc), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.retryable, true);
      assert.match(err.message, /ServiceUnavailable/);
      return true;
    });
    proxy.clearFaults();
    await aws.provider.ensure(svc);
    const a = await account(elb, ec2, vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(a.targetGroups.length, 1);
    assert.equal(a.securityGroups.length, 1);
    assert.deepEqual(await targetsOf(elb, a.targetGroups[0]!.TargetGroupArn!), ['10.0.1.11:30080', '10.0.2.12:30080']);
  });

  test('throttled host updates and deletes still converge and leak nothing', async () => {
    const svc = desiredService();
    await aws.provider.ensure(svc);
    proxy.inject('DescribeTargetHealth', 'throttle', 2);
    proxy.inject('DeregisterTargets', 'throttle', 2);
    proxy.inject('RegisterTargets', 'server-error', 2);
    await aws.provider.updateTargets({ ...svc, targets: [node('n2', '10.0.2.12'), node('n3', '10.0.3.13')] });
    const tg = (await account(elb, ec2, vpc.vpcId)).targetGroups[0]!;
    assert.deepEqual(await targetsOf(elb, tg.TargetGroupArn!), ['10.0.2.12:30080', '10.0.3.13:30080']);

    proxy.inject('DeleteListener', 'throttle', 1);
    proxy.inject('DeleteLoadBalancer', 'server-error', 2);
    proxy.inject('DeleteTargetGroup', 'throttle', 3);
    proxy.inject('DeleteSecurityGroup', 'server-error', 2);
    await aws.provider.delete(svc.identity);
    const a = await account(elb, ec2, vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
  });

  test('a delete interrupted at every step in turn is finished by the next delete', async () => {
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    for (const step of ['DeleteListener', 'DeleteLoadBalancer', 'DeleteTargetGroup', 'DeleteSecurityGroup']) {
      await aws.provider.ensure(svc);
      proxy.inject(step, 'server-error', 50);
      await assert.rejects(aws.provider.delete(svc.identity), (err: unknown) => err instanceof ProviderError && err.retryable);
      proxy.clearFaults();
      const restarted = makeProvider(proxy.url, vpc.vpcId);
      await restarted.provider.delete(svc.identity);
      await restarted.provider.stop();
      const a = await account(elb, ec2, vpc.vpcId);
      assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0, `after failing at ${step}`);
    }
  });
});
