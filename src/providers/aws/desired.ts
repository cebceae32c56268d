// DesiredLoadBalancer (cloud-agnostic) + AWS options + resolved network facts -> DesiredNlb. Pure.

import { invalidService, ownershipTags, serviceKey, type DesiredLoadBalancer, type Listener } from '../provider.ts';
import { Annotations, type AwsServiceOptions } from './annotations.ts';
import type {
  DesiredListener,
  DesiredNlb,
  DesiredTargetGroup,
  HealthCheckSettings,
  Scheme,
  SgRule,
  SubnetMapping,
  TargetGroupProtocol,
} from './model.ts';
import { assertLoadBalancerName, securityGroupName, targetGroupName } from './names.ts';
import { selectTargetIps, targetRefs } from './targets.ts';

export interface NlbContext {
  clusterName: string;
  scheme: Scheme;
  /** Resolved subnet IDs; with EIPs, the n-th allocation goes to the n-th subnet. */
  subnetIds: string[];
  vpcCidrs: string[];
  nodeAddressPreference: readonly string[];
}

/** Quicker than AWS's own defaults (30 s, 5 healthy), so a node that comes or goes is noticed sooner. */
const HEALTH_CHECK_DEFAULTS = { intervalSeconds: 10, timeoutSeconds: 6, healthyThreshold: 3, unhealthyThreshold: 3 };

export function resolveScheme(options: AwsServiceOptions, defaultScheme: Scheme): Scheme {
  return options.scheme ?? defaultScheme;
}

/**
 * A UDP-only NodePort cannot answer a TCP connect, so with externalTrafficPolicy Cluster a UDP group
 * checks kube-proxy's own health endpoint instead (what upstream recommends for Cluster policy).
 */
export const KUBE_PROXY_HEALTH = { port: 10256, path: '/healthz' };

export function healthCheckFor(
  desired: DesiredLoadBalancer,
  options: AwsServiceOptions,
  groupProtocol: TargetGroupProtocol,
): HealthCheckSettings {
  const o = options.healthCheck;
  const base: DesiredLoadBalancer['healthCheck'] =
    desired.healthCheck.kind === 'tcp' && groupProtocol === 'UDP' ? { kind: 'http', ...KUBE_PROXY_HEALTH } : desired.healthCheck;
  const protocol = o.protocol ?? (base.kind === 'http' ? 'HTTP' : 'TCP');
  const port = o.port ?? (base.kind === 'http' ? String(base.port) : 'traffic-port');
  const settings: HealthCheckSettings = {
    protocol,
    port,
    intervalSeconds: o.intervalSeconds ?? HEALTH_CHECK_DEFAULTS.intervalSeconds,
    timeoutSeconds: o.timeoutSeconds ?? HEALTH_CHECK_DEFAULTS.timeoutSeconds,
    healthyThreshold: o.healthyThreshold ?? HEALTH_CHECK_DEFAULTS.healthyThreshold,
    unhealthyThreshold: o.unhealthyThreshold ?? HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
  };
  if (protocol !== 'TCP') {
    settings.path = o.path ?? (base.kind === 'http' ? base.path : '/');
    settings.matcher = o.matcher ?? '200-399';
  }
  return settings;
}

interface PortGroup {
  port: number;
  protocol: TargetGroupProtocol;
  nodePort: number;
}

/** NLB listens once per port: TCP and UDP on one port number become one TCP_UDP listener. */
function groupListeners(listeners: Listener[]): PortGroup[] {
  const byPort = new Map<number, Listener[]>();
  for (const l of listeners) {
    if (l.protocol === 'SCTP') throw invalidService(`port ${l.port}/SCTP: Network Load Balancers do not support SCTP`);
    if (!Number.isInteger(l.nodePort) || l.nodePort <= 0) throw invalidService(`port ${l.port}/${l.protocol} has no nodePort`);
    byPort.set(l.port, [...(byPort.get(l.port) ?? []), l]);
  }
  const groups: PortGroup[] = [];
  for (const [port, entries] of byPort) {
    const protocols = new Set(entries.map((e) => e.protocol));
    if (entries.length !== protocols.size) throw invalidService(`port ${port} is listed twice with the same protocol`);
    const first = entries[0]!;
    if (entries.length === 1) {
      groups.push({ port, protocol: first.protocol as 'TCP' | 'UDP', nodePort: first.nodePort });
      continue;
    }
    if (entries.some((e) => e.nodePort !== first.nodePort)) {
      throw invalidService(
        `port ${port} is served over TCP and UDP with different nodePorts (${entries.map((e) => `${e.protocol} ${e.nodePort}`).join(', ')}); ` +
          'an NLB TCP_UDP listener forwards both to one port, so set the same nodePort on both',
      );
    }
    groups.push({ port, protocol: 'TCP_UDP', nodePort: first.nodePort });
  }
  return groups.sort((a, b) => a.port - b.port);
}

function targetGroupAttributes(
  desired: DesiredLoadBalancer,
  options: AwsServiceOptions,
  protocol: TargetGroupProtocol,
): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (desired.sessionAffinity.type === 'ClientIP') {
    attributes['stickiness.enabled'] = 'true';
    attributes['stickiness.type'] = 'source_ip';
  } else {
    attributes['stickiness.enabled'] = 'false';
  }
  if (protocol === 'TCP') {
    attributes['proxy_protocol_v2.enabled'] = String(options.proxyProtocol);
  } else if (options.proxyProtocol) {
    throw invalidService(`annotation ${Annotations.proxyProtocol}: proxy protocol v2 is not available on UDP ports`);
  }
  return { ...attributes, ...options.targetGroupAttributes };
}

/** sourceRanges arrive validated, canonical and de-duplicated (the core's job), so they are used as they are. */
function securityGroupRules(groups: PortGroup[], sourceRanges: string[]): SgRule[] {
  const cidrs = sourceRanges.length > 0 ? sourceRanges : ['0.0.0.0/0'];
  const rules: SgRule[] = [];
  for (const g of groups) {
    const protocols: Array<'tcp' | 'udp'> = g.protocol === 'TCP_UDP' ? ['tcp', 'udp'] : [g.protocol === 'TCP' ? 'tcp' : 'udp'];
    for (const protocol of protocols) for (const cidr of cidrs) rules.push({ protocol, port: g.port, cidr });
  }
  return sortRules(rules);
}

export function ruleKey(rule: SgRule): string {
  const ports = rule.toPort !== undefined && rule.toPort !== rule.port ? `${rule.port}-${rule.toPort}` : String(rule.port);
  return `${rule.protocol}/${ports}/${rule.cidr}`;
}

export function sortRules(rules: SgRule[]): SgRule[] {
  return [...rules].sort((a, b) => ruleKey(a).localeCompare(ruleKey(b)));
}

function subnetMappings(options: AwsServiceOptions, ctx: NlbContext): SubnetMapping[] {
  const eips = options.eipAllocations;
  if (!eips) return ctx.subnetIds.map((subnetId) => ({ subnetId }));
  if (ctx.scheme !== 'internet-facing')
    throw invalidService(`annotation ${Annotations.eipAllocations}: EIPs need an internet-facing load balancer`);
  if (eips.length !== ctx.subnetIds.length) {
    throw invalidService(
      `annotation ${Annotations.eipAllocations}: ${eips.length} allocations for ${ctx.subnetIds.length} subnets (${ctx.subnetIds.join(', ')}); give one per subnet`,
    );
  }
  return ctx.subnetIds.map((subnetId, i) => ({ subnetId, allocationId: eips[i]! }));
}

export function buildDesiredNlb(desired: DesiredLoadBalancer, options: AwsServiceOptions, ctx: NlbContext): DesiredNlb {
  const { identity } = desired;
  assertLoadBalancerName(identity.lbName);
  if (desired.listeners.length === 0) throw invalidService('the Service has no ports');
  if (desired.requestedIPs.length > 0) {
    throw invalidService(`spec.loadBalancerIP cannot be honoured by an AWS NLB; use the ${Annotations.eipAllocations} annotation`);
  }
  const groups = groupListeners(desired.listeners);
  const ips = selectTargetIps(desired.targets, ctx.nodeAddressPreference);

  const targetGroups = new Map<string, DesiredTargetGroup>();
  const listeners: DesiredListener[] = [];
  for (const g of groups) {
    const name = targetGroupName(ctx.clusterName, identity.uid, g.protocol, g.nodePort);
    targetGroups.set(name, {
      name,
      protocol: g.protocol,
      port: g.nodePort,
      healthCheck: healthCheckFor(desired, options, g.protocol),
      attributes: targetGroupAttributes(desired, options, g.protocol),
      targets: targetRefs(ips, g.nodePort, ctx.vpcCidrs),
    });
    listeners.push({ port: g.port, protocol: g.protocol, targetGroupName: name });
  }

  return {
    name: identity.lbName,
    scheme: ctx.scheme,
    subnetMappings: subnetMappings(options, ctx),
    tags: { ...options.additionalTags, ...ownershipTags(identity) },
    crossZone: options.crossZone ?? false,
    securityGroup: {
      name: securityGroupName(identity.lbName),
      description: `Load balancer of Service ${serviceKey(identity)} (service-lb-controller)`,
      rules: securityGroupRules(groups, desired.sourceRanges),
    },
    targetGroups: [...targetGroups.values()].sort((a, b) => a.name.localeCompare(b.name)),
    listeners,
  };
}
