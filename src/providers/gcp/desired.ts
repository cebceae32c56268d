// DesiredLoadBalancer (cloud-agnostic) + GCP options -> the Compute resources of one Service, in creation
// order, for each of the three shapes (external passthrough, external neg, internal). Pure.

import { invalidService, type DesiredLoadBalancer, type Listener } from '../provider.ts';
import { Annotations, type GcpServiceOptions, type NetworkTier } from './annotations.ts';
import type { GcpMode } from './config.ts';
import { type DesiredResource, type Kind, refKey, type ResourceRef } from './model.ts';
import {
  clusterDescription,
  firewallName,
  forwardingRuleName,
  healthCheckFirewallName,
  httpHealthCheckFirewallName,
  instanceGroupName,
  negPortName,
  nodesHealthCheckName,
  serviceDescription,
} from './names.ts';
import { byZone, endpointMember, instanceMember, type NodeInstance } from './targets.ts';
import { compareStrings } from '../../compare.ts';

export interface GcpContext {
  project: string;
  region: string;
  network: string;
  subnetwork?: string;
  nodeTags: string[];
  nodeServiceAccount?: string;
  clusterName: string;
  /** Mode neg only: the proxy-only subnetwork's range, which the proxies connect to the nodes from. */
  proxySubnetCidr?: string;
}

export type Shape = 'passthrough' | 'neg' | 'internal';

/** Google's health checkers for target pools' legacy checks (cloud-provider-gcp's l4 list). */
export const LEGACY_HEALTH_CHECK_RANGES = ['130.211.0.0/22', '35.191.0.0/16', '209.85.152.0/22', '209.85.204.0/22'];
/** Health checkers of backend services (proxy load balancers and internal passthrough load balancers use these). */
export const HEALTH_CHECK_RANGES = ['130.211.0.0/22', '35.191.0.0/16'];
/** kube-proxy's health endpoint, which the shared node health check probes (externalTrafficPolicy: Cluster). */
export const KUBE_PROXY_HEALTH = { port: 10256, path: '/healthz' };
/** cloud-provider-gcp's health check timing: every 8 s, 1 s timeout, up after 1, down after 3. */
export const HEALTH_CHECK_TIMING = { checkIntervalSec: 8, timeoutSec: 1, healthyThreshold: 1, unhealthyThreshold: 3 };
/** Internal forwarding rules list at most 5 ports; beyond that they take all ports (as cloud-provider-gcp). */
export const MAX_INTERNAL_PORTS = 5;
/** A TCP proxy's NEG backend needs a connection cap; high enough never to be the limit. */
export const MAX_CONNECTIONS_PER_ENDPOINT = 100_000;

export function shapeOf(options: GcpServiceOptions, configuredMode: GcpMode): Shape {
  if (options.internal) return 'internal';
  return options.mode ?? configuredMode;
}

/** The address: ours (named lbName, released on delete) or the user's (spec.loadBalancerIP, never touched). */
export interface AddressPlan {
  resource: DesiredResource;
  requestedIP?: string;
}

export interface ShapePlan {
  shape: Shape;
  address: AddressPlan;
  /** Everything after the address, given the address's IP. */
  resources(ip: string): DesiredResource[];
  /** Protocols and ports skipped with a Warning (UDP in mode neg). */
  skipped: Listener[];
}

function p(ctx: GcpContext): string {
  return `projects/${ctx.project}`;
}

export function resourcePath(ctx: GcpContext, ref: ResourceRef): string {
  const collection: Record<Kind, string> = {
    address: `regions/${ctx.region}/addresses`,
    firewall: 'global/firewalls',
    httpHealthCheck: 'global/httpHealthChecks',
    healthCheck: 'global/healthChecks',
    regionHealthCheck: `regions/${ctx.region}/healthChecks`,
    targetPool: `regions/${ctx.region}/targetPools`,
    instanceGroup: `zones/${ref.zone}/instanceGroups`,
    networkEndpointGroup: `zones/${ref.zone}/networkEndpointGroups`,
    regionBackendService: `regions/${ctx.region}/backendServices`,
    regionTargetTcpProxy: `regions/${ctx.region}/targetTcpProxies`,
    forwardingRule: `regions/${ctx.region}/forwardingRules`,
  };
  return `${p(ctx)}/${collection[ref.kind]}/${ref.name}`;
}

function networkPath(ctx: GcpContext): string {
  return `${p(ctx)}/global/networks/${ctx.network}`;
}

function subnetworkPath(ctx: GcpContext, name: string): string {
  return `${p(ctx)}/regions/${ctx.region}/subnetworks/${name}`;
}

function targetsOfFirewall(ctx: GcpContext): Record<string, unknown> {
  return ctx.nodeTags.length > 0 ? { targetTags: [...ctx.nodeTags].sort() } : { targetServiceAccounts: [ctx.nodeServiceAccount] };
}

/** GCE firewalls take ports per protocol; sorted so that a comparison does not depend on the Service's order. */
function allowed(listeners: Array<Pick<Listener, 'protocol' | 'port'>>): Array<{ IPProtocol: string; ports: string[] }> {
  const byProtocol = new Map<string, Set<number>>();
  for (const l of listeners) byProtocol.set(l.protocol.toLowerCase(), (byProtocol.get(l.protocol.toLowerCase()) ?? new Set()).add(l.port));
  return [...byProtocol]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([IPProtocol, ports]) => ({ IPProtocol, ports: [...ports].sort((a, b) => a - b).map(String) }));
}

function resource(
  kind: Kind,
  name: string,
  spec: Record<string, unknown>,
  description: string,
  extra: Partial<Pick<DesiredResource, 'zone' | 'members' | 'shared' | 'dependsOn'>> = {},
): DesiredResource {
  return { kind, name, spec, description, shared: extra.shared ?? false, dependsOn: extra.dependsOn ?? [], ...extra };
}

function sessionAffinity(desired: DesiredLoadBalancer): string {
  return desired.sessionAffinity.type === 'ClientIP' ? 'CLIENT_IP' : 'NONE';
}

function checkListeners(desired: DesiredLoadBalancer): void {
  if (desired.listeners.length === 0) throw invalidService('the Service has no ports');
  for (const l of desired.listeners) {
    if (l.protocol === 'SCTP') throw invalidService(`port ${l.port}/SCTP: GCE load balancers do not support SCTP`);
    if (!Number.isInteger(l.nodePort) || l.nodePort <= 0) throw invalidService(`port ${l.port}/${l.protocol} has no nodePort`);
  }
}

function checkNames(ctx: GcpContext): void {
  // The longest cluster-scoped name is k8s-<cluster>-node-http-hc; GCE names stop at 63 characters.
  if (httpHealthCheckFirewallName(ctx.clusterName, '', true).length > 63) {
    throw invalidService(`clusterName "${ctx.clusterName}" is too long for GCE resource names (at most 47 characters)`);
  }
}

interface HealthCheckChoice {
  shared: boolean;
  name: string;
  port: number;
  path: string;
}

function healthCheckChoice(desired: DesiredLoadBalancer, ctx: GcpContext): HealthCheckChoice {
  const hc = desired.healthCheck;
  if (desired.externalTrafficPolicy === 'Local' && hc.kind === 'http') {
    return { shared: false, name: desired.identity.lbName, port: hc.port, path: hc.path };
  }
  return { shared: true, name: nodesHealthCheckName(ctx.clusterName), ...KUBE_PROXY_HEALTH };
}

function externalAddress(desired: DesiredLoadBalancer, tier: NetworkTier | undefined): AddressPlan {
  const { identity } = desired;
  const spec: Record<string, unknown> = { addressType: 'EXTERNAL', ...(tier ? { networkTier: tier } : {}) };
  const plan: AddressPlan = { resource: resource('address', identity.lbName, spec, serviceDescription(identity)) };
  const requested = desired.requestedIPs[0];
  if (requested !== undefined) plan.requestedIP = requested;
  return plan;
}

function httpHealthCheckResources(desired: DesiredLoadBalancer, ctx: GcpContext, ip: string): DesiredResource[] {
  const hc = healthCheckChoice(desired, ctx);
  const description = hc.shared ? clusterDescription(ctx.clusterName) : serviceDescription(desired.identity, ip);
  return [
    resource(
      'firewall',
      httpHealthCheckFirewallName(ctx.clusterName, hc.name, hc.shared),
      {
        network: networkPath(ctx),
        sourceRanges: LEGACY_HEALTH_CHECK_RANGES,
        allowed: [{ IPProtocol: 'tcp', ports: [String(hc.port)] }],
        priority: 1000,
        ...targetsOfFirewall(ctx),
      },
      description,
      { shared: hc.shared },
    ),
    resource(
      'httpHealthCheck',
      hc.name,
      { port: hc.port, requestPath: hc.path, ...HEALTH_CHECK_TIMING },
      hc.shared ? clusterDescription(ctx.clusterName) : serviceDescription(desired.identity),
      { shared: hc.shared },
    ),
  ];
}

function serviceFirewall(desired: DesiredLoadBalancer, ctx: GcpContext, ip: string, listeners: Listener[]): DesiredResource {
  return resource(
    'firewall',
    firewallName(desired.identity.lbName),
    {
      network: networkPath(ctx),
      sourceRanges: desired.sourceRanges.length > 0 ? desired.sourceRanges : ['0.0.0.0/0'],
      destinationRanges: [`${ip}/32`],
      allowed: allowed(listeners),
      priority: 1000,
      ...targetsOfFirewall(ctx),
    },
    serviceDescription(desired.identity, ip),
  );
}

function portRange(listeners: Listener[]): string {
  const ports = listeners.map((l) => l.port);
  return `${Math.min(...ports)}-${Math.max(...ports)}`;
}

function protocolsOf(listeners: Listener[]): Array<'TCP' | 'UDP'> {
  return (['TCP', 'UDP'] as const).filter((proto) => listeners.some((l) => l.protocol === proto));
}

function passthrough(desired: DesiredLoadBalancer, options: GcpServiceOptions, ctx: GcpContext, nodes: NodeInstance[]): ShapePlan {
  const { identity } = desired;
  const lb = identity.lbName;
  const address = externalAddress(desired, options.networkTier);
  return {
    shape: 'passthrough',
    address,
    skipped: [],
    resources(ip) {
      const hc = healthCheckChoice(desired, ctx);
      const hcRef: ResourceRef = { kind: 'httpHealthCheck', name: hc.name };
      const pool = resource(
        'targetPool',
        lb,
        { healthChecks: [resourcePath(ctx, hcRef)], sessionAffinity: sessionAffinity(desired) },
        serviceDescription(identity),
        { members: nodes.map(instanceMember), dependsOn: [refKey(hcRef)] },
      );
      const protocols = protocolsOf(desired.listeners);
      const rules = protocols.map((protocol) =>
        resource(
          'forwardingRule',
          forwardingRuleName(lb, protocol, protocols.length > 1),
          {
            IPAddress: ip,
            IPProtocol: protocol,
            portRange: portRange(desired.listeners.filter((l) => l.protocol === protocol)),
            target: resourcePath(ctx, pool),
            loadBalancingScheme: 'EXTERNAL',
            ...(options.networkTier ? { networkTier: options.networkTier } : {}),
          },
          serviceDescription(identity),
          { dependsOn: [refKey(pool), refKey(address.resource)] },
        ),
      );
      return [serviceFirewall(desired, ctx, ip, desired.listeners), ...httpHealthCheckResources(desired, ctx, ip), pool, ...rules];
    },
  };
}

function neg(desired: DesiredLoadBalancer, options: GcpServiceOptions, ctx: GcpContext, nodes: NodeInstance[]): ShapePlan {
  const { identity } = desired;
  const lb = identity.lbName;
  if (ctx.proxySubnetCidr === undefined) {
    throw invalidService(
      `mode neg needs a proxy-only subnetwork (purpose REGIONAL_MANAGED_PROXY) in region ${ctx.region}: set provider.gcp.proxySubnet`,
    );
  }
  if (desired.sourceRanges.length > 0) {
    throw invalidService(
      'mode neg cannot enforce loadBalancerSourceRanges: the nodes see the proxies, not the clients; use mode passthrough for this Service',
    );
  }
  const tcp = desired.listeners.filter((l) => l.protocol === 'TCP');
  const skipped = desired.listeners.filter((l) => l.protocol !== 'TCP');
  if (tcp.length === 0) {
    throw invalidService(`mode neg serves TCP only and this Service has no TCP port; set annotation ${Annotations.mode}: passthrough`);
  }
  const proxyCidr = ctx.proxySubnetCidr;
  const address = externalAddress(desired, options.networkTier);
  return {
    shape: 'neg',
    address,
    skipped,
    resources(ip) {
      const description = serviceDescription(identity);
      const local = healthCheckChoice(desired, ctx);
      const hcSpec: Record<string, unknown> = local.shared
        ? { type: 'TCP', tcpHealthCheck: { portSpecification: 'USE_SERVING_PORT' } }
        : { type: 'HTTP', httpHealthCheck: { port: local.port, requestPath: local.path } };
      const hc = resource('regionHealthCheck', lb, { ...hcSpec, ...HEALTH_CHECK_TIMING }, description);
      const hcPorts = local.shared
        ? tcp.map((l) => ({ protocol: 'TCP' as const, port: l.nodePort }))
        : [{ protocol: 'TCP' as const, port: local.port }];
      const firewalls = [
        resource(
          'firewall',
          firewallName(lb),
          {
            network: networkPath(ctx),
            sourceRanges: [proxyCidr],
            allowed: allowed(tcp.map((l) => ({ protocol: l.protocol, port: l.nodePort }))),
            priority: 1000,
            ...targetsOfFirewall(ctx),
          },
          serviceDescription(identity, ip),
        ),
        resource(
          'firewall',
          healthCheckFirewallName(ctx.clusterName, lb, false),
          {
            network: networkPath(ctx),
            sourceRanges: HEALTH_CHECK_RANGES,
            allowed: allowed(hcPorts),
            priority: 1000,
            ...targetsOfFirewall(ctx),
          },
          serviceDescription(identity, ip),
        ),
      ];
      const zones = [...byZone(nodes.filter((n) => n.ip !== undefined))];
      const perPort = tcp.flatMap((l) => {
        const name = negPortName(lb, l.port);
        const negs = zones.map(([zone, zoneNodes]) =>
          resource(
            'networkEndpointGroup',
            name,
            {
              networkEndpointType: 'GCE_VM_IP_PORT',
              network: networkPath(ctx),
              ...(ctx.subnetwork ? { subnetwork: subnetworkPath(ctx, ctx.subnetwork) } : {}),
            },
            description,
            { zone, members: zoneNodes.map((n) => endpointMember(n, l.nodePort)) },
          ),
        );
        const backend = resource(
          'regionBackendService',
          name,
          {
            loadBalancingScheme: 'EXTERNAL_MANAGED',
            protocol: 'TCP',
            healthChecks: [resourcePath(ctx, hc)],
            sessionAffinity: sessionAffinity(desired),
            backends: negs.map((n) => ({
              group: resourcePath(ctx, n),
              balancingMode: 'CONNECTION',
              maxConnectionsPerEndpoint: MAX_CONNECTIONS_PER_ENDPOINT,
            })),
          },
          description,
          { dependsOn: [refKey(hc), ...negs.map(refKey)] },
        );
        const proxy = resource('regionTargetTcpProxy', name, { service: resourcePath(ctx, backend), proxyHeader: 'NONE' }, description, {
          dependsOn: [refKey(backend)],
        });
        const rule = resource(
          'forwardingRule',
          name,
          {
            IPAddress: ip,
            IPProtocol: 'TCP',
            portRange: `${l.port}-${l.port}`,
            target: resourcePath(ctx, proxy),
            loadBalancingScheme: 'EXTERNAL_MANAGED',
            network: networkPath(ctx),
            ...(options.networkTier ? { networkTier: options.networkTier } : {}),
          },
          description,
          { dependsOn: [refKey(proxy), refKey(address.resource)] },
        );
        return { negs, backend, proxy, rule };
      });
      return [
        ...firewalls,
        hc,
        ...perPort.flatMap((x) => x.negs),
        ...perPort.map((x) => x.backend),
        ...perPort.map((x) => x.proxy),
        ...perPort.map((x) => x.rule),
      ];
    },
  };
}

function internal(desired: DesiredLoadBalancer, options: GcpServiceOptions, ctx: GcpContext, nodes: NodeInstance[]): ShapePlan {
  const { identity } = desired;
  const lb = identity.lbName;
  const protocols = protocolsOf(desired.listeners);
  if (protocols.length > 1) {
    throw invalidService(
      'an internal GCE load balancer serves one protocol: split TCP and UDP into two Services (as cloud-provider-gcp requires)',
    );
  }
  const subnet = options.internalSubnet ?? ctx.subnetwork;
  if (subnet === undefined) {
    throw invalidService(
      `an internal load balancer needs a subnetwork: set provider.gcp.subnetwork or annotation ${Annotations.internalSubnet}`,
    );
  }
  const spec: Record<string, unknown> = { addressType: 'INTERNAL', subnetwork: subnetworkPath(ctx, subnet) };
  const requested = desired.requestedIPs[0];
  // An internal IP that nobody reserved is reserved for the Service (and released with it), as cloud-provider-gcp does.
  if (requested !== undefined) spec['address'] = requested;
  const address: AddressPlan = { resource: resource('address', lb, spec, serviceDescription(identity)) };
  if (requested !== undefined) address.requestedIP = requested;
  return {
    shape: 'internal',
    address,
    skipped: [],
    resources(ip) {
      const protocol = protocols[0]!;
      const hc = healthCheckChoice(desired, ctx);
      const hcDescription = hc.shared ? clusterDescription(ctx.clusterName) : serviceDescription(identity);
      const healthCheck = resource(
        'healthCheck',
        hc.name,
        { type: 'HTTP', httpHealthCheck: { port: hc.port, requestPath: hc.path }, ...HEALTH_CHECK_TIMING },
        hcDescription,
        { shared: hc.shared },
      );
      const hcFirewall = resource(
        'firewall',
        healthCheckFirewallName(ctx.clusterName, lb, hc.shared),
        {
          network: networkPath(ctx),
          sourceRanges: LEGACY_HEALTH_CHECK_RANGES,
          allowed: [{ IPProtocol: 'tcp', ports: [String(hc.port)] }],
          priority: 1000,
          ...targetsOfFirewall(ctx),
        },
        hc.shared ? clusterDescription(ctx.clusterName) : serviceDescription(identity, ip),
        { shared: hc.shared },
      );
      const groups = [...byZone(nodes)].map(([zone, zoneNodes]) =>
        resource('instanceGroup', instanceGroupName(ctx.clusterName), { network: networkPath(ctx) }, clusterDescription(ctx.clusterName), {
          zone,
          shared: true,
          members: zoneNodes.map(instanceMember),
        }),
      );
      const backend = resource(
        'regionBackendService',
        lb,
        {
          loadBalancingScheme: 'INTERNAL',
          protocol,
          healthChecks: [resourcePath(ctx, healthCheck)],
          sessionAffinity: sessionAffinity(desired),
          backends: groups.map((g) => ({ group: resourcePath(ctx, g), balancingMode: 'CONNECTION' })),
        },
        serviceDescription(identity),
        { dependsOn: [refKey(healthCheck), ...groups.map(refKey)] },
      );
      const ports = [...new Set(desired.listeners.map((l) => String(l.port)))].sort((a, b) => Number(a) - Number(b));
      const rule = resource(
        'forwardingRule',
        lb,
        {
          IPAddress: ip,
          IPProtocol: protocol,
          loadBalancingScheme: 'INTERNAL',
          backendService: resourcePath(ctx, backend),
          network: networkPath(ctx),
          subnetwork: subnetworkPath(ctx, subnet),
          allowGlobalAccess: options.allowGlobalAccess,
          ...(ports.length > MAX_INTERNAL_PORTS ? { allPorts: true } : { ports }),
        },
        serviceDescription(identity),
        { dependsOn: [refKey(backend), refKey(address.resource)] },
      );
      return [serviceFirewall(desired, ctx, ip, desired.listeners), hcFirewall, healthCheck, ...groups, backend, rule];
    },
  };
}

/** The Service's resources for its shape; throws invalidService for what GCE cannot build. */
export function planShape(
  desired: DesiredLoadBalancer,
  options: GcpServiceOptions,
  configuredMode: GcpMode,
  ctx: GcpContext,
  nodes: NodeInstance[],
): ShapePlan {
  checkListeners(desired);
  checkNames(ctx);
  const shape = shapeOf(options, configuredMode);
  if (shape === 'internal') return internal(desired, options, ctx, nodes);
  if (shape === 'neg') return neg(desired, options, ctx, nodes);
  return passthrough(desired, options, ctx, nodes);
}

/**
 * Everything any shape of this Service could have left (a change of mode, of traffic policy, of protocols),
 * for cleanup and deletion; the neg-mode per-port resources are found by listing (ports come and go).
 * Shared ones carry the resource whose deletion must succeed first (a health check before its firewall).
 */
export interface Candidate {
  ref: ResourceRef;
  shared: boolean;
  /** Shared only: delete this one only if that one was deleted (nothing else uses it). */
  guard?: string;
}

export function candidates(lbName: string, clusterName: string, zones: string[]): Candidate[] {
  const node = nodesHealthCheckName(clusterName);
  const own = (kind: Kind, name: string): Candidate => ({ ref: { kind, name }, shared: false });
  const legacyShared: Candidate = { ref: { kind: 'httpHealthCheck', name: node }, shared: true };
  const internalShared: Candidate = { ref: { kind: 'healthCheck', name: node }, shared: true };
  return [
    own('forwardingRule', lbName),
    own('forwardingRule', `${lbName}-udp`),
    own('targetPool', lbName),
    own('regionBackendService', lbName),
    ...zones.map((zone) => ({ ref: { kind: 'instanceGroup' as const, name: instanceGroupName(clusterName), zone }, shared: true })),
    own('httpHealthCheck', lbName),
    own('healthCheck', lbName),
    own('regionHealthCheck', lbName),
    legacyShared,
    internalShared,
    own('firewall', firewallName(lbName)),
    own('firewall', httpHealthCheckFirewallName(clusterName, lbName, false)),
    own('firewall', healthCheckFirewallName(clusterName, lbName, false)),
    {
      ref: { kind: 'firewall', name: httpHealthCheckFirewallName(clusterName, node, true) },
      shared: true,
      guard: refKey(legacyShared.ref),
    },
    {
      ref: { kind: 'firewall', name: healthCheckFirewallName(clusterName, lbName, true) },
      shared: true,
      guard: refKey(internalShared.ref),
    },
    own('address', lbName),
  ];
}
