// Reads what exists in AWS for one Service (the full, slow path; a deletion) and the shared read helpers.

import { DescribeAddressesCommand, DescribeSecurityGroupsCommand, type SecurityGroup } from '@aws-sdk/client-ec2';
import {
  DescribeListenerCertificatesCommand,
  DescribeListenersCommand,
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type Listener,
  type LoadBalancer,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { invalidService, serviceKey, type LoadBalancerIdentity } from '../provider.ts';
import { Annotations } from './annotations.ts';
import type { AwsApi } from './api.ts';
import { isAwsError } from './errors.ts';
import type {
  BackendRule,
  DesiredNlb,
  HealthCheckProtocol,
  ObservedDeletion,
  ObservedListener,
  ObservedLoadBalancerResource,
  ObservedNlb,
  ObservedSecurityGroup,
  ObservedTargetGroup,
  Scheme,
  SgRule,
  SubnetMapping,
  TargetRef,
} from './model.ts';
import { chunk } from './targets.ts';

/** DescribeTags takes at most 20 ARNs. */
const TAGS_PER_CALL = 20;

export function ownedBy(tags: Record<string, string>, identity: Pick<LoadBalancerIdentity, 'clusterName' | 'uid'>): boolean {
  return tags[`kubernetes.io/cluster/${identity.clusterName}`] === 'owned' && tags['kubernetes.io/service-uid'] === identity.uid;
}

/**
 * Made by cloud-provider-aws for this Service: the same cluster and Service name tags, but no Service UID
 * tag (it never writes one). Such a load balancer, and the target groups its listeners use, are adopted.
 */
export function adoptable(tags: Record<string, string>, identity: LoadBalancerIdentity): boolean {
  return (
    tags[`kubernetes.io/cluster/${identity.clusterName}`] === 'owned' &&
    tags['kubernetes.io/service-name'] === serviceKey(identity) &&
    tags['kubernetes.io/service-uid'] === undefined
  );
}

export function tagRecord(tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) record[t.Key] = t.Value ?? '';
  return record;
}

export async function describeTags(api: AwsApi, arns: string[]): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>();
  for (const batch of chunk(arns, TAGS_PER_CALL)) {
    const out = await api.elb(new DescribeTagsCommand({ ResourceArns: batch }));
    for (const d of out.TagDescriptions ?? []) if (d.ResourceArn) result.set(d.ResourceArn, tagRecord(d.Tags));
  }
  return result;
}

export async function readLoadBalancer(api: AwsApi, name: string): Promise<LoadBalancer | undefined> {
  try {
    const out = await api.elb(new DescribeLoadBalancersCommand({ Names: [name] }));
    return out.LoadBalancers?.[0];
  } catch (err) {
    if (isAwsError(err, 'LoadBalancerNotFound')) return undefined;
    throw err;
  }
}

/** Target groups some listener of the load balancer forwards to. */
export async function attachedTargetGroups(api: AwsApi, loadBalancerArn: string): Promise<TargetGroup[]> {
  try {
    const out = await api.elb(new DescribeTargetGroupsCommand({ LoadBalancerArn: loadBalancerArn }));
    return out.TargetGroups ?? [];
  } catch (err) {
    // AWS answers an empty list; moto answers TargetGroupNotFound. Both mean "none".
    if (isAwsError(err, 'TargetGroupNotFound')) return [];
    throw err;
  }
}

export async function readTargetGroup(api: AwsApi, arn: string): Promise<TargetGroup | undefined> {
  try {
    const out = await api.elb(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }));
    return out.TargetGroups?.[0];
  } catch (err) {
    if (isAwsError(err, 'TargetGroupNotFound')) return undefined;
    throw err;
  }
}

export async function listAll<T>(page: (marker: string | undefined) => Promise<{ items: T[]; next: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  do {
    const { items, next } = await page(marker);
    all.push(...items);
    marker = next;
  } while (marker);
  return all;
}

export async function readSecurityGroups(api: AwsApi, filters: Array<{ Name: string; Values: string[] }>): Promise<SecurityGroup[]> {
  return listAll(async (NextToken) => {
    const out = await api.ec2(new DescribeSecurityGroupsCommand({ Filters: filters, ...(NextToken ? { NextToken } : {}) }));
    return { items: out.SecurityGroups ?? [], next: out.NextToken };
  });
}

function toObservedListener(l: Listener): ObservedListener {
  const listener: ObservedListener = { arn: l.ListenerArn!, port: l.Port ?? 0, protocol: l.Protocol ?? '' };
  const forward = l.DefaultActions?.find((a) => a.Type === 'forward');
  const targetGroupArn = forward?.TargetGroupArn ?? forward?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn;
  if (targetGroupArn) listener.targetGroupArn = targetGroupArn;
  if (l.Protocol === 'TLS') {
    listener.tls = {
      certificates: (l.Certificates ?? []).flatMap((c) => (c.CertificateArn ? [c.CertificateArn] : [])),
      sslPolicy: l.SslPolicy ?? '',
      alpnPolicy: l.AlpnPolicy?.[0] ?? 'None',
    };
  }
  return listener;
}

/** DescribeListeners names only the default certificate; the others are listed per listener. */
async function readExtraCertificates(api: AwsApi, listener: ObservedListener): Promise<void> {
  if (!listener.tls) return;
  const out = await api.elb(new DescribeListenerCertificatesCommand({ ListenerArn: listener.arn }));
  const defaults = new Set(listener.tls.certificates);
  for (const c of out.Certificates ?? []) {
    if (c.CertificateArn && !c.IsDefault && !defaults.has(c.CertificateArn)) listener.tls.certificates.push(c.CertificateArn);
  }
}

/** Rules on the node security groups whose source is the given security group: ours to keep in line. */
export async function readBackendRules(api: AwsApi, nodeGroupIds: string[], sourceGroupId: string): Promise<BackendRule[]> {
  if (nodeGroupIds.length === 0) return [];
  const groups = await listAll(async (NextToken) => {
    const out = await api.ec2(new DescribeSecurityGroupsCommand({ GroupIds: nodeGroupIds, ...(NextToken ? { NextToken } : {}) }));
    return { items: out.SecurityGroups ?? [], next: out.NextToken };
  });
  const rules: BackendRule[] = [];
  for (const g of groups) {
    for (const p of g.IpPermissions ?? []) {
      if ((p.IpProtocol !== 'tcp' && p.IpProtocol !== 'udp') || p.FromPort === undefined) continue;
      if (!(p.UserIdGroupPairs ?? []).some((pair) => pair.GroupId === sourceGroupId)) continue;
      const range = p.ToPort !== undefined && p.ToPort !== p.FromPort ? { toPort: p.ToPort } : {};
      rules.push({ groupId: g.GroupId!, protocol: p.IpProtocol, port: p.FromPort, ...range });
    }
  }
  return rules;
}

/** The load balancer's listeners; undefined when the load balancer is gone. */
export async function readListeners(api: AwsApi, loadBalancerArn: string): Promise<ObservedListener[] | undefined> {
  try {
    const out = await api.elb(new DescribeListenersCommand({ LoadBalancerArn: loadBalancerArn }));
    return (out.Listeners ?? []).map(toObservedListener);
  } catch (err) {
    if (isAwsError(err, 'LoadBalancerNotFound')) return undefined;
    throw err;
  }
}

/** Every allocation of the annotation exists and has a public IP; throws invalidService naming the one that does not. */
export async function checkEipAllocations(api: AwsApi, allocationIds: string[]): Promise<void> {
  try {
    const out = await api.ec2(new DescribeAddressesCommand({ AllocationIds: allocationIds }));
    const byId = new Map((out.Addresses ?? []).map((a) => [a.AllocationId, a.PublicIp]));
    for (const id of allocationIds) {
      if (!byId.get(id)) throw invalidService(`annotation ${Annotations.eipAllocations}: ${id} has no public IP`);
    }
  } catch (err) {
    if (isAwsError(err, 'InvalidAllocationID.NotFound', 'InvalidAllocationID.Malformed')) {
      throw invalidService(`annotation ${Annotations.eipAllocations}: ${(err as Error).message}`);
    }
    throw err;
  }
}

/** Targets that still take (or will take) traffic: draining ones are on their way out. */
export async function readTargets(api: AwsApi, targetGroupArn: string): Promise<TargetRef[]> {
  const out = await api.elb(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  const targets: TargetRef[] = [];
  for (const d of out.TargetHealthDescriptions ?? []) {
    if (!d.Target?.Id || d.TargetHealth?.State === 'draining') continue;
    const ref: TargetRef = { id: d.Target.Id, port: d.Target.Port ?? 0 };
    if (d.Target.AvailabilityZone === 'all') ref.availabilityZone = 'all';
    targets.push(ref);
  }
  return targets;
}

function toObservedLoadBalancer(
  lb: LoadBalancer,
  tags: Record<string, string>,
  attributes: Record<string, string>,
): ObservedLoadBalancerResource {
  const zones = lb.AvailabilityZones ?? [];
  return {
    arn: lb.LoadBalancerArn!,
    name: lb.LoadBalancerName ?? '',
    dnsName: lb.DNSName ?? '',
    type: lb.Type ?? 'network',
    scheme: (lb.Scheme ?? 'internet-facing') as Scheme,
    ipAddressType: lb.IpAddressType ?? 'ipv4',
    subnetMappings: zones.map((z) => {
      const mapping: SubnetMapping = { subnetId: z.SubnetId ?? '' };
      const allocationId = z.LoadBalancerAddresses?.find((a) => a.AllocationId)?.AllocationId;
      if (allocationId) mapping.allocationId = allocationId;
      // Only an internal load balancer's addresses can be chosen (and so compared).
      const privateIp =
        lb.Scheme === 'internal' ? z.LoadBalancerAddresses?.find((a) => a.PrivateIPv4Address)?.PrivateIPv4Address : undefined;
      if (privateIp) mapping.privateIPv4Address = privateIp;
      return mapping;
    }),
    allocationsKnown: zones.length > 0 && zones.every((z) => (z.LoadBalancerAddresses?.length ?? 0) > 0),
    securityGroups: lb.SecurityGroups ?? [],
    tags,
    attributes,
  };
}

function toObservedSecurityGroup(sg: SecurityGroup): ObservedSecurityGroup {
  const rules: SgRule[] = [];
  for (const p of sg.IpPermissions ?? []) {
    if ((p.IpProtocol !== 'tcp' && p.IpProtocol !== 'udp') || p.FromPort === undefined) continue;
    const range = p.ToPort !== undefined && p.ToPort !== p.FromPort ? { toPort: p.ToPort } : {};
    for (const r of p.IpRanges ?? []) if (r.CidrIp) rules.push({ protocol: p.IpProtocol, port: p.FromPort, ...range, cidr: r.CidrIp });
    for (const r of p.Ipv6Ranges ?? [])
      if (r.CidrIpv6) rules.push({ protocol: p.IpProtocol, port: p.FromPort, ...range, cidr: r.CidrIpv6 });
  }
  return { id: sg.GroupId!, name: sg.GroupName ?? '', rules, tags: tagRecord(sg.Tags) };
}

async function toObservedTargetGroup(api: AwsApi, tg: TargetGroup, tags: Record<string, string>): Promise<ObservedTargetGroup> {
  const arn = tg.TargetGroupArn!;
  const [targets, attributesOut] = await Promise.all([
    readTargets(api, arn),
    api.elb(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })),
  ]);
  const attributes: Record<string, string> = {};
  for (const a of attributesOut.Attributes ?? []) if (a.Key) attributes[a.Key] = a.Value ?? '';
  const healthCheck: ObservedTargetGroup['healthCheck'] = {
    protocol: tg.HealthCheckProtocol as HealthCheckProtocol | undefined,
    port: tg.HealthCheckPort,
    path: tg.HealthCheckPath,
    matcher: tg.Matcher?.HttpCode,
    intervalSeconds: tg.HealthCheckIntervalSeconds,
    timeoutSeconds: tg.HealthCheckTimeoutSeconds,
    healthyThreshold: tg.HealthyThresholdCount,
    unhealthyThreshold: tg.UnhealthyThresholdCount,
  };
  return { arn, name: tg.TargetGroupName ?? '', protocol: tg.Protocol ?? '', port: tg.Port ?? 0, healthCheck, attributes, tags, targets };
}

export interface ObserveResult {
  observed: ObservedNlb;
  /** Target groups we knew of that AWS no longer has (to forget). */
  vanishedTargetGroupArns: string[];
  /** The load balancer was made by cloud-provider-aws and is taken over by this sync. */
  adopted: boolean;
}

/**
 * Everything that exists for one Service: the load balancer by name, its listeners and attributes, the
 * groups its listeners use plus the groups we know we created (possibly detached by an interrupted sync),
 * and the security group by name. Resources with our names but not our tags are refused; the one exception
 * is a load balancer cloud-provider-aws made for this same Service (see adoptable), taken over with its groups.
 */
export interface ObserveScope {
  vpcId: string;
  knownTargetGroupArns: string[];
  /** Every node security group we may have opened (whether or not this Service wants it now). */
  nodeSecurityGroupIds: string[];
  /** The name of this Service's load balancer by its ownership tags: for one renamed by its annotation. */
  findNameByTags(): Promise<string | undefined>;
}

export async function observeNlb(
  api: AwsApi,
  identity: LoadBalancerIdentity,
  desired: DesiredNlb,
  scope: ObserveScope,
): Promise<ObserveResult> {
  const { vpcId, knownTargetGroupArns } = scope;
  let [lb, securityGroups] = await Promise.all([
    readLoadBalancer(api, desired.name),
    readSecurityGroups(api, [
      { Name: 'vpc-id', Values: [vpcId] },
      { Name: 'group-name', Values: [desired.securityGroup.name] },
    ]),
  ]);
  // Not under the wanted name, yet the Service has resources (or a chosen name): look it up by its tags,
  // so that a rename replaces the old load balancer instead of leaving it behind. A new Service skips this.
  if (!lb && (securityGroups.length > 0 || knownTargetGroupArns.length > 0 || desired.name !== identity.lbName)) {
    const name = await scope.findNameByTags();
    if (name !== undefined && name !== desired.name) lb = await readLoadBalancer(api, name);
  }

  let listeners: ObservedListener[] = [];
  const lbAttributes: Record<string, string> = {};
  let groups: TargetGroup[] = [];
  if (lb?.LoadBalancerArn) {
    const arn = lb.LoadBalancerArn;
    const [listenersOut, attributesOut, attached] = await Promise.all([
      api.elb(new DescribeListenersCommand({ LoadBalancerArn: arn })),
      api.elb(new DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: arn })),
      attachedTargetGroups(api, arn),
    ]);
    listeners = (listenersOut.Listeners ?? []).map(toObservedListener);
    await Promise.all(listeners.map((l) => readExtraCertificates(api, l)));
    for (const a of attributesOut.Attributes ?? []) if (a.Key) lbAttributes[a.Key] = a.Value ?? '';
    groups = attached;
  }

  const vanishedTargetGroupArns: string[] = [];
  const seen = new Set(groups.map((g) => g.TargetGroupArn));
  for (const arn of knownTargetGroupArns) {
    if (seen.has(arn)) continue;
    const tg = await readTargetGroup(api, arn);
    if (tg) groups.push(tg);
    else vanishedTargetGroupArns.push(arn);
  }

  const tags = await describeTags(api, [...(lb?.LoadBalancerArn ? [lb.LoadBalancerArn] : []), ...groups.map((g) => g.TargetGroupArn!)]);
  const observed: ObservedNlb = { listeners, targetGroups: [], backendRules: [] };

  let adopted = false;
  if (lb?.LoadBalancerArn) {
    const lbTags = tags.get(lb.LoadBalancerArn) ?? {};
    adopted = adoptable(lbTags, identity);
    if (!ownedBy(lbTags, identity) && !adopted) {
      throw invalidService(
        `an AWS load balancer named "${desired.name}" exists but is not owned by this Service (its ownership tags differ)`,
      );
    }
    observed.loadBalancer = toObservedLoadBalancer(lb, lbTags, lbAttributes);
  }
  const sg = securityGroups[0];
  if (sg) {
    const observedSg = toObservedSecurityGroup(sg);
    if (!ownedBy(observedSg.tags, identity)) {
      throw invalidService(`an AWS security group named "${desired.securityGroup.name}" exists but is not owned by this Service`);
    }
    observed.securityGroup = observedSg;
    observed.backendRules = await readBackendRules(api, scope.nodeSecurityGroupIds, observedSg.id);
  }
  // Groups owned by someone else (a listener pointed at them by hand) are moved away from, never deleted.
  const owned = groups.filter((g) => {
    const t = tags.get(g.TargetGroupArn!) ?? {};
    return ownedBy(t, identity) || (adopted && adoptable(t, identity));
  });
  observed.targetGroups = await Promise.all(owned.map((g) => toObservedTargetGroup(api, g, tags.get(g.TargetGroupArn!) ?? {})));
  return { observed, vanishedTargetGroupArns, adopted };
}

/**
 * What deleting a Service has to remove: the load balancer by name (its listeners and attached groups only
 * when its tags say it is ours), the groups we know of, and the security groups tagged with its UID.
 */
export async function observeDeletion(
  api: AwsApi,
  identity: LoadBalancerIdentity,
  scope: Omit<ObserveScope, 'knownTargetGroupArns'> & { knownTargetGroups: Array<{ arn: string; name: string }>; name: string },
): Promise<ObservedDeletion> {
  const { vpcId } = scope;
  const groups = new Map(scope.knownTargetGroups.map((g) => [g.arn, g.name]));
  const observed: ObservedDeletion = { targetGroups: [], securityGroupIds: [], backendRules: [] };
  let lb = await readLoadBalancer(api, scope.name);
  if (!lb || !ownedBy((await describeTags(api, [lb.LoadBalancerArn!])).get(lb.LoadBalancerArn!) ?? {}, identity)) {
    // Renamed by the name annotation (which a deletion does not see): found by its tags instead.
    const tagged = await scope.findNameByTags();
    if (tagged !== undefined) lb = await readLoadBalancer(api, tagged);
  }
  if (lb?.LoadBalancerArn) {
    const arn = lb.LoadBalancerArn;
    const attached = await attachedTargetGroups(api, arn);
    const tags = await describeTags(api, [arn, ...attached.map((g) => g.TargetGroupArn!)]);
    const lbTags = tags.get(arn) ?? {};
    const owned = ownedBy(lbTags, identity) || adoptable(lbTags, identity);
    observed.loadBalancer = { arn, owned, listeners: [] };
    if (owned) {
      for (const g of attached) {
        const t = tags.get(g.TargetGroupArn!) ?? {};
        if ((ownedBy(t, identity) || adoptable(t, identity)) && !groups.has(g.TargetGroupArn!))
          groups.set(g.TargetGroupArn!, g.TargetGroupName ?? '');
      }
      // Gone since the read above is as good as no listeners: the load balancer is deleted next anyway.
      observed.loadBalancer.listeners = (await readListeners(api, arn)) ?? [];
    }
  }
  observed.targetGroups = [...groups].map(([arn, name]) => ({ arn, name }));
  const securityGroups = await readSecurityGroups(api, [
    { Name: 'vpc-id', Values: [vpcId] },
    { Name: `tag:kubernetes.io/cluster/${identity.clusterName}`, Values: ['owned'] },
    { Name: 'tag:kubernetes.io/service-uid', Values: [identity.uid] },
  ]);
  observed.securityGroupIds = securityGroups.map((sg) => sg.GroupId!);
  for (const id of observed.securityGroupIds) {
    for (const rule of await readBackendRules(api, scope.nodeSecurityGroupIds, id))
      observed.backendRules.push({ ...rule, sourceGroupId: id });
  }
  return observed;
}
