// Pure: a Service and the live Nodes in, the cloud-agnostic desired state of its load balancer out.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { quoteList } from '../error-message.ts';
import { cleanCidrs } from '../net/cidr.ts';
import {
  defaultLoadBalancerName,
  invalidService,
  type DesiredLoadBalancer,
  type HealthCheck,
  type IPFamily,
  type LoadBalancerIdentity,
  type Listener,
  type Protocol,
  type Target,
} from '../providers/provider.ts';
import { nodeIsEligible } from './predicates.ts';
import { ingressFromStatus } from './status.ts';

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

/**
 * The allowed client ranges, trimmed, validated and canonical, so that providers get them clean. A bad
 * range fails the Service rather than leaving its load balancer open to everyone.
 */
function sourceRangesOf(svc: V1Service): string[] {
  const fromSpec = svc.spec?.loadBalancerSourceRanges ?? [];
  const raw = fromSpec.length ? fromSpec : (svc.metadata?.annotations?.[SOURCE_RANGES_ANNOTATION] ?? '').split(',');
  const { ranges, invalid } = cleanCidrs(raw);
  if (invalid.length > 0) {
    const field = fromSpec.length ? 'loadBalancerSourceRanges' : `annotation ${SOURCE_RANGES_ANNOTATION}`;
    throw invalidService(`${field}: ${quoteList(invalid)} ${invalid.length === 1 ? 'is not a CIDR' : 'are not CIDRs'}`);
  }
  return ranges;
}

function healthCheckOf(svc: V1Service): HealthCheck {
  const spec = svc.spec ?? {};
  if (spec.externalTrafficPolicy === 'Local' && spec.healthCheckNodePort) {
    return { kind: 'http', port: spec.healthCheckNodePort, path: '/healthz' };
  }
  return { kind: 'tcp' };
}

/** Throws invalidService when the Service cannot be served as written (a bad source range). */
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
