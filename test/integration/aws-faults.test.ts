// Throttling and 5xx injected between the provider and moto: the provider backs off, converges, and leaves
// nothing behind.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import { account, makeProvider, targetsOf, useTestCredentials, type TestProvider } from '../fakes/aws-cloud.ts';
import { desiredService, node, tcp } from '../fakes/aws-service.ts';
import { useMotoSuite } from '../fakes/aws-suite.ts';

useTestCredentials();

async function outcomes(registry: TestProvider['registry']): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric('service_lb_aws_api_calls_total');
  const byKey = new Map<string, number>();
  for (const v of (await metric!.get()).values) byKey.set(`${v.labels['operation']}/${v.labels['outcome']}`, v.value);
  return byKey;
}

describe('aws provider under throttling and 5xx', () => {
  const cloud = useMotoSuite({ startProvider: false });

  test('faults within the retry budget: every call eventually succeeds, each resource exists once', async () => {
    cloud.proxy.inject('DescribeLoadBalancers', 'throttle', 2);
    cloud.proxy.inject('CreateSecurityGroup', 'throttle', 2); // EC2: 503 RequestLimitExceeded
    cloud.proxy.inject('AuthorizeSecurityGroupIngress', 'server-error', 1);
    cloud.proxy.inject('CreateLoadBalancer', 'throttle', 3);
    cloud.proxy.inject('CreateTargetGroup', 'server-error', 2); // ELBv2: 503 ServiceUnavailable
    cloud.proxy.inject('RegisterTargets', 'throttle', 1);
    cloud.proxy.inject('CreateListener', 'server-error', 3);
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    await cloud.aws.provider.ensure(svc);

    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(a.targetGroups.length, 2);
    assert.equal(a.securityGroups.length, 1);
    assert.equal(a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.length, 2);
    for (const tg of a.targetGroups) assert.equal((await targetsOf(cloud.elb, tg.TargetGroupArn!)).length, 2);

    const o = await outcomes(cloud.aws.registry);
    assert.equal(o.get('CreateLoadBalancer/throttled'), 3);
    assert.equal(o.get('CreateLoadBalancer/success'), 1);
    assert.equal(o.get('CreateSecurityGroup/throttled'), 2);
    assert.equal(o.get('AuthorizeSecurityGroupIngress/server_error'), 1);
    assert.equal(o.get('CreateTargetGroup/server_error'), 2);
    assert.equal(o.get('CreateTargetGroup/success'), 2);
    assert.equal(o.get('CreateListener/server_error'), 3);
    assert.equal(o.get('CreateListener/success'), 2);
    assert.ok(cloud.proxy.calls.some((c) => c.injected === 'throttle' && c.service === 'ec2' && c.status === 503));
  });

  test('faults beyond the retry budget: a retryable error, then the next sync converges without duplicates', async () => {
    const svc = desiredService();
    cloud.proxy.inject('RegisterTargets', 'server-error', 50);
    await assert.rejects(cloud.aws.provider.ensure(svc), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.retryable, true);
      assert.match(err.message, /ServiceUnavailable/);
      return true;
    });
    cloud.proxy.clearFaults();
    await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(a.targetGroups.length, 1);
    assert.equal(a.securityGroups.length, 1);
    assert.deepEqual(await targetsOf(cloud.elb, a.targetGroups[0]!.TargetGroupArn!), ['10.0.1.11:30080', '10.0.2.12:30080']);
  });

  test('throttled host updates and deletes still converge and leak nothing', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    cloud.proxy.inject('DescribeTargetHealth', 'throttle', 2);
    cloud.proxy.inject('DeregisterTargets', 'throttle', 2);
    cloud.proxy.inject('RegisterTargets', 'server-error', 2);
    await cloud.aws.provider.updateTargets({ ...svc, targets: [node('n2', '10.0.2.12'), node('n3', '10.0.3.13')] });
    const tg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups[0]!;
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.2.12:30080', '10.0.3.13:30080']);

    cloud.proxy.inject('DeleteListener', 'throttle', 1);
    cloud.proxy.inject('DeleteLoadBalancer', 'server-error', 2);
    cloud.proxy.inject('DeleteTargetGroup', 'throttle', 3);
    cloud.proxy.inject('DeleteSecurityGroup', 'server-error', 2);
    await cloud.aws.provider.delete(svc.identity);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
  });

  test('a delete interrupted at every step in turn is finished by the next delete', async () => {
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    for (const step of ['DeleteListener', 'DeleteLoadBalancer', 'DeleteTargetGroup', 'DeleteSecurityGroup']) {
      await cloud.aws.provider.ensure(svc);
      cloud.proxy.inject(step, 'server-error', 50);
      await assert.rejects(cloud.aws.provider.delete(svc.identity), (err: unknown) => err instanceof ProviderError && err.retryable);
      cloud.proxy.clearFaults();
      const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
      await restarted.provider.delete(svc.identity);
      await restarted.provider.stop();
      const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0, `after failing at ${step}`);
    }
  });
});
