// observed + desired -> ordered list of AWS changes (for a sync, a node change, or a deletion). Pure.
//
// Order matters for AWS and for crashes: the security group exists before the load balancer that needs it;
// a target group is filled before a listener points at it; a listener moves (or goes) before the group it
// used is deleted; rules are revoked last. Every step is re-derivable from what is in AWS, so a sync that
// stops anywhere is finished by the next one.

import { ruleKey } from './desired.ts';
import {
  NLB_DEFAULT_ATTRIBUTES,
  type BackendRule,
  type ListenerTls,
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

function privateAddressKeys(mappings: SubnetMapping[]): string[] {
  return mappings.filter((m) => m.privateIPv4Address).map((m) => `${m.subnetId}=${m.privateIPv4Address}`);
}

function backendKey(rule: BackendRule): string {
  const ports = rule.toPort !== undefined && rule.toPort !== rule.port ? `${rule.port}-${rule.toPort}` : String(rule.port);
  return `${rule.groupId}/${rule.protocol}/${ports}`;
}

function sameTls(observed: ListenerTls | undefined, desired: ListenerTls | undefined): boolean {
  if (!observed || !desired) return observed === desired;
  return (
    observed.certificates[0] === desired.certificates[0] &&
    observed.sslPolicy === desired.sslPolicy &&
    observed.alpnPolicy === desired.alpnPolicy
  );
}

/** Why the load balancer must be replaced (AWS cannot change these in place), or undefined. */
export function recreateReason(lb: ObservedLoadBalancerResource, desired: DesiredNlb): string | undefined {
  if (lb.type !== 'network') return `it is a ${lb.type} load balancer, not a network one`;
  if (lb.name !== desired.name) return `its name changes from ${lb.name} to ${desired.name}`;
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
  const wantsPrivateIps = desired.subnetMappings.some((m) => m.privateIPv4Address);
  if (
    lb.allocationsKnown &&
    wantsPrivateIps &&
    !sameSet(privateAddressKeys(lb.subnetMappings), privateAddressKeys(desired.subnetMappings))
  ) {
    return 'private IPv4 addresses change';
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
  // Rules on node groups that name one of ours go first: a group still named by a rule cannot be deleted.
  const bySource = new Map<string, BackendRule[]>();
  for (const { sourceGroupId, ...rule } of observed.backendRules)
    bySource.set(sourceGroupId, [...(bySource.get(sourceGroupId) ?? []), rule]);
  for (const [sourceGroupId, rules] of bySource) actions.push({ type: 'revokeBackend', rules, sourceGroupId });
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

  // Security group first: an NLB only ever gets one if it has one from its creation. With the
  // security-groups annotation ours is not wanted: it is detached below and deleted last.
  const external = desired.securityGroupIds;
  const sg = observed.securityGroup;
  if (!external) {
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
  }
  const haveRules = new Set((sg?.rules ?? []).map(ruleKey));
  const wantRules = new Set(external ? [] : desired.securityGroup.rules.map(ruleKey));
  const authorize = external ? [] : desired.securityGroup.rules.filter((r) => !haveRules.has(ruleKey(r)));
  const revoke = external ? [] : (sg?.rules ?? []).filter((r) => !wantRules.has(ruleKey(r)));
  if (authorize.length > 0) actions.push({ type: 'authorizeIngress', rules: authorize });
  const haveBackend = new Set(observed.backendRules.map(backendKey));
  const wantBackend = new Set(desired.backendRules.map(backendKey));
  const authorizeBackend = desired.backendRules.filter((r) => !haveBackend.has(backendKey(r)));
  const revokeBackend = observed.backendRules.filter((r) => !wantBackend.has(backendKey(r)));
  if (authorizeBackend.length > 0) actions.push({ type: 'authorizeBackend', rules: authorizeBackend });

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
      ipAddressType: desired.ipAddressType,
      subnetMappings: desired.subnetMappings,
      ...(external ? { securityGroupIds: external } : {}),
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
    if (lb.ipAddressType !== desired.ipAddressType) actions.push({ type: 'setIpAddressType', ipAddressType: desired.ipAddressType });
    if (external) {
      if (!sameSet(lb.securityGroups, external)) actions.push({ type: 'setSecurityGroups', ids: external });
    } else if (!sg || !sameSet(lb.securityGroups, [sg.id])) {
      actions.push({ type: 'setSecurityGroups' });
    }
    const missingTags = changedEntries(lb.tags, desired.tags);
    if (!isEmpty(missingTags)) actions.push({ type: 'tagLoadBalancer', tags: missingTags });
  }
  const lbAttributes = changedEntries(
    creating ? NLB_DEFAULT_ATTRIBUTES : { ...NLB_DEFAULT_ATTRIBUTES, ...lb.attributes },
    desired.attributes,
  );
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
    const tls = l.tls ? { tls: l.tls } : {};
    if (!current) {
      actions.push({ type: 'createListener', port: l.port, protocol: l.protocol, targetGroupName: l.targetGroupName, ...tls });
    } else if (
      current.protocol !== l.protocol ||
      current.targetGroupArn === undefined ||
      current.targetGroupArn !== arnByName.get(l.targetGroupName) ||
      !sameTls(current.tls, l.tls)
    ) {
      actions.push({
        type: 'modifyListener',
        arn: current.arn,
        port: l.port,
        // Left out when unchanged: AWS keeps it, and moto refuses UDP, TCP_UDP and TLS here (test/aws-moto-quirks.md).
        ...(current.protocol !== l.protocol ? { protocol: l.protocol } : {}),
        targetGroupName: l.targetGroupName,
        ...tls,
      });
    }
    // The certificate list beyond the default one is kept apart from the listener.
    const haveExtra = current?.tls?.certificates.slice(1) ?? [];
    const wantExtra = l.tls?.certificates.slice(1) ?? [];
    const add = wantExtra.filter((c) => !haveExtra.includes(c));
    const remove = haveExtra.filter((c) => !wantExtra.includes(c) && c !== l.tls?.certificates[0]);
    if (add.length > 0) actions.push({ type: 'addListenerCertificates', port: l.port, certificates: add });
    if (remove.length > 0) actions.push({ type: 'removeListenerCertificates', port: l.port, certificates: remove });
  }
  const desiredPorts = new Set(desired.listeners.map((l) => l.port));
  for (const l of observedListeners) if (!desiredPorts.has(l.port)) actions.push({ type: 'deleteListener', arn: l.arn, port: l.port });

  // Groups nothing points at any more (old NodePort, removed port, leftovers of an interrupted sync).
  const desiredNames = new Set(desired.targetGroups.map((tg) => tg.name));
  for (const tg of observed.targetGroups)
    if (!desiredNames.has(tg.name)) actions.push({ type: 'deleteTargetGroup', arn: tg.arn, name: tg.name });

  if (revoke.length > 0) actions.push({ type: 'revokeIngress', rules: revoke });
  if (revokeBackend.length > 0) actions.push({ type: 'revokeBackend', rules: revokeBackend });
  // Ours, replaced by the annotation's groups: no rule on a node group names it any more, nothing uses it.
  if (external && sg) actions.push({ type: 'deleteSecurityGroup', id: sg.id });
  return actions;
}
