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
import { compareStrings } from '../compare.ts';

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

/**
 * The last node list and its targets. Every Service synced against the same nodes gets the same frozen
 * array (and, below, the same fingerprint string) instead of its own copy: at a thousand Services and a
 * hundred nodes, copies were most of the heap. Informers replace an object when it changes, so identity
 * of the list's elements is enough to know the nodes did not change.
 */
let lastNodes: readonly V1Node[] = [];
let lastTargets: Target[] = Object.freeze([]) as unknown as Target[];

export function eligibleTargets(nodes: readonly V1Node[]): Target[] {
  if (nodes.length === lastNodes.length && nodes.every((node, i) => node === lastNodes[i])) return lastTargets;
  lastNodes = [...nodes];
  lastTargets = Object.freeze(computeTargets(nodes)) as Target[];
  return lastTargets;
}

function computeTargets(nodes: readonly V1Node[]): Target[] {
  return nodes
    .filter(nodeIsEligible)
    .map((node) => {
      const labels = node.metadata?.labels;
      return {
        nodeName: node.metadata?.name ?? '',
        addresses: (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })),
        ...(node.spec?.providerID ? { providerID: node.spec.providerID } : {}),
        ...(labels && Object.keys(labels).length > 0 ? { labels: Object.freeze({ ...labels }) } : {}),
      };
    })
    .map((target) =>
      Object.freeze({ ...target, addresses: Object.freeze(target.addresses.map((a) => Object.freeze(a))) as Target['addresses'] }),
    )
    .sort((a, b) => compareStrings(a.nodeName, b.nodeName));
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

const fingerprints = new WeakMap<readonly Target[], string>();

/**
 * What a host update is for: the targets with their addresses, providerIDs and labels. A node without any
 * address cannot be a target for any provider, so it changes nothing here (it still reaches providers in
 * desired.targets, as an eligible node). Services share one frozen node list per node set, so the
 * fingerprint is computed once per node set.
 */
export function targetsFingerprint(desired: DesiredLoadBalancer): string {
  let fingerprint = fingerprints.get(desired.targets);
  if (fingerprint === undefined) {
    fingerprint = JSON.stringify(desired.targets.filter((t) => t.addresses.length > 0));
    fingerprints.set(desired.targets, fingerprint);
  }
  return fingerprint;
}
