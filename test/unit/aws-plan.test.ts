// The pure planners: a full sync (planNlb), a node change (planTargets) and a deletion (planDeletion).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAwsAnnotations } from '../../src/providers/aws/annotations.ts';
import { buildDesiredNlb, type NlbContext } from '../../src/providers/aws/desired.ts';
import type { Action, DesiredNlb, ObservedDeletion, ObservedNlb, TargetRef } from '../../src/providers/aws/model.ts';
import { planDeletion, planNlb, planTargets } from '../../src/providers/aws/plan.ts';
import { desiredService, node, tcp, udp } from '../fakes/aws-service.ts';

const ctx: NlbContext = {
  clusterName: 'test',
  scheme: 'internet-facing',
  subnetIds: ['subnet-a', 'subnet-b'],
  vpcCidrs: ['10.0.0.0/16'],
  nodeAddressPreference: ['InternalIP'],
  nodeSecurityGroupIds: [],
};
const UID = '11111111-2222-3333-4444-555555555555';

function nlbOf(overrides: Parameters<typeof desiredService>[0] = {}): DesiredNlb {
  const d = desiredService({ uid: UID, ...overrides });
  return buildDesiredNlb(d, parseAwsAnnotations(d.annotations), ctx);
}

/** What AWS holds once `nlb` has been applied completely. */
function inSync(nlb: DesiredNlb): ObservedNlb {
  const arn = (name: string) => `arn:tg/${name}`;
  return {
    loadBalancer: {
      arn: 'arn:lb',
      name: nlb.name,
      dnsName: 'lb.example',
      type: 'network',
      scheme: nlb.scheme,
      ipAddressType: nlb.ipAddressType,
      subnetMappings: nlb.subnetMappings,
      allocationsKnown: true,
      securityGroups: ['sg-1'],
      tags: nlb.tags,
      attributes: { ...nlb.attributes, 'deletion_protection.enabled': 'false' },
    },
    listeners: nlb.listeners.map((l) => ({
      arn: `arn:listener/${l.port}`,
      port: l.port,
      protocol: l.protocol,
      targetGroupArn: arn(l.targetGroupName),
    })),
    targetGroups: nlb.targetGroups.map((tg) => ({
      arn: arn(tg.name),
      name: tg.name,
      protocol: tg.protocol,
      port: tg.port,
      healthCheck: tg.healthCheck,
      attributes: { ...tg.attributes, 'slow_start.duration_seconds': '0' },
      tags: nlb.tags,
      targets: tg.targets,
    })),
    securityGroup: { id: 'sg-1', name: nlb.securityGroup.name, rules: nlb.securityGroup.rules, tags: nlb.tags },
    backendRules: nlb.backendRules,
  };
}

const types = (actions: Action[]) => actions.map((a) => a.type);

function ips(n: number, base = 1): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.${Math.floor((base + i) / 250)}.${((base + i) % 250) + 1}`);
}

describe('aws plan', () => {
  test('nothing exists: SG, rules, LB, group, targets, listener, in that order', () => {
    const nlb = nlbOf();
    const actions = planNlb({ listeners: [], targetGroups: [], backendRules: [] }, nlb);
    assert.deepEqual(types(actions), [
      'createSecurityGroup',
      'authorizeIngress',
      'createLoadBalancer',
      'createTargetGroup',
      'registerTargets',
      'createListener',
    ]);
    const create = actions[2] as Extract<Action, { type: 'createLoadBalancer' }>;
    assert.equal(create.name, nlb.name);
    assert.deepEqual(create.tags, nlb.tags);
  });

  test('in sync: no action at all', () => {
    const nlb = nlbOf({ listeners: [tcp(80, 30080), tcp(443, 30443), udp(53, 30053)], sourceRanges: ['192.0.2.0/24'] });
    assert.deepEqual(planNlb(inSync(nlb), nlb), []);
  });

  test('NodePort change: new group filled, listener switched, old group deleted - in that order', () => {
    const before = nlbOf({ listeners: [tcp(80, 30080)] });
    const after = nlbOf({ listeners: [tcp(80, 30099)] });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['createTargetGroup', 'registerTargets', 'modifyListener', 'deleteTargetGroup']);
    assert.equal((actions[2] as Extract<Action, { type: 'modifyListener' }>).targetGroupName, after.targetGroups[0]!.name);
    assert.equal((actions[3] as Extract<Action, { type: 'deleteTargetGroup' }>).name, before.targetGroups[0]!.name);
  });

  test('port removed: its listener goes before its group; its rule is revoked last', () => {
    const before = nlbOf({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    const after = nlbOf({ listeners: [tcp(80, 30080)] });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['deleteListener', 'deleteTargetGroup', 'revokeIngress']);
    assert.equal((actions[0] as Extract<Action, { type: 'deleteListener' }>).port, 443);
  });

  test('port number changed, same NodePort: the group is kept, a listener is created and the old one deleted', () => {
    const before = nlbOf({ listeners: [tcp(80, 30080)] });
    const after = nlbOf({ listeners: [tcp(8080, 30080)] });
    assert.deepEqual(types(planNlb(inSync(before), after)), ['authorizeIngress', 'createListener', 'deleteListener', 'revokeIngress']);
  });

  test('UDP added on a TCP port: a TCP_UDP group replaces the TCP one and the listener changes protocol', () => {
    const before = nlbOf({ listeners: [tcp(53, 30053)] });
    const after = nlbOf({ listeners: [tcp(53, 30053), udp(53, 30053)] });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['authorizeIngress', 'createTargetGroup', 'registerTargets', 'modifyListener', 'deleteTargetGroup']);
    assert.equal((actions[3] as Extract<Action, { type: 'modifyListener' }>).protocol, 'TCP_UDP');
  });

  test('nodes added and removed: deregister before register, at most 100 per call', () => {
    const before = nlbOf({ targets: ips(150).map((ip, i) => node(`old${i}`, ip)) });
    const after = nlbOf({ targets: ips(230, 151).map((ip, i) => node(`new${i}`, ip)) });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['deregisterTargets', 'deregisterTargets', 'registerTargets', 'registerTargets', 'registerTargets']);
    const sizes = actions.map((a) => ('targets' in a ? (a.targets as TargetRef[]).length : 0));
    assert.deepEqual(sizes, [100, 50, 100, 100, 30]);
    const deregistered = new Set(
      actions.filter((a) => a.type === 'deregisterTargets').flatMap((a) => (a as { targets: TargetRef[] }).targets.map((t) => t.id)),
    );
    assert.deepEqual([...deregistered].sort(), ips(150).sort());
  });

  test('a draining target counts as gone and is registered again', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.targetGroups[0]!.targets = observed.targetGroups[0]!.targets.slice(1);
    assert.deepEqual(types(planNlb(observed, nlb)), ['registerTargets']);
  });

  test('eTP Local switch: the health check is modified in place', () => {
    const before = nlbOf();
    const after = nlbOf({ healthCheck: { kind: 'http', port: 32100, path: '/healthz' }, externalTrafficPolicy: 'Local' });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['modifyTargetGroup']);
    assert.equal((actions[0] as Extract<Action, { type: 'modifyTargetGroup' }>).healthCheck.port, '32100');
  });

  test('source ranges changed: new rules authorized first, old revoked last', () => {
    const before = nlbOf();
    const after = nlbOf({ sourceRanges: ['198.51.100.0/24'] });
    const actions = planNlb(inSync(before), after);
    assert.deepEqual(types(actions), ['authorizeIngress', 'revokeIngress']);
    assert.deepEqual((actions[0] as Extract<Action, { type: 'authorizeIngress' }>).rules, [
      { protocol: 'tcp', port: 80, cidr: '198.51.100.0/24' },
    ]);
    assert.deepEqual((actions[1] as Extract<Action, { type: 'revokeIngress' }>).rules, [{ protocol: 'tcp', port: 80, cidr: '0.0.0.0/0' }]);
  });

  test('scheme change replaces the load balancer and recreates its listeners, keeping the groups', () => {
    const before = nlbOf();
    const after = nlbOf({ annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal' } });
    const internal = { ...after, scheme: 'internal' as const };
    const actions = planNlb(inSync(before), internal);
    assert.deepEqual(types(actions), ['deleteLoadBalancer', 'createLoadBalancer', 'createListener']);
  });

  test('an NLB without security groups is replaced (AWS cannot add one later)', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.loadBalancer!.securityGroups = [];
    assert.deepEqual(types(planNlb(observed, nlb)), ['deleteLoadBalancer', 'createLoadBalancer', 'createListener']);
  });

  test('EIPs are compared only when AWS reported them', () => {
    const nlb = {
      ...nlbOf(),
      subnetMappings: [
        { subnetId: 'subnet-a', allocationId: 'eipalloc-1' },
        { subnetId: 'subnet-b', allocationId: 'eipalloc-2' },
      ],
    };
    const observed = inSync(nlb);
    observed.loadBalancer!.subnetMappings = [{ subnetId: 'subnet-a' }, { subnetId: 'subnet-b' }];
    observed.loadBalancer!.allocationsKnown = false;
    assert.deepEqual(planNlb(observed, nlb), []);
    observed.loadBalancer!.allocationsKnown = true;
    assert.deepEqual(types(planNlb(observed, nlb)), ['deleteLoadBalancer', 'createLoadBalancer', 'createListener']);
  });

  test('subnets changed without EIPs: set in place', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.loadBalancer!.subnetMappings = [{ subnetId: 'subnet-a' }];
    assert.deepEqual(types(planNlb(observed, nlb)), ['setSubnets']);
  });

  test('lost pieces are recreated: listener deleted by hand, security group detached, tags stripped', () => {
    const nlb = nlbOf({ listeners: [tcp(80, 30080), tcp(443, 30443)] });
    const observed = inSync(nlb);
    observed.listeners = observed.listeners.filter((l) => l.port !== 443);
    observed.loadBalancer!.securityGroups = ['sg-other'];
    observed.loadBalancer!.tags = { ...nlb.tags, 'kubernetes.io/service-name': 'x/y' };
    assert.deepEqual(types(planNlb(observed, nlb)), ['setSecurityGroups', 'tagLoadBalancer', 'createListener']);
  });

  test('a listener forwarding to a group that is not ours is switched back', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.listeners[0]!.targetGroupArn = 'arn:tg/someone-else';
    assert.deepEqual(types(planNlb(observed, nlb)), ['modifyListener']);
  });

  test('leftovers of an interrupted sync: a detached group of ours is deleted', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.targetGroups.push({ ...observed.targetGroups[0]!, arn: 'arn:tg/leftover', name: 'k8s-x-leftover' });
    assert.deepEqual(types(planNlb(observed, nlb)), ['deleteTargetGroup']);
  });

  test('restart after a crash between CreateTargetGroup and CreateListener: the group is reused', () => {
    const nlb = nlbOf();
    const observed = inSync(nlb);
    observed.listeners = [];
    observed.targetGroups[0]!.targets = [];
    assert.deepEqual(types(planNlb(observed, nlb)), ['registerTargets', 'createListener']);
  });

  test('attributes: only differing keys are written; a new group assumes AWS defaults', () => {
    const nlb = nlbOf({
      sessionAffinity: { type: 'ClientIP' },
      annotations: { 'service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled': 'true' },
    });
    const fresh = planNlb({ listeners: [], targetGroups: [], backendRules: [] }, nlb);
    const tgAttrs = fresh.find((a) => a.type === 'modifyTargetGroupAttributes') as Extract<Action, { type: 'modifyTargetGroupAttributes' }>;
    assert.deepEqual(tgAttrs.attributes, { 'stickiness.enabled': 'true', 'stickiness.type': 'source_ip' });
    const lbAttrs = fresh.find((a) => a.type === 'modifyLoadBalancerAttributes') as Extract<
      Action,
      { type: 'modifyLoadBalancerAttributes' }
    >;
    assert.deepEqual(lbAttrs.attributes, { 'load_balancing.cross_zone.enabled': 'true' });
    assert.ok(types(fresh).indexOf('modifyLoadBalancerAttributes') > types(fresh).indexOf('createLoadBalancer'));
  });
});

describe('aws plan: targets', () => {
  const t = (id: string, port = 30080): TargetRef => ({ id, port });

  test('in sync: nothing to do', () => {
    assert.deepEqual(planTargets([t('10.0.0.1'), t('10.0.0.2')], { name: 'tg', targets: [t('10.0.0.2'), t('10.0.0.1')] }), []);
  });

  test('the desired group by name; deregister before register; a moved port is a different target', () => {
    const actions = planTargets([t('10.0.0.1'), t('10.0.0.2')], { name: 'tg', targets: [t('10.0.0.2', 30099), t('10.0.0.3')] });
    assert.deepEqual(actions, [
      { type: 'deregisterTargets', name: 'tg', targets: [t('10.0.0.1'), t('10.0.0.2')] },
      { type: 'registerTargets', name: 'tg', targets: [t('10.0.0.2', 30099), t('10.0.0.3')] },
    ]);
  });

  test('at most 100 targets per call, zone "all" kept on registration', () => {
    const observed = ips(101).map((ip) => t(ip));
    const desired = ips(201, 200).map((ip) => ({ ...t(ip), availabilityZone: 'all' as const }));
    const actions = planTargets(observed, { name: 'tg', targets: desired });
    assert.deepEqual(types(actions), ['deregisterTargets', 'deregisterTargets', 'registerTargets', 'registerTargets', 'registerTargets']);
    assert.deepEqual(
      actions.map((a) => ('targets' in a ? a.targets.length : 0)),
      [100, 1, 100, 100, 1],
    );
    const registered = actions.filter((a) => a.type === 'registerTargets').flatMap((a) => ('targets' in a ? a.targets : []));
    assert.ok(registered.every((r) => r.availabilityZone === 'all'));
  });
});

describe('aws plan: deletion', () => {
  const everything: ObservedDeletion = {
    loadBalancer: {
      arn: 'arn:lb',
      owned: true,
      listeners: [
        { arn: 'arn:listener/80', port: 80, protocol: 'TCP', targetGroupArn: 'arn:tg/a' },
        { arn: 'arn:listener/443', port: 443, protocol: 'TCP', targetGroupArn: 'arn:tg/b' },
      ],
    },
    targetGroups: [
      { arn: 'arn:tg/a', name: 'a' },
      { arn: 'arn:tg/b', name: 'b' },
    ],
    securityGroupIds: ['sg-1'],
    backendRules: [],
  };

  test('listeners, load balancer, target groups, security group, in that order', () => {
    assert.deepEqual(planDeletion(everything), [
      { type: 'deleteListener', arn: 'arn:listener/80', port: 80 },
      { type: 'deleteListener', arn: 'arn:listener/443', port: 443 },
      { type: 'deleteLoadBalancer', arn: 'arn:lb' },
      { type: 'deleteTargetGroup', arn: 'arn:tg/a', name: 'a' },
      { type: 'deleteTargetGroup', arn: 'arn:tg/b', name: 'b' },
      { type: 'deleteSecurityGroup', id: 'sg-1' },
    ]);
  });

  test('a deletion is not a replacement: no reason on the load balancer delete', () => {
    const deleteLb = planDeletion(everything).find((a) => a.type === 'deleteLoadBalancer');
    assert.ok(deleteLb && !('reason' in deleteLb));
  });

  test('a load balancer with our name but not our tags is left alone; our groups still go', () => {
    const foreign: ObservedDeletion = { ...everything, loadBalancer: { arn: 'arn:lb', owned: false, listeners: [] } };
    assert.deepEqual(types(planDeletion(foreign)), ['deleteTargetGroup', 'deleteTargetGroup', 'deleteSecurityGroup']);
  });

  test('what is already gone is not planned: a crash leftover, or nothing at all', () => {
    assert.deepEqual(planDeletion({ targetGroups: [], securityGroupIds: ['sg-1'], backendRules: [] }), [
      { type: 'deleteSecurityGroup', id: 'sg-1' },
    ]);
    assert.deepEqual(
      types(
        planDeletion({
          loadBalancer: { arn: 'arn:lb', owned: true, listeners: [] },
          targetGroups: [],
          securityGroupIds: [],
          backendRules: [],
        }),
      ),
      ['deleteLoadBalancer'],
    );
    assert.deepEqual(planDeletion({ targetGroups: [], securityGroupIds: [], backendRules: [] }), []);
  });
});
