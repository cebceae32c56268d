// DesiredLoadBalancer (cloud-agnostic) + AWS options + resolved network facts -> DesiredNlb. Pure.

import { quote } from '../../error-message.ts';
import { invalidService, ownershipTags, serviceKey, type DesiredLoadBalancer, type Listener, type Target } from '../provider.ts';
import { Annotations, type AwsServiceOptions, type TlsOptions } from './annotations.ts';
import type {
  BackendRule,
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
import { nodesWithLabels, selectTargetIps, targetRefs } from './targets.ts';
import { compareStrings } from '../../compare.ts';

export interface NlbContext {
  clusterName: string;
  scheme: Scheme;
  /** Resolved subnet IDs; with EIPs, the n-th allocation goes to the n-th subnet. */
  subnetIds: string[];
  vpcCidrs: string[];
  nodeAddressPreference: readonly string[];
  /** The security-groups annotation resolved to IDs. */
  securityGroupIds?: string[];
  /** Node security groups to open to the load balancer; empty when that is switched off. */
  nodeSecurityGroupIds: string[];
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
  const port =
    o.port !== undefined ? resolveHealthCheckPort(o.port, desired.listeners) : base.kind === 'http' ? String(base.port) : 'traffic-port';
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

/** A Service port name stands for that port's nodePort (the targets are nodes, as upstream's instance mode). */
function resolveHealthCheckPort(port: string, listeners: Listener[]): string {
  if (port === 'traffic-port' || /^\d+$/.test(port)) return port;
  const named = listeners.find((l) => l.name === port);
  if (!named) throw invalidService(`annotation ${Annotations.healthCheckPort}: the Service has no port named "${port}"`);
  return String(named.nodePort);
}

interface PortGroup {
  port: number;
  /** TCP, UDP or TCP_UDP as the Service asks; TLS termination is decided per port afterwards. */
  protocol: TargetGroupProtocol;
  nodePort: number;
  /** The Service port names on this port number. */
  names: string[];
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
      groups.push({ port, protocol: first.protocol as 'TCP' | 'UDP', nodePort: first.nodePort, names: [first.name] });
      continue;
    }
    if (entries.some((e) => e.nodePort !== first.nodePort)) {
      throw invalidService(
        `port ${port} is served over TCP and UDP with different nodePorts (${entries.map((e) => `${e.protocol} ${e.nodePort}`).join(', ')}); ` +
          'an NLB TCP_UDP listener forwards both to one port, so set the same nodePort on both',
      );
    }
    groups.push({ port, protocol: 'TCP_UDP', nodePort: first.nodePort, names: entries.map((e) => e.name) });
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
  if (protocol === 'TCP' || protocol === 'TLS') {
    attributes['proxy_protocol_v2.enabled'] = String(options.proxyProtocol);
  } else if (options.proxyProtocol) {
    throw invalidService(`annotation ${Annotations.proxyProtocol}: proxy protocol v2 is not available on UDP ports`);
  }
  return { ...attributes, ...options.targetGroupAttributes };
}

/** sourceRanges arrive validated, canonical and de-duplicated (the core's job), so they are used as they are. */
function ipProtocols(protocol: TargetGroupProtocol): Array<'tcp' | 'udp'> {
  if (protocol === 'TCP_UDP') return ['tcp', 'udp'];
  return [protocol === 'UDP' ? 'udp' : 'tcp'];
}

function securityGroupRules(groups: PortGroup[], sourceRanges: string[], ipAddressType: 'ipv4' | 'dualstack'): SgRule[] {
  const open = ipAddressType === 'dualstack' ? ['0.0.0.0/0', '::/0'] : ['0.0.0.0/0'];
  const cidrs = sourceRanges.length > 0 ? sourceRanges : open;
  const rules: SgRule[] = [];
  for (const g of groups) {
    for (const protocol of ipProtocols(g.protocol)) for (const cidr of cidrs) rules.push({ protocol, port: g.port, cidr });
  }
  return sortRules(rules);
}

/** The NodePorts (per protocol) and the health check ports, on every node security group. */
function backendRules(groupIds: string[], targetGroups: DesiredTargetGroup[]): BackendRule[] {
  const rules = new Map<string, BackendRule>();
  const add = (groupId: string, protocol: 'tcp' | 'udp', port: number) =>
    rules.set(`${groupId}/${protocol}/${port}`, { groupId, protocol, port });
  for (const groupId of groupIds) {
    for (const tg of targetGroups) {
      for (const protocol of ipProtocols(tg.protocol)) add(groupId, protocol, tg.port);
      if (/^\d+$/.test(tg.healthCheck.port)) add(groupId, 'tcp', Number(tg.healthCheck.port));
    }
  }
  return [...rules.values()].sort((a, b) => compareStrings(`${a.groupId}/${a.protocol}/${a.port}`, `${b.groupId}/${b.protocol}/${b.port}`));
}

/** Which ports terminate TLS: the ssl-ports annotation's (names or numbers), or every port. */
function tlsPorts(groups: PortGroup[], tls: TlsOptions): Set<number> {
  if (!tls.ports) return new Set(groups.map((g) => g.port));
  const ports = new Set<number>();
  for (const item of tls.ports) {
    const g = groups.find((x) => String(x.port) === item || x.names.includes(item));
    if (!g) throw invalidService(`annotation ${Annotations.sslPorts}: the Service has no port ${quote(item)}`);
    ports.add(g.port);
  }
  return ports;
}

/** aws:///<zone>/<instance-id>, as the AWS cloud provider and kubelet set spec.providerID. */
function instanceIds(targets: Target[]): string[] {
  const ids = new Set<string>();
  for (const t of targets) {
    const id = /^aws:\/\/\/[^/]*\/(i-[A-Za-z0-9]+)$/.exec(t.providerID ?? '')?.[1];
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

export function ruleKey(rule: SgRule): string {
  const ports = rule.toPort !== undefined && rule.toPort !== rule.port ? `${rule.port}-${rule.toPort}` : String(rule.port);
  return `${rule.protocol}/${ports}/${rule.cidr}`;
}

export function sortRules(rules: SgRule[]): SgRule[] {
  return [...rules].sort((a, b) => compareStrings(ruleKey(a), ruleKey(b)));
}

function subnetMappings(options: AwsServiceOptions, ctx: NlbContext): SubnetMapping[] {
  const eips = options.eipAllocations;
  const privateIps = options.privateIpv4Addresses;
  if (privateIps) {
    if (ctx.scheme !== 'internal')
      throw invalidService(`annotation ${Annotations.privateIpv4Addresses}: private addresses need an internal load balancer`);
    if (privateIps.length !== ctx.subnetIds.length) {
      throw invalidService(
        `annotation ${Annotations.privateIpv4Addresses}: ${privateIps.length} addresses for ${ctx.subnetIds.length} subnets (${ctx.subnetIds.join(', ')}); give one per subnet`,
      );
    }
    return ctx.subnetIds.map((subnetId, i) => ({ subnetId, privateIPv4Address: privateIps[i]! }));
  }
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
  const name = options.name ?? identity.lbName;
  assertLoadBalancerName(name);
  if (desired.listeners.length === 0) throw invalidService('the Service has no ports');
  if (desired.requestedIPs.length > 0) {
    throw invalidService(`spec.loadBalancerIP cannot be honoured by an AWS NLB; use the ${Annotations.eipAllocations} annotation`);
  }
  const groups = groupListeners(desired.listeners);
  const { targetType, tls } = options;
  const nodes = options.targetNodeLabels ? nodesWithLabels(desired.targets, options.targetNodeLabels) : desired.targets;
  const ids = targetType === 'instance' ? instanceIds(nodes) : selectTargetIps(nodes, ctx.nodeAddressPreference);
  const terminated = tls ? tlsPorts(groups, tls) : new Set<number>();

  const targetGroups = new Map<string, DesiredTargetGroup>();
  const listeners: DesiredListener[] = [];
  for (const g of groups) {
    let listenerProtocol = g.protocol;
    let groupProtocol = g.protocol;
    let listenerTls: DesiredListener['tls'];
    if (tls && terminated.has(g.port)) {
      if (g.protocol !== 'TCP')
        throw invalidService(`annotation ${Annotations.sslPorts}: port ${g.port} is ${g.protocol}; only TCP ports can terminate TLS`);
      listenerProtocol = 'TLS';
      groupProtocol = tls.backendTls ? 'TLS' : 'TCP';
      listenerTls = { certificates: tls.certificates, sslPolicy: tls.sslPolicy, alpnPolicy: tls.alpnPolicy };
    }
    const tgName = targetGroupName(ctx.clusterName, identity.uid, groupProtocol, g.nodePort, targetType);
    targetGroups.set(tgName, {
      name: tgName,
      protocol: groupProtocol,
      targetType,
      port: g.nodePort,
      healthCheck: healthCheckFor(desired, options, groupProtocol),
      attributes: targetGroupAttributes(desired, options, groupProtocol),
      targets: targetType === 'instance' ? ids.map((id) => ({ id, port: g.nodePort })) : targetRefs(ids, g.nodePort, ctx.vpcCidrs),
    });
    listeners.push({ port: g.port, protocol: listenerProtocol, targetGroupName: tgName, ...(listenerTls ? { tls: listenerTls } : {}) });
  }
  const sortedGroups = [...targetGroups.values()].sort((a, b) => compareStrings(a.name, b.name));

  const nlb: DesiredNlb = {
    name,
    scheme: ctx.scheme,
    ipAddressType: options.ipAddressType,
    subnetMappings: subnetMappings(options, ctx),
    tags: { ...options.additionalTags, ...ownershipTags(identity) },
    // The older cross-zone annotation wins a tie with aws-load-balancer-attributes, as upstream.
    attributes: {
      'load_balancing.cross_zone.enabled': 'false',
      ...options.loadBalancerAttributes,
      ...(options.crossZone !== undefined ? { 'load_balancing.cross_zone.enabled': String(options.crossZone) } : {}),
    },
    securityGroup: {
      // From the default name, not the name annotation: it stays put when the load balancer is renamed.
      name: securityGroupName(identity.lbName),
      description: `Load balancer of Service ${serviceKey(identity)} (service-lb-controller)`,
      rules: securityGroupRules(groups, desired.sourceRanges, options.ipAddressType),
    },
    backendRules: backendRules(ctx.nodeSecurityGroupIds, sortedGroups),
    targetGroups: sortedGroups,
    listeners,
  };
  if (ctx.securityGroupIds) nlb.securityGroupIds = ctx.securityGroupIds;
  return nlb;
}
