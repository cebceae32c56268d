// Pure planning: a Service and the live Nodes in, the cloud-agnostic desired load balancer out.
import type { V1LoadBalancerIngress, V1Node, V1Service } from '@kubernetes/client-node';
import {
  defaultLoadBalancerName,
  type DesiredLoadBalancer,
  type HealthCheck,
  type IngressStatus,
  type IPFamily,
  type LoadBalancerIdentity,
  type Listener,
  type Protocol,
  type Target,
} from '../providers/provider.ts';
import { nodeIsEligible } from './predicates.ts';

export function identityOf(svc: V1Service, clusterName: string): LoadBalancerIdentity {
  const uid = svc.metadata?.uid ?? '';
  return {
    clusterName,
    namespace: svc.metadata?.namespace ?? 'default',
    name: svc.metadata?.name ?? '',
    uid,
    lbName: defaultLoadBalancerName(uid),
  };
}

export function eligibleTargets(nodes: readonly V1Node[]): Target[] {
  return nodes
    .filter(nodeIsEligible)
    .map((node) => ({
      nodeName: node.metadata?.name ?? '',
      addresses: (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })),
      ...(node.spec?.providerID ? { providerID: node.spec.providerID } : {}),
    }))
    .sort((a, b) => a.nodeName.localeCompare(b.nodeName));
}

/** The deprecated annotation upstream still honours when spec.loadBalancerSourceRanges is empty. */
export const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';

function sourceRangesOf(svc: V1Service): string[] {
  const fromSpec = svc.spec?.loadBalancerSourceRanges ?? [];
  if (fromSpec.length) return fromSpec;
  const annotation = svc.metadata?.annotations?.[SOURCE_RANGES_ANNOTATION] ?? '';
  return annotation
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
}

function healthCheckOf(svc: V1Service): HealthCheck {
  const spec = svc.spec ?? {};
  if (spec.externalTrafficPolicy === 'Local' && spec.healthCheckNodePort) {
    return { kind: 'http', port: spec.healthCheckNodePort, path: '/healthz' };
  }
  return { kind: 'tcp' };
}

export function ingressFromStatus(entries: readonly V1LoadBalancerIngress[] | undefined): IngressStatus[] {
  return (entries ?? []).map((e) => ({
    ...(e.ip ? { ip: e.ip } : {}),
    ...(e.hostname ? { hostname: e.hostname } : {}),
    ...(e.ipMode ? { ipMode: e.ipMode as 'VIP' | 'Proxy' } : {}),
    ...(e.ports?.length
      ? { ports: e.ports.map((p) => ({ port: p.port, protocol: p.protocol as Protocol, ...(p.error ? { error: p.error } : {}) })) }
      : {}),
  }));
}

export function desiredLoadBalancer(svc: V1Service, nodes: readonly V1Node[], clusterName: string): DesiredLoadBalancer {
  const spec = svc.spec ?? {};
  const listeners: Listener[] = (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    protocol: (p.protocol ?? 'TCP') as Protocol,
    port: p.port,
    nodePort: p.nodePort ?? 0,
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
  const timeoutSeconds = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  return {
    identity: identityOf(svc, clusterName),
    listeners,
    targets: eligibleTargets(nodes),
    healthCheck: healthCheckOf(svc),
    externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    sourceRanges: sourceRangesOf(svc),
    sessionAffinity: {
      type: spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None',
      ...(spec.sessionAffinity === 'ClientIP' && timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    },
    requestedIPs: spec.loadBalancerIP ? [spec.loadBalancerIP] : [],
    ipFamilies: (spec.ipFamilies ?? ['IPv4']) as IPFamily[],
    annotations: svc.metadata?.annotations ?? {},
    currentIngress: ingressFromStatus(svc.status?.loadBalancer?.ingress),
  };
}

/** Everything that needs a full ensure when it changes: the desired state minus targets and status. */
export function specFingerprint(desired: DesiredLoadBalancer): string {
  const { targets: _targets, currentIngress: _ingress, ...rest } = desired;
  return JSON.stringify(rest);
}

export function targetsFingerprint(desired: DesiredLoadBalancer): string {
  return JSON.stringify(desired.targets);
}
