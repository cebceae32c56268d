// DesiredLoadBalancer (cloud-agnostic) + Azure options -> this Service's share of a shared load balancer,
// its NSG rules and its public IP. Pure.

import type {
  BackendAddressPool,
  FrontendIPConfiguration,
  LoadBalancingRule,
  Probe,
  PublicIPAddress,
  SecurityRule,
} from '@azure/arm-network';
import { ipFamily } from '../../net/cidr.ts';
import { invalidService, serviceKey, type DesiredLoadBalancer, type LoadBalancerIdentity, type Target } from '../provider.ts';
import { PROBE_DEFAULTS, type AzureServiceOptions } from './annotations.ts';
import { frontendName, ruleName, securityRuleName, TAG_CLUSTER, TAG_SERVICE, type LbKind, type ResourceIds } from './names.ts';
import { compareStrings } from '../../compare.ts';

/** Where a Service's frontend goes and what it points at, resolved by the provider before building. */
export interface PlacementContext {
  clusterName: string;
  ids: ResourceIds;
  /** Resource group of the load balancers. */
  resourceGroup: string;
  loadBalancerName: string;
  /** The backend pool every rule of this load balancer uses. */
  backendPoolName: string;
  /** Public Services: the public IP the frontend uses. */
  publicIPId?: string;
  /** Internal Services: the subnet of the frontend. */
  subnetId?: string;
}

/** What one Service owns on a load balancer: one frontend, and one rule and (mostly) one probe per port and protocol. */
export interface ServicePart {
  frontend: FrontendIPConfiguration;
  rules: LoadBalancingRule[];
  probes: Probe[];
}

export function lbKind(options: AzureServiceOptions): LbKind {
  return options.internal ? 'internal' : 'public';
}

/** Refuses what an Azure Standard LB with NodePort targets cannot serve; returns the Service's warnings. */
export function checkServiceShape(desired: DesiredLoadBalancer): string[] {
  const warnings: string[] = [];
  if (desired.ipFamilies.length > 0 && !desired.ipFamilies.includes('IPv4')) {
    throw invalidService('IPv6-only Services are not supported by the Azure provider (IPv4 frontends only)');
  }
  if (desired.ipFamilies.includes('IPv6'))
    warnings.push('this dual-stack Service gets an IPv4 frontend only: the Azure provider does not create IPv6 frontends');
  if (desired.listeners.length === 0) throw invalidService('the Service has no ports');
  const seen = new Set<string>();
  for (const l of desired.listeners) {
    if (l.protocol === 'SCTP') throw invalidService(`port ${l.port}/SCTP: Azure Load Balancer rules carry TCP or UDP only`);
    if (!Number.isInteger(l.nodePort) || l.nodePort <= 0) throw invalidService(`port ${l.port}/${l.protocol} has no nodePort`);
    const key = `${l.protocol}/${l.port}`;
    if (seen.has(key)) throw invalidService(`port ${l.port} is listed twice with protocol ${l.protocol}`);
    seen.add(key);
  }
  for (const ip of desired.requestedIPs) {
    if (ipFamily(ip) !== 'IPv4') throw invalidService(`spec.loadBalancerIP ${ip}: only IPv4 addresses are supported`);
  }
  return warnings;
}

/** The address a Service asks for: the azure-load-balancer-ipv4 annotation, else spec.loadBalancerIP. */
export function requestedIPv4(desired: DesiredLoadBalancer, options: AzureServiceOptions): string | undefined {
  return options.ipv4 ?? desired.requestedIPs.find((ip) => ipFamily(ip) === 'IPv4');
}

function titleProtocol(protocol: 'TCP' | 'UDP'): 'Tcp' | 'Udp' {
  return protocol === 'TCP' ? 'Tcp' : 'Udp';
}

/**
 * The probe for one rule. TCP connects to the nodePort by default; externalTrafficPolicy Local asks
 * kube-proxy's health check on healthCheckNodePort. A UDP port under Cluster policy gets no probe (a TCP
 * connect to a UDP NodePort always fails), so Azure treats every node as healthy for it, as upstream does.
 */
function probeFor(
  desired: DesiredLoadBalancer,
  options: AzureServiceOptions,
  name: string,
  protocol: 'TCP' | 'UDP',
  nodePort: number,
): Probe | undefined {
  const o = options.probe;
  const hc = desired.healthCheck;
  if (hc.kind === 'tcp' && protocol === 'UDP' && o.protocol === undefined) return undefined;
  const defaultProtocol = hc.kind === 'http' ? 'Http' : 'Tcp';
  const probeProtocol = o.protocol ?? defaultProtocol;
  const probe: Probe = {
    name,
    protocol: probeProtocol,
    port: hc.kind === 'http' ? hc.port : nodePort,
    intervalInSeconds: o.intervalInSeconds ?? PROBE_DEFAULTS.intervalInSeconds,
    probeThreshold: o.probeThreshold ?? PROBE_DEFAULTS.probeThreshold,
  };
  if (probeProtocol !== 'Tcp') probe.requestPath = o.requestPath ?? (hc.kind === 'http' ? hc.path : '/');
  return probe;
}

/** Azure's TCP idle timeout default, written out so that a resync compares like with like. */
const DEFAULT_IDLE_TIMEOUT_MINUTES = 4;

export function buildServicePart(desired: DesiredLoadBalancer, options: AzureServiceOptions, ctx: PlacementContext): ServicePart {
  const { identity } = desired;
  const fe = frontendName(identity, options.internalSubnet);
  const frontend: FrontendIPConfiguration = { name: fe };
  if (options.internal) {
    if (!ctx.subnetId) throw new Error('internal frontend without a subnet');
    const ip = requestedIPv4(desired, options);
    frontend.subnet = { id: ctx.subnetId };
    frontend.privateIPAddressVersion = 'IPv4';
    frontend.privateIPAllocationMethod = ip ? 'Static' : 'Dynamic';
    if (ip) frontend.privateIPAddress = ip;
  } else {
    if (!ctx.publicIPId) throw new Error('public frontend without a public IP');
    frontend.publicIPAddress = { id: ctx.publicIPId };
  }
  const rg = ctx.resourceGroup;
  const lb = ctx.loadBalancerName;
  const rules: LoadBalancingRule[] = [];
  const probes: Probe[] = [];
  const listeners = [...desired.listeners].sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol));
  for (const l of listeners) {
    const protocol = l.protocol as 'TCP' | 'UDP';
    const name = ruleName(identity, protocol, l.port, options.internalSubnet);
    const probe = probeFor(desired, options, name, protocol, l.nodePort);
    if (probe) probes.push(probe);
    const rule: LoadBalancingRule = {
      name,
      frontendIPConfiguration: { id: ctx.ids.frontend(rg, lb, fe) },
      backendAddressPool: { id: ctx.ids.backendPool(rg, lb, ctx.backendPoolName) },
      protocol: titleProtocol(protocol),
      frontendPort: l.port,
      // Targets are NodePorts, so the LB must rewrite the destination: floating IP stays off.
      backendPort: l.nodePort,
      enableFloatingIP: false,
      loadDistribution: desired.sessionAffinity.type === 'ClientIP' ? 'SourceIP' : 'Default',
    };
    if (probe) rule.probe = { id: ctx.ids.probe(rg, lb, name) };
    if (protocol === 'TCP') {
      rule.idleTimeoutInMinutes = options.idleTimeoutInMinutes ?? DEFAULT_IDLE_TIMEOUT_MINUTES;
      rule.enableTcpReset = true;
    }
    rules.push(rule);
  }
  return { frontend, rules, probes };
}

/** One IPv4 address per node, by address type preference; nodes without one are left out. Sorted by node. */
export function backendAddresses(targets: Target[], preference: readonly string[]): Array<{ name: string; ip: string }> {
  const out: Array<{ name: string; ip: string }> = [];
  const ips = new Set<string>();
  for (const t of [...targets].sort((a, b) => compareStrings(a.nodeName, b.nodeName))) {
    for (const type of preference) {
      const a = t.addresses.find((x) => x.type === type && ipFamily(x.address) === 'IPv4');
      if (a) {
        if (!ips.has(a.address)) out.push({ name: t.nodeName, ip: a.address });
        ips.add(a.address);
        break;
      }
    }
  }
  return out;
}

/** The IP-based backend pool shared by every rule of a load balancer. */
export function buildBackendPool(name: string, vnetId: string, addresses: Array<{ name: string; ip: string }>): BackendAddressPool {
  return {
    name,
    virtualNetwork: { id: vnetId },
    loadBalancerBackendAddresses: addresses.map((a) => ({ name: a.name, ipAddress: a.ip, virtualNetwork: { id: vnetId } })),
  };
}

/** Who may connect: loadBalancerSourceRanges, then the allowed IP ranges and service tags; "Internet" when none and public. */
export function allowedSources(desired: DesiredLoadBalancer, options: AzureServiceOptions): string[] {
  const sources = [...new Set([...desired.sourceRanges, ...options.allowedIpRanges, ...options.allowedServiceTags])];
  if (sources.some((s) => s.includes(':')))
    throw invalidService('loadBalancerSourceRanges: IPv6 ranges are not supported (IPv4 frontends only)');
  // An internal Service with no ranges is reached from the VNet, which the NSG's default rules allow already.
  if (sources.length === 0 && !options.internal) return ['Internet'];
  return sources;
}

/**
 * The NSG allow rules of a Service, priorities still to be allocated. With floating IP off, Azure delivers
 * a flow to node:nodePort after rewriting its destination, and the NSG sees the rewritten packet: the
 * rule must allow the backend addresses on the nodePort; the frontend address and service port never
 * reach the nodes' NSG.
 */
export function buildSecurityRules(desired: DesiredLoadBalancer, sources: string[], backendIps: string[]): SecurityRule[] {
  if (backendIps.length === 0) return [];
  const rules: SecurityRule[] = [];
  const destinations = [...backendIps].sort();
  for (const l of desired.listeners) {
    for (const source of sources) {
      rules.push({
        name: securityRuleName(desired.identity, l.protocol, l.port, source),
        protocol: titleProtocol(l.protocol as 'TCP' | 'UDP'),
        access: 'Allow',
        direction: 'Inbound',
        sourcePortRange: '*',
        sourceAddressPrefix: source,
        destinationPortRange: String(l.nodePort),
        destinationAddressPrefixes: destinations,
        description: `${serviceKey(desired.identity)} ${l.protocol}/${l.port}`,
      });
    }
  }
  return rules.sort((a, b) => compareStrings(a.name!, b.name!));
}

export function ownershipPipTags(identity: LoadBalancerIdentity): Record<string, string> {
  return { [TAG_SERVICE]: serviceKey(identity), [TAG_CLUSTER]: identity.clusterName };
}

/** The public IP we create for a Service: Standard, Static, IPv4, tagged as cloud-provider-azure tags it. */
export function buildPublicIP(desired: DesiredLoadBalancer, options: AzureServiceOptions, location: string): PublicIPAddress {
  const pip: PublicIPAddress = {
    location,
    sku: { name: 'Standard', tier: 'Regional' },
    publicIPAllocationMethod: 'Static',
    publicIPAddressVersion: 'IPv4',
    tags: { ...options.pipTags, ...ownershipPipTags(desired.identity) },
  };
  if (options.dnsLabelName) pip.dnsSettings = { domainNameLabel: options.dnsLabelName };
  return pip;
}
