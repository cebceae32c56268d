// DesiredLoadBalancer -> DesiredNlb: names, listeners and groups, health checks, rules, targets, annotations.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultLoadBalancerName, ProviderError } from '../../src/providers/provider.ts';
import { Annotations, parseAwsAnnotations } from '../../src/providers/aws/annotations.ts';
import { buildDesiredNlb, type NlbContext } from '../../src/providers/aws/desired.ts';
import { securityGroupName, targetGroupName, targetGroupNamePrefix } from '../../src/providers/aws/names.ts';
import { desiredService, node, tcp, udp } from '../fakes/aws-service.ts';

const ctx: NlbContext = {
  clusterName: 'test',
  scheme: 'internet-facing',
  subnetIds: ['subnet-a', 'subnet-b'],
  vpcCidrs: ['10.0.0.0/16'],
  nodeAddressPreference: ['InternalIP'],
  nodeSecurityGroupIds: [],
};

function build(overrides: Parameters<typeof desiredService>[0] = {}, context: NlbContext = ctx) {
  const desired = desiredService(overrides);
  return buildDesiredNlb(desired, parseAwsAnnotations(desired.annotations), context);
}

function invalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ProviderError && !err.retryable && pattern.test(err.message));
}

describe('aws names', () => {
  test('deterministic, at most 32 characters, cluster-prefixed target groups', () => {
    const uid = '6f1c1f4e-9d0a-4c1e-8f43-2b6c4b1e9a77';
    const a = targetGroupName('prod', uid, 'TCP', 30080);
    assert.equal(a, targetGroupName('prod', uid, 'TCP', 30080));
    assert.equal(a.length, 32);
    assert.ok(a.startsWith(targetGroupNamePrefix('prod')));
    assert.ok(a.includes('6f1c1f4e9d'));
    assert.notEqual(a, targetGroupName('prod', uid, 'TCP', 30081));
    assert.notEqual(a, targetGroupName('prod', uid, 'TCP_UDP', 30080));
    assert.notEqual(targetGroupNamePrefix('prod'), targetGroupNamePrefix('staging'));
    assert.equal(defaultLoadBalancerName(uid), 'a6f1c1f4e9d0a4c1e8f432b6c4b1e9a7');
    assert.equal(securityGroupName('abc'), 'k8s-slb-abc');
  });
});

describe('aws desired state', () => {
  test('one TCP port: one group on the NodePort with node IPs, one listener, open to the world', () => {
    const nlb = build({ uid: '11111111-2222-3333-4444-555555555555', name: 'web', namespace: 'shop' });
    assert.equal(nlb.name, 'a1111111122223333444455555555555');
    assert.deepEqual(nlb.subnetMappings, [{ subnetId: 'subnet-a' }, { subnetId: 'subnet-b' }]);
    assert.deepEqual(nlb.tags, {
      'kubernetes.io/cluster/test': 'owned',
      'kubernetes.io/service-name': 'shop/web',
      'kubernetes.io/service-uid': '11111111-2222-3333-4444-555555555555',
    });
    assert.deepEqual(nlb.attributes, { 'load_balancing.cross_zone.enabled': 'false' });
    assert.equal(nlb.targetGroups.length, 1);
    const tg = nlb.targetGroups[0]!;
    assert.equal(tg.protocol, 'TCP');
    assert.equal(tg.port, 30080);
    assert.deepEqual(tg.targets, [
      { id: '10.0.1.11', port: 30080 },
      { id: '10.0.2.12', port: 30080 },
    ]);
    assert.deepEqual(tg.healthCheck, {
      protocol: 'TCP',
      port: 'traffic-port',
      intervalSeconds: 10,
      timeoutSeconds: 6,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    });
    assert.deepEqual(tg.attributes, { 'stickiness.enabled': 'false', 'proxy_protocol_v2.enabled': 'false' });
    assert.deepEqual(nlb.listeners, [{ port: 80, protocol: 'TCP', targetGroupName: tg.name }]);
    assert.deepEqual(nlb.securityGroup.rules, [{ protocol: 'tcp', port: 80, cidr: '0.0.0.0/0' }]);
  });

  test('TCP and UDP on one port become TCP_UDP; different NodePorts are refused', () => {
    const nlb = build({ listeners: [tcp(53, 30053), udp(53, 30053), tcp(80, 30080)] });
    assert.deepEqual(
      nlb.listeners.map((l) => [l.port, l.protocol]),
      [
        [53, 'TCP_UDP'],
        [80, 'TCP'],
      ],
    );
    const dns = nlb.targetGroups.find((tg) => tg.protocol === 'TCP_UDP')!;
    assert.equal(dns.port, 30053);
    assert.equal(dns.attributes['proxy_protocol_v2.enabled'], undefined);
    assert.deepEqual(
      nlb.securityGroup.rules.map((r) => `${r.protocol}/${r.port}`),
      ['tcp/53', 'tcp/80', 'udp/53'],
    );
    invalid(() => build({ listeners: [tcp(53, 30053), udp(53, 30054)] }), /different nodePorts/);
  });

  test('SCTP, a missing NodePort and no ports are refused', () => {
    invalid(() => build({ listeners: [{ name: 's', protocol: 'SCTP', port: 9, nodePort: 30009 }] }), /SCTP/);
    invalid(() => build({ listeners: [tcp(80, 0)] }), /no nodePort/);
    invalid(() => build({ listeners: [] }), /no ports/);
  });

  test('eTP Local: HTTP /healthz on the healthCheckNodePort; annotations override', () => {
    const local = build({ healthCheck: { kind: 'http', port: 32000, path: '/healthz' }, externalTrafficPolicy: 'Local' });
    assert.deepEqual(local.targetGroups[0]!.healthCheck, {
      protocol: 'HTTP',
      port: '32000',
      path: '/healthz',
      matcher: '200-399',
      intervalSeconds: 10,
      timeoutSeconds: 6,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    });
    const overridden = build({
      healthCheck: { kind: 'http', port: 32000, path: '/healthz' },
      annotations: { [Annotations.healthCheckProtocol]: 'TCP', [Annotations.healthCheckInterval]: '30' },
    });
    assert.deepEqual(overridden.targetGroups[0]!.healthCheck, {
      protocol: 'TCP',
      port: '32000',
      intervalSeconds: 30,
      timeoutSeconds: 6,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    });
    const httpOnTraffic = build({ annotations: { [Annotations.healthCheckProtocol]: 'HTTP' } });
    assert.equal(httpOnTraffic.targetGroups[0]!.healthCheck.path, '/');
    assert.equal(httpOnTraffic.targetGroups[0]!.healthCheck.port, 'traffic-port');
  });

  test('a UDP-only group checks kube-proxy /healthz on 10256 (a UDP NodePort cannot answer TCP); TCP_UDP keeps TCP', () => {
    const dns = build({ listeners: [udp(53, 30053)] });
    assert.deepEqual(
      [dns.targetGroups[0]!.healthCheck.protocol, dns.targetGroups[0]!.healthCheck.port, dns.targetGroups[0]!.healthCheck.path],
      ['HTTP', '10256', '/healthz'],
    );
    const local = build({ listeners: [udp(53, 30053)], healthCheck: { kind: 'http', port: 32000, path: '/healthz' } });
    assert.equal(local.targetGroups[0]!.healthCheck.port, '32000');
    const both = build({ listeners: [tcp(53, 30053), udp(53, 30053)] });
    assert.equal(both.targetGroups[0]!.healthCheck.protocol, 'TCP');
    const overridden = build({ listeners: [udp(53, 30053)], annotations: { [Annotations.healthCheckPort]: '8080' } });
    assert.equal(overridden.targetGroups[0]!.healthCheck.port, '8080');
  });

  test('source ranges become the security group rules; none allows all', () => {
    const nlb = build({ listeners: [tcp(443, 30443)], sourceRanges: ['203.0.113.0/24', '2001:db8::/32'] });
    assert.deepEqual(nlb.securityGroup.rules, [
      { protocol: 'tcp', port: 443, cidr: '2001:db8::/32' },
      { protocol: 'tcp', port: 443, cidr: '203.0.113.0/24' },
    ]);
    assert.deepEqual(build({ listeners: [tcp(443, 30443)] }).securityGroup.rules, [{ protocol: 'tcp', port: 443, cidr: '0.0.0.0/0' }]);
  });

  test('node addresses: preference order, IPv4 only, outside the VPC gets zone "all"', () => {
    const targets = [
      node('a', '10.0.1.1', '198.51.100.1'),
      { nodeName: 'b', addresses: [{ type: 'ExternalIP', address: '198.51.100.2' }] },
      node('c', 'fd00::3'),
    ];
    const internal = build({ targets });
    assert.deepEqual(internal.targetGroups[0]!.targets, [{ id: '10.0.1.1', port: 30080 }]);
    const externalFirst = build({ targets }, { ...ctx, nodeAddressPreference: ['ExternalIP', 'InternalIP'] });
    assert.deepEqual(externalFirst.targetGroups[0]!.targets, [
      { id: '198.51.100.1', port: 30080, availabilityZone: 'all' },
      { id: '198.51.100.2', port: 30080, availabilityZone: 'all' },
    ]);
  });

  test('target-node-labels: only nodes with every label are targets, in ip and instance mode', () => {
    const labelled = (name: string, ip: string, labels?: Record<string, string>) => ({ ...node(name, ip), ...(labels ? { labels } : {}) });
    const targets = [
      labelled('edgeA', '10.0.1.1', { role: 'edge', zone: 'a' }),
      labelled('edgeB', '10.0.1.2', { role: 'edge', zone: 'b' }),
      labelled('worker', '10.0.1.3', { role: 'worker', zone: 'a' }),
      labelled('bare', '10.0.1.4'),
    ];
    const ids = (annotations: Record<string, string>, type = 'ip') =>
      build({ targets, annotations: { ...annotations, [Annotations.targetType]: type } }).targetGroups[0]!.targets.map((t) => t.id);
    assert.deepEqual(ids({}), ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4']);
    assert.deepEqual(ids({ [Annotations.targetNodeLabels]: 'role=edge' }), ['10.0.1.1', '10.0.1.2']);
    assert.deepEqual(ids({ [Annotations.targetNodeLabels]: 'role=edge,zone=a' }), ['10.0.1.1']);
    assert.deepEqual(ids({ [Annotations.targetNodeLabels]: 'zone' }), ['10.0.1.1', '10.0.1.2', '10.0.1.3'], 'a bare key: any value');
    assert.deepEqual(ids({ [Annotations.targetNodeLabels]: 'role=db' }), []);
    assert.deepEqual(ids({ [Annotations.targetNodeLabels]: 'role=edge' }, 'instance'), ['i-edgeA', 'i-edgeB']);
  });

  test('session affinity, proxy protocol and attribute annotations', () => {
    const nlb = build({
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 },
      annotations: { [Annotations.proxyProtocol]: '*', [Annotations.targetGroupAttributes]: 'deregistration_delay.timeout_seconds=15' },
    });
    assert.deepEqual(nlb.targetGroups[0]!.attributes, {
      'stickiness.enabled': 'true',
      'stickiness.type': 'source_ip',
      'proxy_protocol_v2.enabled': 'true',
      'deregistration_delay.timeout_seconds': '15',
    });
    invalid(() => build({ listeners: [udp(53, 30053)], annotations: { [Annotations.proxyProtocol]: '*' } }), /proxy protocol/);
  });

  test('EIPs: one per subnet, internet-facing only', () => {
    const nlb = build({ annotations: { [Annotations.eipAllocations]: 'eipalloc-1,eipalloc-2' } });
    assert.deepEqual(nlb.subnetMappings, [
      { subnetId: 'subnet-a', allocationId: 'eipalloc-1' },
      { subnetId: 'subnet-b', allocationId: 'eipalloc-2' },
    ]);
    invalid(() => build({ annotations: { [Annotations.eipAllocations]: 'eipalloc-1' } }), /1 allocations for 2 subnets/);
    invalid(
      () => build({ annotations: { [Annotations.eipAllocations]: 'eipalloc-1,eipalloc-2' } }, { ...ctx, scheme: 'internal' }),
      /internet-facing/,
    );
  });

  test('additional tags go everywhere, cross-zone follows its annotation', () => {
    const nlb = build({ annotations: { [Annotations.additionalTags]: 'team=web', [Annotations.crossZone]: 'true' } });
    assert.equal(nlb.tags['team'], 'web');
    assert.equal(nlb.attributes['load_balancing.cross_zone.enabled'], 'true');
  });

  test('spec.loadBalancerIP is refused with a pointer to the EIP annotation', () => {
    invalid(() => build({ requestedIPs: ['203.0.113.9'] }), /loadBalancerIP.*aws-load-balancer-eip-allocations/);
  });

  test('a load balancer name AWS would refuse is an invalid Service', () => {
    const desired = desiredService();
    desired.identity.lbName = 'internal-abc';
    invalid(() => buildDesiredNlb(desired, parseAwsAnnotations({}), ctx), /not valid on AWS/);
  });
});
