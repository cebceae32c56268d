// The AWS provider against moto_server, through the provider contract.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProviderError } from '../../src/providers/provider.ts';
import {
  account,
  allocateEip,
  callCounts,
  createClassicElb,
  isWrite,
  makeProvider,
  tagsOf,
  targetsOf,
  useTestCredentials,
} from '../fakes/aws-cloud.ts';
import { desiredService, node, tcp, udp } from '../fakes/aws-service.ts';
import { useMotoSuite } from '../fakes/aws-suite.ts';

useTestCredentials();

describe('aws provider against moto', () => {
  const cloud = useMotoSuite({ startProvider: true });

  test('create: NLB, SG, ip target group on the NodePort, listener; hostname in status', async () => {
    const svc = desiredService({ name: 'web', namespace: 'shop' });
    const ingress = await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    const lb = a.loadBalancers[0]!;
    assert.deepEqual(ingress, [{ hostname: lb.DNSName }]);
    assert.equal(lb.LoadBalancerName, svc.identity.lbName);
    assert.equal(lb.Type, 'network');
    assert.equal(lb.Scheme, 'internet-facing');
    assert.deepEqual(lb.AvailabilityZones!.map((z) => z.SubnetId).sort(), [...cloud.vpc.publicSubnets].sort());
    assert.deepEqual(await tagsOf(cloud.elb, lb.LoadBalancerArn!), {
      'kubernetes.io/cluster/test': 'owned',
      'kubernetes.io/service-name': 'shop/web',
      'kubernetes.io/service-uid': svc.identity.uid,
    });
    assert.equal(a.securityGroups.length, 1);
    assert.deepEqual(lb.SecurityGroups, [a.securityGroups[0]!.id]);
    assert.deepEqual(a.securityGroups[0]!.rules, [{ protocol: 'tcp', port: 80, cidr: '0.0.0.0/0' }]);
    assert.equal(a.targetGroups.length, 1);
    const tg = a.targetGroups[0]!;
    assert.equal(tg.TargetType, 'ip');
    assert.equal(tg.Protocol, 'TCP');
    assert.equal(tg.Port, 30080);
    assert.equal(tg.HealthCheckProtocol, 'TCP');
    assert.equal(tg.HealthCheckPort, 'traffic-port');
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.1.11:30080', '10.0.2.12:30080']);
    const listeners = a.listeners.get(lb.LoadBalancerArn!)!;
    assert.deepEqual(
      listeners.map((l) => [l.Port, l.Protocol, l.DefaultActions?.[0]?.TargetGroupArn]),
      [[80, 'TCP', tg.TargetGroupArn]],
    );
    const writes = cloud.proxy
      .takeCalls()
      .filter((c) => isWrite(c.action))
      .map((c) => c.action);
    assert.deepEqual(writes, [
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      'CreateLoadBalancer',
      'CreateTargetGroup',
      'RegisterTargets',
      'CreateListener',
    ]);
  });

  test('steady state: an unchanged resync is one read and no write; drift behind our back is repaired', async () => {
    const svc = desiredService();
    const ingress = await cloud.aws.provider.ensure(svc);
    cloud.proxy.takeCalls();
    assert.deepEqual(await cloud.aws.provider.ensure(svc), ingress);
    assert.deepEqual(
      cloud.proxy.takeCalls().map((c) => c.action),
      ['DescribeListeners'],
    );

    const { loadBalancers, listeners } = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    const { DeleteListenerCommand, DeleteLoadBalancerCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
    await cloud.elb.send(new DeleteListenerCommand({ ListenerArn: listeners.get(loadBalancers[0]!.LoadBalancerArn!)![0]!.ListenerArn! }));
    await cloud.aws.provider.ensure(svc);
    let a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.length, 1, 'listener recreated');

    await cloud.elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: a.loadBalancers[0]!.LoadBalancerArn! }));
    const again = await cloud.aws.provider.ensure(svc);
    a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1, 'load balancer recreated');
    assert.deepEqual(again, [{ hostname: a.loadBalancers[0]!.DNSName }]);
    assert.equal(a.targetGroups.length, 1, 'the existing group is reused');
    assert.equal(a.securityGroups.length, 1);
  });

  test('port change with the same NodePort: listener moved, group kept, rules follow', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    const before = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    await cloud.aws.provider.ensure({ ...svc, listeners: [tcp(8080, 30080)] });
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(
      a.targetGroups.map((g) => g.TargetGroupArn),
      before.targetGroups.map((g) => g.TargetGroupArn),
    );
    assert.deepEqual(
      a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.map((l) => l.Port),
      [8080],
    );
    assert.deepEqual(a.securityGroups[0]!.rules, [{ protocol: 'tcp', port: 8080, cidr: '0.0.0.0/0' }]);
  });

  test('NodePort change: new group filled, listener switched, then the old group deleted', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    const oldArn = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups[0]!.TargetGroupArn!;
    cloud.proxy.takeCalls();
    await cloud.aws.provider.ensure({ ...svc, listeners: [tcp(80, 30099)] });
    const writes = cloud.proxy
      .takeCalls()
      .filter((c) => isWrite(c.action))
      .map((c) => c.action);
    assert.deepEqual(writes, ['CreateTargetGroup', 'RegisterTargets', 'ModifyListener', 'DeleteTargetGroup']);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.targetGroups.length, 1);
    const tg = a.targetGroups[0]!;
    assert.notEqual(tg.TargetGroupArn, oldArn);
    assert.equal(tg.Port, 30099);
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.1.11:30099', '10.0.2.12:30099']);
    assert.equal(a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)![0]!.DefaultActions![0]!.TargetGroupArn, tg.TargetGroupArn);
  });

  test('removed port: its listener, then its group, then its rule', async () => {
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    await cloud.aws.provider.ensure(svc);
    assert.equal((await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups.length, 2);
    cloud.proxy.takeCalls();
    await cloud.aws.provider.ensure({ ...svc, listeners: [tcp(80, 30080)] });
    const writes = cloud.proxy
      .takeCalls()
      .filter((c) => isWrite(c.action))
      .map((c) => c.action);
    assert.deepEqual(writes, ['DeleteListener', 'DeleteTargetGroup', 'RevokeSecurityGroupIngress']);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(
      a.targetGroups.map((g) => g.Port),
      [30080],
    );
    assert.deepEqual(
      a.securityGroups[0]!.rules.map((r) => r.port),
      [80],
    );
  });

  test('TCP and UDP on one port: one TCP_UDP listener and group', async () => {
    const svc = desiredService({ listeners: [tcp(53, 30053), { name: 'dns-udp', protocol: 'UDP', port: 53, nodePort: 30053 }] });
    await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(
      a.targetGroups.map((g) => [g.Protocol, g.Port]),
      [['TCP_UDP', 30053]],
    );
    assert.deepEqual(
      a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.map((l) => [l.Port, l.Protocol]),
      [[53, 'TCP_UDP']],
    );
    assert.deepEqual(a.securityGroups[0]!.rules.map((r) => `${r.protocol}/${r.port}`).sort(), ['tcp/53', 'udp/53']);
  });

  test('a port going from TCP to UDP, then a new nodePort on the UDP port: the listener changes in place', async () => {
    const svc = desiredService({ listeners: [tcp(53, 30053)] });
    await cloud.aws.provider.ensure(svc);
    const lbArn = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers[0]!.LoadBalancerArn!;
    const listenerArn = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).listeners.get(lbArn)![0]!.ListenerArn!;
    for (const [listeners, port] of [
      [[udp(53, 30053)], 30053],
      [[udp(53, 30054)], 30054],
    ] as const) {
      cloud.proxy.takeCalls();
      await cloud.aws.provider.ensure({ ...svc, listeners: [...listeners] });
      const calls = cloud.proxy.takeCalls();
      const rules =
        port === 30053 ? { first: ['AuthorizeSecurityGroupIngress'], last: ['RevokeSecurityGroupIngress'] } : { first: [], last: [] };
      assert.deepEqual(
        calls.filter((c) => isWrite(c.action)).map((c) => c.action),
        [...rules.first, 'CreateTargetGroup', 'RegisterTargets', 'ModifyListener', 'DeleteTargetGroup', ...rules.last],
      );
      const modify = calls.find((c) => c.action === 'ModifyListener')!;
      // Protocol is sent only when it changes (AWS keeps it otherwise).
      assert.equal(modify.params['Protocol'], port === 30053 ? 'UDP' : undefined);
      const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      const listener = a.listeners.get(lbArn)!;
      assert.equal(listener.length, 1);
      assert.equal(listener[0]!.ListenerArn, listenerArn, 'the same listener, changed in place');
      assert.equal(listener[0]!.Protocol, 'UDP');
      assert.deepEqual(
        a.targetGroups.map((g) => [g.Protocol, g.Port]),
        [['UDP', port]],
      );
      assert.equal(listener[0]!.DefaultActions![0]!.TargetGroupArn, a.targetGroups[0]!.TargetGroupArn);
    }
  });

  test('nodes added and removed: diffed against DescribeTargetHealth, deregister before register, 100 per call', async () => {
    const ip = (i: number) => `10.0.${1 + Math.floor(i / 200)}.${(i % 200) + 10}`;
    const svc = desiredService({ targets: Array.from({ length: 120 }, (_, i) => node(`n${i}`, ip(i))) });
    await cloud.aws.provider.ensure(svc);
    cloud.proxy.takeCalls();
    // Nodes 0-19 leave, 120-249 join.
    const next = { ...svc, targets: Array.from({ length: 230 }, (_, i) => node(`n${i + 20}`, ip(i + 20))) };
    await cloud.aws.provider.updateTargets(next);
    const calls = cloud.proxy.takeCalls().map((c) => c.action);
    assert.deepEqual(calls, ['DescribeListeners', 'DescribeTargetHealth', 'DeregisterTargets', 'RegisterTargets', 'RegisterTargets']);
    const tg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups[0]!;
    const expected = Array.from({ length: 230 }, (_, i) => `${ip(i + 20)}:30080`).sort();
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), expected);

    // A node outside the VPC gets AvailabilityZone "all" (asserted on the request: moto does not echo it).
    await cloud.aws.provider.updateTargets({ ...svc, targets: [node('inside', '10.0.9.77'), node('outside', '192.168.50.5')] });
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.9.77:30080', '192.168.50.5:30080']);
    const register = cloud.proxy.takeCalls().filter((c) => c.action === 'RegisterTargets');
    const registered = register.flatMap((c) =>
      Object.entries(c.params)
        .filter(([k]) => /^Targets\.member\.\d+\.Id$/.test(k))
        .map(([k, id]) => `${id}@${c.params[k.replace(/Id$/, 'AvailabilityZone')] ?? '-'}`),
    );
    assert.deepEqual(registered.sort(), ['10.0.9.77@-', '192.168.50.5@all']);
  });

  test('externalTrafficPolicy Local: HTTP /healthz on the healthCheckNodePort, switched in place', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    await cloud.aws.provider.ensure({
      ...svc,
      externalTrafficPolicy: 'Local',
      healthCheck: { kind: 'http', port: 32123, path: '/healthz' },
    });
    const tg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups[0]!;
    assert.equal(tg.HealthCheckProtocol, 'HTTP');
    assert.equal(tg.HealthCheckPort, '32123');
    assert.equal(tg.HealthCheckPath, '/healthz');
    // moto drops a Matcher given to ModifyTargetGroup; AWS keeps it. Assert what we asked for.
    const modify = cloud.proxy.takeCalls().find((c) => c.action === 'ModifyTargetGroup');
    assert.equal(modify?.params['Matcher.HttpCode'], '200-399');
  });

  test('loadBalancerSourceRanges: rules on our security group (IPv6 as IPv6 ranges), updated in place', async () => {
    const svc = desiredService({ listeners: [tcp(443, 30443)], sourceRanges: ['203.0.113.0/24', '198.51.100.7/32', '2001:db8::/32'] });
    await cloud.aws.provider.ensure(svc);
    const authorize = cloud.proxy.takeCalls().find((c) => c.action === 'AuthorizeSecurityGroupIngress');
    const ranges = Object.entries(authorize?.params ?? {}).filter(([k]) => /\.Cidr(Ip|Ipv6)$/.test(k));
    assert.deepEqual(
      ranges.filter(([k]) => k.endsWith('CidrIpv6')).map(([, v]) => v),
      ['2001:db8::/32'],
    );
    assert.deepEqual(
      ranges
        .filter(([k]) => k.endsWith('CidrIp'))
        .map(([, v]) => v)
        .sort(),
      ['198.51.100.7/32', '203.0.113.0/24'],
    );
    let sg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).securityGroups[0]!;
    assert.deepEqual(sg.rules.map((r) => r.cidr).sort(), ['198.51.100.7/32', '2001:db8::/32', '203.0.113.0/24']);
    assert.equal(sg.tags['kubernetes.io/service-uid'], svc.identity.uid);
    await cloud.aws.provider.ensure({ ...svc, sourceRanges: ['203.0.113.0/24'] });
    sg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).securityGroups[0]!;
    assert.deepEqual(sg.rules, [{ protocol: 'tcp', port: 443, cidr: '203.0.113.0/24' }]);
  });

  test('annotations: internal scheme, subnets by name, cross-zone, extra tags, group attributes', async () => {
    const svc = desiredService({
      sessionAffinity: { type: 'ClientIP' },
      annotations: {
        'service.beta.kubernetes.io/aws-load-balancer-internal': 'true',
        'service.beta.kubernetes.io/aws-load-balancer-subnets': 'private-a, private-b',
        'service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled': 'true',
        'service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags': 'team=payments,env=prod',
        'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes': 'deregistration_delay.timeout_seconds=20',
        'service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval': '30',
      },
    });
    await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    const lb = a.loadBalancers[0]!;
    assert.equal(lb.Scheme, 'internal');
    assert.deepEqual(lb.AvailabilityZones!.map((z) => z.SubnetId).sort(), [...cloud.vpc.privateSubnets].sort());
    const { DescribeLoadBalancerAttributesCommand, DescribeTargetGroupAttributesCommand } = await import(
      '@aws-sdk/client-elastic-load-balancing-v2'
    );
    const lbAttrs = (await cloud.elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: lb.LoadBalancerArn! }))).Attributes!;
    assert.equal(lbAttrs.find((x) => x.Key === 'load_balancing.cross_zone.enabled')?.Value, 'true');
    const tg = a.targetGroups[0]!;
    assert.equal(tg.HealthCheckIntervalSeconds, 30);
    const tgAttrs = Object.fromEntries(
      (await cloud.elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn! }))).Attributes!.map((x) => [
        x.Key,
        x.Value,
      ]),
    );
    assert.equal(tgAttrs['deregistration_delay.timeout_seconds'], '20');
    assert.equal(tgAttrs['stickiness.enabled'], 'true');
    assert.equal(tgAttrs['stickiness.type'], 'source_ip');
    for (const tags of [
      await tagsOf(cloud.elb, lb.LoadBalancerArn!),
      await tagsOf(cloud.elb, tg.TargetGroupArn!),
      a.securityGroups[0]!.tags,
    ]) {
      assert.equal(tags['team'], 'payments');
      assert.equal(tags['env'], 'prod');
      assert.equal(tags['kubernetes.io/cluster/test'], 'owned');
    }
    // A steady resync after all that is still one read.
    cloud.proxy.takeCalls();
    await cloud.aws.provider.ensure(svc);
    assert.deepEqual(
      cloud.proxy.takeCalls().map((c) => c.action),
      ['DescribeListeners'],
    );
  });

  test('a scheme change replaces the NLB and says so in a Warning event', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    const before = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers[0]!;
    const internal = { ...svc, annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal' } };
    await cloud.aws.provider.ensure(internal);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    // moto derives the DNS name from the name alone, so the new load balancer is told apart by its ARN.
    assert.notEqual(a.loadBalancers[0]!.LoadBalancerArn, before.LoadBalancerArn);
    assert.deepEqual(
      a.loadBalancers.map((lb) => lb.Scheme),
      ['internal'],
    );
    const replacing = cloud.aws.events.filter((e) => e.reason === 'ReplacingLoadBalancer');
    assert.equal(replacing.length, 1);
    assert.equal(replacing[0]!.type, 'Warning');
    assert.match(replacing[0]!.message, /scheme changes from internet-facing to internal.*DNS name will change/);
    assert.equal(replacing[0]!.identity.uid, svc.identity.uid);
  });

  test('EIP allocations: one per subnet; status is the hostname only, as cloud-provider-aws publishes it', async () => {
    const eips = [await allocateEip(cloud.ec2), await allocateEip(cloud.ec2)];
    const svc = desiredService({
      annotations: {
        'service.beta.kubernetes.io/aws-load-balancer-subnets': cloud.vpc.publicSubnets.join(','),
        'service.beta.kubernetes.io/aws-load-balancer-eip-allocations': eips.map((e) => e.allocationId).join(','),
      },
    });
    const ingress = await cloud.aws.provider.ensure(svc);
    const lb = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers[0]!;
    // Bare ip entries would let kube-proxy short-circuit in-cluster traffic to the EIPs (skipping proxy
    // protocol and source ranges).
    assert.deepEqual(ingress, [{ hostname: lb.DNSName }]);
    assert.deepEqual(lb.AvailabilityZones!.map((z) => z.SubnetId).sort(), [...cloud.vpc.publicSubnets].sort());
  });

  test('an annotation value we do not understand: a non-retryable error naming it, and no AWS write', async () => {
    const svc = desiredService({ annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'public' } });
    await assert.rejects(cloud.aws.provider.ensure(svc), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /service\.beta\.kubernetes\.io\/aws-load-balancer-scheme/);
      return true;
    });
    const bad = desiredService({ annotations: { 'service.beta.kubernetes.io/aws-load-balancer-subnets': 'no-such-subnet' } });
    await assert.rejects(cloud.aws.provider.ensure(bad), /aws-load-balancer-subnets: "no-such-subnet" is not a subnet/);
    assert.deepEqual(
      cloud.proxy.takeCalls().filter((c) => isWrite(c.action)),
      [],
    );
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
  });

  test('a load balancer with our name that is not ours is refused, not adopted', async () => {
    const svc = desiredService();
    const { CreateLoadBalancerCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
    await cloud.elb.send(new CreateLoadBalancerCommand({ Name: svc.identity.lbName, Type: 'network', Subnets: cloud.vpc.publicSubnets }));
    await assert.rejects(
      cloud.aws.provider.ensure(svc),
      (err: unknown) => err instanceof ProviderError && !err.retryable && /not owned by this Service/.test(err.message),
    );
  });

  test('an NLB cloud-provider-aws made for this Service is adopted: tagged, reconciled, its old group removed', async () => {
    const svc = desiredService({ namespace: 'shop', name: 'legacy' });
    const elbApi = await import('@aws-sdk/client-elastic-load-balancing-v2');
    const { CreateSecurityGroupCommand } = await import('@aws-sdk/client-ec2');
    // What cloud-provider-aws leaves: its tags (no service-uid), a k8s-... target group, a listener.
    const legacyTags = [
      { Key: 'kubernetes.io/cluster/test', Value: 'owned' },
      { Key: 'kubernetes.io/service-name', Value: 'shop/legacy' },
    ];
    const legacySg = await cloud.ec2.send(
      new CreateSecurityGroupCommand({ GroupName: 'k8s-elb-legacy', Description: 'legacy', VpcId: cloud.vpc.vpcId }),
    );
    const legacyLb = (
      await cloud.elb.send(
        new elbApi.CreateLoadBalancerCommand({
          Name: svc.identity.lbName,
          Type: 'network',
          Subnets: cloud.vpc.publicSubnets,
          SecurityGroups: [legacySg.GroupId!],
          Tags: legacyTags,
        }),
      )
    ).LoadBalancers![0]!;
    const legacyTg = (
      await cloud.elb.send(
        new elbApi.CreateTargetGroupCommand({
          Name: 'k8s-shop-legacy-0123456789',
          Protocol: 'TCP',
          Port: 30080,
          VpcId: cloud.vpc.vpcId,
          TargetType: 'instance',
          Tags: legacyTags,
        }),
      )
    ).TargetGroups![0]!;
    await cloud.elb.send(
      new elbApi.CreateListenerCommand({
        LoadBalancerArn: legacyLb.LoadBalancerArn!,
        Port: 80,
        Protocol: 'TCP',
        DefaultActions: [{ Type: 'forward', TargetGroupArn: legacyTg.TargetGroupArn! }],
      }),
    );

    assert.deepEqual(await cloud.aws.provider.get(svc.identity), { ingress: [{ hostname: legacyLb.DNSName }] });
    const ingress = await cloud.aws.provider.ensure(svc);
    assert.deepEqual(ingress, [{ hostname: legacyLb.DNSName }], 'same load balancer, same DNS name');
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(
      a.loadBalancers.map((lb) => lb.LoadBalancerArn),
      [legacyLb.LoadBalancerArn],
    );
    assert.equal((await tagsOf(cloud.elb, legacyLb.LoadBalancerArn!))['kubernetes.io/service-uid'], svc.identity.uid);
    const ours = a.securityGroups.find((g) => g.name !== 'k8s-elb-legacy')!;
    assert.deepEqual(a.loadBalancers[0]!.SecurityGroups, [ours.id]);
    assert.equal(a.targetGroups.length, 1);
    assert.notEqual(a.targetGroups[0]!.TargetGroupArn, legacyTg.TargetGroupArn, 'the legacy group is deleted after the switch');
    assert.equal(a.listeners.get(legacyLb.LoadBalancerArn!)![0]!.DefaultActions![0]!.TargetGroupArn, a.targetGroups[0]!.TargetGroupArn);
    assert.deepEqual(
      cloud.aws.events.map((e) => [e.type, e.reason]),
      [['Normal', 'AdoptingLoadBalancer']],
    );
    // Adopted means ours from now on: a resync is the usual single read.
    cloud.proxy.takeCalls();
    await cloud.aws.provider.ensure(svc);
    assert.deepEqual(
      cloud.proxy.takeCalls().map((c) => c.action),
      ['DescribeListeners'],
    );
  });

  test('a Classic ELB cloud-provider-aws left: one Warning with the commands to remove it, once per run; never deleted', async () => {
    const svc = desiredService({ name: 'web', namespace: 'shop' });
    const dnsName = await createClassicElb(cloud.classicElb, svc.identity.lbName, cloud.vpc.publicSubnets[0]!, {
      'kubernetes.io/cluster/test': 'owned',
      'kubernetes.io/service-name': 'shop/web',
    });
    const ingress = await cloud.aws.provider.ensure(svc);
    assert.notEqual(ingress[0]?.hostname, dnsName, 'the Service is served by a new NLB');
    const classicCalls = () =>
      cloud.proxy
        .takeCalls()
        .filter((c) => c.service === 'elb')
        .map((c) => [c.action, c.params['LoadBalancerNames.member.1']]);
    assert.deepEqual(classicCalls(), [
      ['DescribeLoadBalancers', svc.identity.lbName],
      ['DescribeTags', svc.identity.lbName],
    ]);
    assert.deepEqual(
      cloud.aws.events.map((e) => [e.type, e.reason]),
      [['Warning', 'LegacyClassicLoadBalancer']],
    );
    const message = cloud.aws.events[0]!.message;
    assert.ok(message.includes(dnsName), message);
    assert.ok(message.includes(`aws elb delete-load-balancer --region us-east-1 --load-balancer-name ${svc.identity.lbName}`), message);
    assert.ok(message.includes(`k8s-elb-${svc.identity.lbName}`), message);
    assert.match(message, /never deletes/);

    // A Service change is a full sync, but the check is not repeated in this run; the Classic ELB stays.
    await cloud.aws.provider.ensure({ ...svc, listeners: [tcp(80, 30081)] });
    assert.deepEqual(classicCalls(), []);
    assert.equal(cloud.aws.events.length, 1);
    await cloud.aws.provider.delete(svc.identity);
    const { DescribeLoadBalancersCommand } = await import('@aws-sdk/client-elastic-load-balancing');
    const left = await cloud.classicElb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [svc.identity.lbName] }));
    assert.equal(left.LoadBalancerDescriptions?.length, 1, 'deleting the Service leaves the Classic ELB alone');

    // A new run (a restart) says it again.
    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      await restarted.provider.ensure(svc);
      assert.deepEqual(
        restarted.events.map((e) => e.reason),
        ['LegacyClassicLoadBalancer'],
      );
    } finally {
      await restarted.provider.delete(svc.identity);
      await restarted.provider.stop();
    }
  });

  test("Classic ELB check: none is one not-found read; another Service's is not reported; a failed check retries at the next full sync", async () => {
    const plain = desiredService();
    await cloud.aws.provider.ensure(plain);
    assert.deepEqual(
      cloud.proxy
        .takeCalls()
        .filter((c) => c.service === 'elb')
        .map((c) => c.action),
      ['DescribeLoadBalancers'],
    );
    assert.match(
      await cloud.aws.registry.metrics(),
      /service_lb_aws_api_calls_total\{service="elb",operation="DescribeLoadBalancers",outcome="not_found"\} 1/,
    );

    const other = desiredService({ name: 'api' });
    await createClassicElb(cloud.classicElb, other.identity.lbName, cloud.vpc.publicSubnets[0]!, {
      'kubernetes.io/cluster/test': 'owned',
      'kubernetes.io/service-name': 'default/not-api',
    });
    await cloud.aws.provider.ensure(other);

    const failing = desiredService({ name: 'flaky' });
    await createClassicElb(cloud.classicElb, failing.identity.lbName, cloud.vpc.publicSubnets[0]!, {
      'kubernetes.io/cluster/test': 'owned',
    });
    cloud.proxy.inject('elb:DescribeLoadBalancers', 'server-error', 50);
    const [ingress] = await cloud.aws.provider.ensure(failing);
    assert.ok(ingress?.hostname, 'a failed check does not fail the sync');
    assert.equal(cloud.aws.events.length, 0);
    cloud.proxy.clearFaults();
    await cloud.aws.provider.ensure(failing);
    assert.equal(cloud.aws.events.length, 0, 'a resync that is not a full sync does not look again');
    await cloud.aws.provider.ensure({ ...failing, listeners: [tcp(80, 30081)] });
    assert.deepEqual(
      cloud.aws.events.map((e) => [e.identity.name, e.reason]),
      [['flaky', 'LegacyClassicLoadBalancer']],
    );
  });

  test('delete: listeners, load balancer, groups, security group; idempotent', async () => {
    const svc = desiredService({ listeners: [tcp(80, 30080), tcp(443, 30443)], sourceRanges: ['10.1.0.0/16'] });
    await cloud.aws.provider.ensure(svc);
    cloud.proxy.takeCalls();
    await cloud.aws.provider.delete(svc.identity);
    const writes = cloud.proxy
      .takeCalls()
      .filter((c) => isWrite(c.action))
      .map((c) => c.action);
    assert.deepEqual(writes, [
      'DeleteListener',
      'DeleteListener',
      'DeleteLoadBalancer',
      'DeleteTargetGroup',
      'DeleteTargetGroup',
      'DeleteSecurityGroup',
    ]);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
    await cloud.aws.provider.delete(svc.identity);
    const fresh = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    await fresh.provider.delete(svc.identity);
    await fresh.provider.stop();
    assert.equal(await cloud.aws.provider.get(svc.identity), undefined);
  });

  test('listOwned after a restart finds every Service owning something; GC deletes an orphan only', async () => {
    const keep = desiredService({ name: 'keep' });
    const orphan = desiredService({ name: 'orphan', listeners: [tcp(443, 30443)] });
    await cloud.aws.provider.ensure(keep);
    await cloud.aws.provider.ensure(orphan);
    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      const owned = await restarted.provider.listOwned();
      assert.deepEqual(
        owned.map((o) => o.identity).sort((x, y) => x.name.localeCompare(y.name)),
        [keep.identity, orphan.identity],
      );
      const other = makeProvider(cloud.proxy.url, cloud.vpc.vpcId, {}, 'another-cluster');
      assert.deepEqual(await other.provider.listOwned(), []);
      await other.provider.stop();
      await restarted.provider.delete(orphan.identity);
      const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      assert.deepEqual(
        a.loadBalancers.map((lb) => lb.LoadBalancerName),
        [keep.identity.lbName],
      );
      assert.deepEqual(
        a.targetGroups.map((g) => g.Port),
        [30080],
      );
      assert.equal(a.securityGroups.length, 1);
      assert.deepEqual(await restarted.provider.get(keep.identity), { ingress: [{ hostname: a.loadBalancers[0]!.DNSName }] });
    } finally {
      await restarted.provider.stop();
    }
  });

  test('restart in the middle of create: a fresh provider converges, nothing duplicated or leaked', async () => {
    const svc = desiredService();
    // The first controller dies after the group exists but before the listener (CreateListener keeps failing).
    cloud.proxy.inject('CreateListener', 'server-error', 100);
    await assert.rejects(cloud.aws.provider.ensure(svc), (err: unknown) => err instanceof ProviderError && err.retryable);
    cloud.proxy.clearFaults();
    let a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(a.targetGroups.length, 1);
    assert.equal(a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.length, 0);

    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      await restarted.provider.start([]);
      const ingress = await restarted.provider.ensure(svc);
      a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      assert.equal(a.loadBalancers.length, 1);
      assert.equal(a.targetGroups.length, 1);
      assert.equal(a.securityGroups.length, 1);
      assert.deepEqual(
        a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!.map((l) => l.DefaultActions![0]!.TargetGroupArn),
        [a.targetGroups[0]!.TargetGroupArn],
      );
      assert.deepEqual(ingress, [{ hostname: a.loadBalancers[0]!.DNSName }]);
    } finally {
      await restarted.provider.stop();
    }
  });

  test('restart in the middle of a NodePort change: the detached old group is found and deleted', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    cloud.proxy.inject('DeleteTargetGroup', 'server-error', 100);
    await assert.rejects(cloud.aws.provider.ensure({ ...svc, listeners: [tcp(80, 30099)] }));
    cloud.proxy.clearFaults();
    assert.equal((await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups.length, 2, 'old group left detached');

    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      await restarted.provider.ensure({ ...svc, listeners: [tcp(80, 30099)] });
      assert.deepEqual(
        (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups.map((g) => g.Port),
        [30099],
      );
    } finally {
      await restarted.provider.stop();
    }
  });

  test('a detached group of a live Service, with the Service changed meanwhile: found by listOwned, removed by the next ensure', async () => {
    const svc = desiredService();
    await cloud.aws.provider.ensure(svc);
    // Another (dead) controller instance got as far as creating the group for a NodePort the Service no longer has.
    const previousLeader = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    cloud.proxy.inject('ModifyListener', 'server-error', 100);
    await assert.rejects(previousLeader.provider.ensure({ ...svc, listeners: [tcp(80, 31111)] }));
    cloud.proxy.clearFaults();
    await previousLeader.provider.stop();
    assert.equal((await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups.length, 2);

    // Our remembered state is still valid, so a plain resync would not look; the periodic GC listing does.
    await cloud.aws.provider.listOwned();
    await cloud.aws.provider.ensure(svc);
    assert.deepEqual(
      (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups.map((g) => g.Port),
      [30080],
    );
  });

  test('GC of a crash leftover: a security group alone is still listed and deleted', async () => {
    const svc = desiredService({ name: 'gone' });
    cloud.proxy.inject('CreateLoadBalancer', 'server-error', 100);
    await assert.rejects(cloud.aws.provider.ensure(svc));
    cloud.proxy.clearFaults();
    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      const owned = await restarted.provider.listOwned();
      assert.deepEqual(
        owned.map((o) => o.identity),
        [svc.identity],
      );
      await restarted.provider.delete(owned[0]!.identity);
      const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
      assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
    } finally {
      await restarted.provider.stop();
    }
  });

  test('calls are counted per operation and outcome on the registry', async () => {
    await cloud.aws.provider.ensure(desiredService());
    const counts = await callCounts(cloud.aws.registry);
    assert.equal(counts.get('CreateLoadBalancer'), 1);
    assert.equal(counts.get('CreateListener'), 1);
    const text = await cloud.aws.registry.metrics();
    assert.match(text, /service_lb_aws_api_calls_total\{service="elbv2",operation="CreateLoadBalancer",outcome="success"\} 1/);
    assert.match(text, /service_lb_aws_api_call_duration_seconds_count\{service="ec2",operation="CreateSecurityGroup"\} 1/);
    // The first look-up finds no load balancer: normal work, not a client error.
    assert.match(text, /service_lb_aws_api_calls_total\{service="elbv2",operation="DescribeLoadBalancers",outcome="not_found"\} 1/);
    assert.doesNotMatch(text, /outcome="client_error"/);
  });

  test('readiness: ready with the real VPC; a wrong VPC id is a problem naming it, in one DescribeVpcs', async () => {
    assert.deepEqual(await cloud.aws.provider.checkReady(), []);
    const wrong = makeProvider(cloud.proxy.url, 'vpc-0badc0ffee0000000');
    try {
      cloud.proxy.takeCalls();
      const problems = await wrong.provider.checkReady();
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /VPC vpc-0badc0ffee0000000 .*not found in region us-east-1/);
      // The suite's provider may still be warming up its inventory in the background: count only VPC reads.
      assert.equal(cloud.proxy.takeCalls().filter((c) => c.action === 'DescribeVpcs').length, 1);
    } finally {
      await wrong.provider.stop();
    }
  });
});
