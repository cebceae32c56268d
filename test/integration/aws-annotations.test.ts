// The AWS provider's annotations against moto_server: what each one makes, and what it leaves alone.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import { DescribeListenerCertificatesCommand, DescribeLoadBalancerAttributesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { account, isWrite, makeProvider, targetsOf } from '../fakes/aws-cloud.ts';
import { desiredService, node, tcp, udp } from '../fakes/aws-service.ts';
import { useMotoSuite } from '../fakes/aws-suite.ts';
import { useTestCredentials } from '../fakes/aws-cloud.ts';

useTestCredentials();

const A = 'service.beta.kubernetes.io/aws-load-balancer-';
const CERT = 'arn:aws:iam::123456789012:server-certificate/web';
const EXTRA_CERT = 'arn:aws:iam::123456789012:server-certificate/extra';

describe('aws provider annotations against moto', () => {
  const cloud = useMotoSuite({ startProvider: true });

  async function writesOf(run: () => Promise<unknown>): Promise<string[]> {
    cloud.proxy.takeCalls();
    await run();
    return cloud.proxy
      .takeCalls()
      .filter((c) => isWrite(c.action))
      .map((c) => c.action);
  }

  test('TLS: a TLS listener with certificates, policy and ALPN on the ssl-ports only; TLS to the backends', async () => {
    const svc = desiredService({
      listeners: [tcp(80, 30080, 'http'), tcp(443, 30443, 'https')],
      annotations: {
        [`${A}ssl-cert`]: `${CERT},${EXTRA_CERT}`,
        [`${A}ssl-ports`]: 'https',
        [`${A}ssl-negotiation-policy`]: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        [`${A}alpn-policy`]: 'HTTP2Preferred',
        [`${A}backend-protocol`]: 'ssl',
      },
    });
    await cloud.aws.provider.ensure(svc);
    const create = cloud.proxy.calls.find((c) => c.action === 'CreateListener' && c.params['Port'] === '443')!;
    assert.equal(create.params['Protocol'], 'TLS');
    assert.equal(create.params['Certificates.member.1.CertificateArn'], CERT);
    assert.equal(create.params['SslPolicy'], 'ELBSecurityPolicy-TLS13-1-2-2021-06');
    assert.equal(create.params['AlpnPolicy.member.1'], 'HTTP2Preferred');
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    const listeners = a.listeners.get(a.loadBalancers[0]!.LoadBalancerArn!)!;
    const byPort = new Map(listeners.map((l) => [l.Port, l]));
    assert.equal(byPort.get(80)!.Protocol, 'TCP');
    assert.equal(byPort.get(443)!.Protocol, 'TLS');
    const groups = new Map(a.targetGroups.map((g) => [g.TargetGroupArn, g]));
    assert.equal(groups.get(byPort.get(443)!.DefaultActions![0]!.TargetGroupArn)!.Protocol, 'TLS');
    assert.equal(groups.get(byPort.get(80)!.DefaultActions![0]!.TargetGroupArn)!.Protocol, 'TCP');
    const certs = await cloud.elb.send(new DescribeListenerCertificatesCommand({ ListenerArn: byPort.get(443)!.ListenerArn! }));
    assert.ok(certs.Certificates!.some((c) => c.CertificateArn === EXTRA_CERT && !c.IsDefault));

    // A restarted provider reads it all back (extra certificates included) and finds nothing to change.
    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      assert.deepEqual(await writesOf(() => restarted.provider.ensure(svc)), []);
      // The extra certificate goes when the annotation drops it.
      const fewer = { ...svc, annotations: { ...svc.annotations, [`${A}ssl-cert`]: CERT } };
      assert.deepEqual(await writesOf(() => restarted.provider.ensure(fewer)), ['RemoveListenerCertificates']);
    } finally {
      await restarted.provider.stop();
    }
  });

  test('type external: stands down (nothing made, status untouched, one Normal event); claimExternalType serves it', async () => {
    const plain = desiredService();
    await cloud.aws.provider.ensure(plain);
    const external = {
      ...plain,
      annotations: { [`${A}type`]: 'external' },
      currentIngress: [{ hostname: 'k8s-other-controller.elb.amazonaws.com' }],
    };
    assert.deepEqual(await cloud.aws.provider.ensure(external), external.currentIngress, 'the status is handed back as it is');
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0, 'what it made before is deleted');
    assert.deepEqual(
      cloud.aws.events.map((e) => [e.type, e.reason]),
      [['Normal', 'StandingDown']],
    );
    assert.match(cloud.aws.events[0]!.message, /AWS Load Balancer Controller/);
    const fresh = desiredService({ annotations: { [`${A}type`]: 'nlb-ip' } });
    assert.deepEqual(await writesOf(() => cloud.aws.provider.ensure(fresh)), []);
    assert.deepEqual(await writesOf(() => cloud.aws.provider.updateTargets(fresh)), []);

    const claiming = makeProvider(cloud.proxy.url, cloud.vpc.vpcId, { claimExternalType: true });
    try {
      const [ingress] = await claiming.provider.ensure(fresh);
      assert.ok(ingress?.hostname);
    } finally {
      await claiming.provider.stop();
    }
  });

  test('unknown keys under the prefix: a Warning naming them; the NLB is still made', async () => {
    const svc = desiredService({ annotations: { [`${A}connection-idle-timeout`]: '60' } });
    await cloud.aws.provider.ensure(svc);
    const warnings = cloud.aws.events.filter((e) => e.type === 'Warning' && e.reason === 'UnsupportedAnnotation');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /aws-load-balancer-connection-idle-timeout/);
    assert.equal((await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers.length, 1);
  });

  test('target-node-labels: only labelled nodes are targets; a label change moves them; other label changes cost no call', async () => {
    const labelled = (name: string, ip: string, labels: Record<string, string>) => ({ ...node(name, ip), labels });
    const edge = labelled('n1', '10.0.1.11', { role: 'edge', 'kubernetes.io/hostname': 'n1' });
    const worker = labelled('n2', '10.0.2.12', { role: 'worker', 'kubernetes.io/hostname': 'n2' });
    const svc = desiredService({ targets: [edge, worker], annotations: { [`${A}target-node-labels`]: 'role=edge' } });
    await cloud.aws.provider.ensure(svc);
    const tg = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).targetGroups[0]!;
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.1.11:30080']);
    assert.equal(cloud.aws.events.length, 0, 'the annotation is honoured, not warned about');

    // The worker is relabelled edge: it becomes a target on the host update.
    const relabelled = { ...svc, targets: [edge, { ...worker, labels: { ...worker.labels, role: 'edge' } }] };
    assert.equal(await cloud.aws.provider.updateTargets(relabelled), true);
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), ['10.0.1.11:30080', '10.0.2.12:30080']);

    // A label that selects nothing here changes: the targets stay, and the host update makes no AWS call.
    cloud.proxy.takeCalls();
    const unrelated = { ...relabelled, targets: relabelled.targets.map((t) => ({ ...t, labels: { ...t.labels, team: 'blue' } })) };
    assert.equal(await cloud.aws.provider.updateTargets(unrelated), false);
    assert.deepEqual(cloud.proxy.takeCalls(), []);

    // Labels no node has: a Warning on the next full ensure, and no targets.
    await cloud.aws.provider.ensure({ ...unrelated, annotations: { [`${A}target-node-labels`]: 'role=db' } });
    assert.deepEqual(await targetsOf(cloud.elb, tg.TargetGroupArn!), []);
    assert.deepEqual(
      cloud.aws.events.map((e) => [e.type, e.reason]),
      [['Warning', 'NoMatchingNodes']],
    );
    assert.match(cloud.aws.events[0]!.message, /none of the 2 eligible nodes .*aws-load-balancer-target-node-labels \("role=db"\)/);
  });

  test('node security groups: opened from ours on the NodePorts and the health check port, closed on deletion', async () => {
    const node = await cloud.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: 'nodes',
        Description: 'nodes',
        VpcId: cloud.vpc.vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'kubernetes.io/cluster/test', Value: 'owned' }] }],
      }),
    );
    const svc = desiredService({ listeners: [tcp(80, 30080), udp(53, 30053)] });
    await cloud.aws.provider.ensure(svc);
    const ours = (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).securityGroups.find((g) => g.name.startsWith('k8s-slb-'))!;
    const nodeRules = async () => {
      const sg = (await cloud.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [node.GroupId!] }))).SecurityGroups![0]!;
      return (sg.IpPermissions ?? [])
        .filter((p) => p.UserIdGroupPairs?.some((u) => u.GroupId === ours.id))
        .map((p) => `${p.IpProtocol}/${p.FromPort}`)
        .sort();
    };
    // UDP with policy Cluster is health-checked on kube-proxy's 10256.
    assert.deepEqual(await nodeRules(), ['tcp/10256', 'tcp/30080', 'udp/30053']);
    await cloud.aws.provider.ensure({ ...svc, listeners: [tcp(80, 30080)] });
    assert.deepEqual(await nodeRules(), ['tcp/30080']);
    await cloud.aws.provider.delete(svc.identity);
    assert.deepEqual(await nodeRules(), []);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(
      a.securityGroups.map((g) => g.name),
      ['nodes'],
    );
  });

  test('security-groups: the given groups (by Name tag) instead of ours, never edited', async () => {
    const front = await cloud.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: 'frontend',
        Description: 'frontend',
        VpcId: cloud.vpc.vpcId,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'Name', Value: 'front' }] }],
      }),
    );
    const svc = desiredService({ annotations: { [`${A}security-groups`]: 'front' } });
    await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.deepEqual(a.loadBalancers[0]!.SecurityGroups, [front.GroupId]);
    assert.deepEqual(
      a.securityGroups.map((g) => [g.name, g.rules]),
      [['frontend', []]],
    );
    await assert.rejects(
      cloud.aws.provider.ensure({ ...svc, annotations: { ...svc.annotations, [`${A}manage-backend-security-group-rules`]: 'true' } }),
      /manage-backend-security-group-rules/,
    );
  });

  test('name: the NLB gets it; a rename replaces it; deletion finds it by its tags after a restart', async () => {
    const svc = desiredService({ annotations: { [`${A}name`]: 'shop-web' } });
    await cloud.aws.provider.ensure(svc);
    assert.deepEqual(
      (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers.map((lb) => lb.LoadBalancerName),
      ['shop-web'],
    );
    const restarted = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      await restarted.provider.ensure({ ...svc, annotations: { [`${A}name`]: 'shop-web-2' } });
      assert.deepEqual(
        (await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId)).loadBalancers.map((lb) => lb.LoadBalancerName),
        ['shop-web-2'],
      );
      assert.match(restarted.events.find((e) => e.reason === 'ReplacingLoadBalancer')!.message, /name changes from shop-web to shop-web-2/);
    } finally {
      await restarted.provider.stop();
    }
    const again = makeProvider(cloud.proxy.url, cloud.vpc.vpcId);
    try {
      await again.provider.delete(svc.identity);
    } finally {
      await again.provider.stop();
    }
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
  });

  test('attributes and access logs; dualstack; a named health check port', async () => {
    const svc = desiredService({
      listeners: [tcp(80, 30080, 'http'), tcp(8081, 30081, 'health')],
      annotations: {
        [`${A}attributes`]: 'dns_record.client_routing_policy=availability_zone_affinity',
        [`${A}access-log-enabled`]: 'true',
        [`${A}access-log-s3-bucket-name`]: 'logs-bucket',
        [`${A}access-log-s3-bucket-prefix`]: 'web',
        [`${A}ip-address-type`]: 'dualstack',
        [`${A}healthcheck-port`]: 'health',
      },
    });
    await cloud.aws.provider.ensure(svc);
    const a = await account(cloud.elb, cloud.ec2, cloud.vpc.vpcId);
    const lb = a.loadBalancers[0]!;
    assert.equal(lb.IpAddressType, 'dualstack');
    const attrs = Object.fromEntries(
      (await cloud.elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: lb.LoadBalancerArn! }))).Attributes!.map((x) => [
        x.Key,
        x.Value,
      ]),
    );
    assert.equal(attrs['access_logs.s3.enabled'], 'true');
    assert.equal(attrs['access_logs.s3.bucket'], 'logs-bucket');
    assert.equal(attrs['access_logs.s3.prefix'], 'web');
    assert.equal(attrs['dns_record.client_routing_policy'], 'availability_zone_affinity');
    assert.ok(a.targetGroups.every((g) => g.HealthCheckPort === '30081'));
    // Open to the world in both families, as a dualstack NLB is reachable over both.
    assert.deepEqual(a.securityGroups[0]!.rules.map((r) => r.cidr).sort(), ['0.0.0.0/0', '0.0.0.0/0', '::/0', '::/0']);
    // Back to ipv4 in place.
    const writes = await writesOf(() =>
      cloud.aws.provider.ensure({ ...svc, annotations: { ...svc.annotations, [`${A}ip-address-type`]: 'ipv4' } }),
    );
    assert.ok(writes.includes('SetIpAddressType'));
    assert.ok(!writes.includes('CreateLoadBalancer'));
  });

  test('internal with private IPv4 addresses: one per subnet in the subnet mappings', async () => {
    const svc = desiredService({
      annotations: {
        [`${A}scheme`]: 'internal',
        [`${A}subnets`]: 'private-a,private-b',
        [`${A}private-ipv4-addresses`]: '10.0.3.10,10.0.4.10',
      },
    });
    await cloud.aws.provider.ensure(svc);
    const create = cloud.proxy.calls.find((c) => c.action === 'CreateLoadBalancer')!;
    assert.equal(create.params['SubnetMappings.member.1.PrivateIPv4Address'], '10.0.3.10');
    assert.equal(create.params['SubnetMappings.member.2.PrivateIPv4Address'], '10.0.4.10');
    assert.equal(create.params['Scheme'], 'internal');
  });

  test('instance targets: instance IDs from spec.providerID on the NodePort', async () => {
    const svc = desiredService({ annotations: { [`${A}nlb-target-type`]: 'instance' } });
    await cloud.aws.provider.ensure(svc);
    const create = cloud.proxy.calls.find((c) => c.action === 'CreateTargetGroup')!;
    assert.equal(create.params['TargetType'], 'instance');
    const register = cloud.proxy.calls.find((c) => c.action === 'RegisterTargets')!;
    assert.deepEqual(
      [register.params['Targets.member.1.Id'], register.params['Targets.member.2.Id'], register.params['Targets.member.1.Port']],
      ['i-n1', 'i-n2', '30080'],
    );
  });
});
