// observed + desired -> ordered list of AWS changes (for a sync, a node change, or a deletion). Pure.
//
// Order matters for AWS and for crashes: the security group exists before the load balancer that needs it;
// a target group is filled before a listener points at it; a listener moves (or goes) before the group it
// used is deleted; rules are revoked last. Every step is re-derivable from what is in AWS, so a sync that
// stops anywhere is finished by the next one.

import { ruleKey } from './desired.ts';
import {
  NLB_DEFAULT_ATTRIBUTES,
  TARGET_GROUP_DEFAULT_ATTRIBUTES,
  type Action,
  type DesiredNlb,
  type DesiredTargetGroup,
  type HealthCheckSettings,
  type ObservedDeletion,
  type ObservedLoadBalancerResource,
  type ObservedNlb,
  type ObservedTargetGroup,
  type SubnetMapping,
  type TargetRef,
} from './model.ts';
import { chunk, diffTargets } from './targets.ts';

export function changedEntries(observed: Readonly<Record<string, string>>, desired: Record<string, string>): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const [key, value] of Object.entries(desired)) if (observed[key] !== value) changed[key] = value;
  return changed;
}

function isEmpty(record: Record<string, string>): boolean {
  return Object.keys(record).length === 0;
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

function allocationKeys(mappings: SubnetMapping[]): string[] {
  return mappings.filter((m) => m.allocationId).map((m) => `${m.subnetId}=${m.allocationId}`);
}

/** Why the load balancer must be replaced (AWS cannot change these in place), or undefined. */
export function recreateReason(lb: ObservedLoadBalancerResource, desired: DesiredNlb): string | undefined {
  if (lb.type !== 'network') return `it is a ${lb.type} load balancer, not a network one`;
  if (lb.scheme !== desired.scheme) return `scheme changes from ${lb.scheme} to ${desired.scheme}`;
  if (lb.securityGroups.length === 0) return 'it has no security group, and an NLB cannot get one after creation';
  const wantsEips = desired.subnetMappings.some((m) => m.allocationId);
  if (
    wantsEips &&
    !sameSet(
      lb.subnetMappings.map((m) => m.subnetId),
      desired.subnetMappings.map((m) => m.subnetId),
    )
  ) {
    return 'subnets with EIP allocations change';
  }
  if (lb.allocationsKnown && !sameSet(allocationKeys(lb.subnetMappings), allocationKeys(desired.subnetMappings))) {
    return 'EIP allocations change';
  }
  return undefined;
}

export function healthCheckDiffers(observed: Partial<HealthCheckSettings>, desired: HealthCheckSettings): boolean {
  const fields: Array<keyof HealthCheckSettings> = [
    'protocol',
    'port',
    'intervalSeconds',
    'timeoutSeconds',
    'healthyThreshold',
    'unhealthyThreshold',
  ];
  if (desired.protocol !== 'TCP') fields.push('path', 'matcher');
  return fields.some((f) => observed[f] !== desired[f]);
}

function planTargetGroup(observed: ObservedTargetGroup | undefined, desired: DesiredTargetGroup, tags: Record<string, string>): Action[] {
  const actions: Action[] = [];
  const name = desired.name;
  if (!observed) {
    actions.push({ type: 'createTargetGroup', targetGroup: desired, tags });
  } else {
    if (healthCheckDiffers(observed.healthCheck, desired.healthCheck))
      actions.push({ type: 'modifyTargetGroup', name, healthCheck: desired.healthCheck });
    const missingTags = changedEntries(observed.tags, tags);
    if (!isEmpty(missingTags)) actions.push({ type: 'tagTargetGroup', name, tags: missingTags });
  }
  // A key AWS does not report is at its default (moto omits some that AWS always lists).
  const attributes = changedEntries({ ...TARGET_GROUP_DEFAULT_ATTRIBUTES, ...observed?.attributes }, desired.attributes);
  if (!isEmpty(attributes)) actions.push({ type: 'modifyTargetGroupAttributes', name, attributes });
  actions.push(...planTargets(observed?.targets ?? [], desired));
  return actions;
}

/** The registrations that turn a group's observed targets into desired ones, at most 100 per call. */
export function planTargets(observed: TargetRef[], desired: Pick<DesiredTargetGroup, 'name' | 'targets'>): Action[] {
  const { name } = desired;
  const changes = diffTargets(observed, desired.targets);
  const actions: Action[] = [];
  // Deregister before register: a group at its target quota could otherwise never take the new nodes.
  for (const targets of chunk(changes.deregister)) actions.push({ type: 'deregisterTargets', name, targets });
  for (const targets of chunk(changes.register)) actions.push({ type: 'registerTargets', name, targets });
  return actions;
}

/**
 * Everything of a Service, in the order AWS lets it go: listeners, then the load balancer (a group in use
 * cannot be deleted), then the groups, then the security group (attached until the load balancer is gone).
 * A load balancer with our name but not our tags is left alone.
 */
export function planDeletion(observed: ObservedDeletion): Action[] {
  const actions: Action[] = [];
  const lb = observed.loadBalancer;
  if (lb?.owned) {
    for (const l of lb.listeners) actions.push({ type: 'deleteListener', arn: l.arn, port: l.port });
    actions.push({ type: 'deleteLoadBalancer', arn: lb.arn });
  }
  for (const tg of observed.targetGroups) actions.push({ type: 'deleteTargetGroup', arn: tg.arn, name: tg.name });
  for (const id of observed.securityGroupIds) actions.push({ type: 'deleteSecurityGroup', id });
  return actions;
}

export function planNlb(observed: ObservedNlb, desired: DesiredNlb): Action[] {
  const actions: Action[] = [];

  // Security group first: an NLB only ever gets one if it has one from its creation.
  const sg = observed.securityGroup;
  if (!sg) {
    actions.push({
      type: 'createSecurityGroup',
      name: desired.securityGroup.name,
      description: desired.securityGroup.description,
      tags: desired.tags,
    });
  } else {
    const missingTags = changedEntries(sg.tags, desired.tags);
    if (!isEmpty(missingTags)) actions.push({ type: 'tagSecurityGroup', tags: missingTags });
  }
  const haveRules = new Set((sg?.rules ?? []).map(ruleKey));
  const wantRules = new Set(desired.securityGroup.rules.map(ruleKey));
  const authorize = desired.securityGroup.rules.filter((r) => !haveRules.has(ruleKey(r)));
  const revoke = (sg?.rules ?? []).filter((r) => !wantRules.has(ruleKey(r)));
  if (authorize.length > 0) actions.push({ type: 'authorizeIngress', rules: authorize });

  // Load balancer.
  const lb = observed.loadBalancer;
  const reason = lb ? recreateReason(lb, desired) : undefined;
  const creating = !lb || reason !== undefined;
  if (lb && reason !== undefined) actions.push({ type: 'deleteLoadBalancer', arn: lb.arn, reason });
  if (creating) {
    actions.push({
      type: 'createLoadBalancer',
      name: desired.name,
      scheme: desired.scheme,
      subnetMappings: desired.subnetMappings,
      tags: desired.tags,
    });
  } else {
    if (
      !sameSet(
        lb.subnetMappings.map((m) => m.subnetId),
        desired.subnetMappings.map((m) => m.subnetId),
      )
    ) {
      actions.push({ type: 'setSubnets', subnetMappings: desired.subnetMappings });
    }
    if (!sg || !sameSet(lb.securityGroups, [sg.id])) actions.push({ type: 'setSecurityGroups' });
    const missingTags = changedEntries(lb.tags, desired.tags);
    if (!isEmpty(missingTags)) actions.push({ type: 'tagLoadBalancer', tags: missingTags });
  }
  const lbAttributes = changedEntries(creating ? NLB_DEFAULT_ATTRIBUTES : { ...NLB_DEFAULT_ATTRIBUTES, ...lb.attributes }, {
    'load_balancing.cross_zone.enabled': String(desired.crossZone),
  });
  if (!isEmpty(lbAttributes)) actions.push({ type: 'modifyLoadBalancerAttributes', attributes: lbAttributes });

  // Target groups, filled before any listener points at them.
  const observedGroups = new Map(observed.targetGroups.map((tg) => [tg.name, tg]));
  for (const tg of desired.targetGroups) actions.push(...planTargetGroup(observedGroups.get(tg.name), tg, desired.tags));

  // Listeners: create or switch first, delete the ones whose port is gone after.
  const arnByName = new Map(observed.targetGroups.map((tg) => [tg.name, tg.arn]));
  const observedListeners = creating ? [] : observed.listeners;
  const listenerByPort = new Map(observedListeners.map((l) => [l.port, l]));
  for (const l of desired.listeners) {
    const current = listenerByPort.get(l.port);
    if (!current) {
      actions.push({ type: 'createListener', port: l.port, protocol: l.protocol, targetGroupName: l.targetGroupName });
    } else if (
      current.protocol !== l.protocol ||
      current.targetGroupArn === undefined ||
      current.targetGroupArn !== arnByName.get(l.targetGroupName)
    ) {
      actions.push({ type: 'modifyListener', arn: current.arn, port: l.port, protocol: l.protocol, targetGroupName: l.targetGroupName });
    }
  }
  const desiredPorts = new Set(desired.listeners.map((l) => l.port));
  for (const l of observedListeners) if (!desiredPorts.has(l.port)) actions.push({ type: 'deleteListener', arn: l.arn, port: l.port });

  // Groups nothing points at any more (old NodePort, removed port, leftovers of an interrupted sync).
  const desiredNames = new Set(desired.targetGroups.map((tg) => tg.name));
  for (const tg of observed.targetGroups)
    if (!desiredNames.has(tg.name)) actions.push({ type: 'deleteTargetGroup', arn: tg.arn, name: tg.name });

  if (revoke.length > 0) actions.push({ type: 'revokeIngress', rules: revoke });
  return actions;
}
