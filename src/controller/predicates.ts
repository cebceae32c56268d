// Pure decisions about Services and Nodes, matching the upstream service controller's rules.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';

export const LB_FINALIZER = 'service.kubernetes.io/load-balancer-cleanup';
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export function hasFinalizer(svc: V1Service): boolean {
  return svc.metadata?.finalizers?.includes(LB_FINALIZER) ?? false;
}

/** The Service's class is the one this controller owns (null: only Services without a class). */
export function hasOwnedClass(svc: V1Service, ownedClass: string | null): boolean {
  return (svc.spec?.loadBalancerClass ?? null) === ownedClass;
}

export function wantsLoadBalancer(svc: V1Service, ownedClass: string | null): boolean {
  return svc.spec?.type === 'LoadBalancer' && hasOwnedClass(svc, ownedClass);
}

/**
 * The finalizer is set, the Service is of our class, and it is going away or no longer of type
 * LoadBalancer. The finalizer name is shared by every service controller, so a Service of another
 * class is never ours to clean up. (The API server clears the class when the type changes; the
 * reconciler covers that case for a classed controller from what it applied.)
 */
export function needsCleanup(svc: V1Service, ownedClass: string | null): boolean {
  if (!hasFinalizer(svc) || !hasOwnedClass(svc, ownedClass)) return false;
  return svc.metadata?.deletionTimestamp !== undefined || svc.spec?.type !== 'LoadBalancer';
}

/** Go's strconv.ParseBool, which upstream uses for the exclude label. */
function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * Whether a node may be a load balancer target. Readiness is deliberately not a filter (KEP-3458):
 * health checks decide where traffic goes, so readiness flapping does not churn targets.
 */
export function nodeIsEligible(node: V1Node): boolean {
  if (node.metadata?.deletionTimestamp !== undefined) return false;
  const exclude = node.metadata?.labels?.[EXCLUDE_LB_LABEL];
  // Upstream excludes on any value that does not parse as false, including "" and garbage.
  if (exclude !== undefined && parseGoBool(exclude) !== false) return false;
  if (node.spec?.taints?.some((t) => t.key === TO_BE_DELETED_TAINT)) return false;
  return true;
}

/** A node update matters only when its eligibility flips or its providerID changes. */
export function nodeChangeNeedsSync(oldNode: V1Node, newNode: V1Node): boolean {
  if (nodeIsEligible(oldNode) !== nodeIsEligible(newNode)) return true;
  return oldNode.spec?.providerID !== newNode.spec?.providerID;
}

function portsKey(svc: V1Service): unknown {
  return (svc.spec?.ports ?? []).map((p) => [p.name, p.protocol, p.port, p.nodePort, p.targetPort, p.appProtocol]);
}

/**
 * The upstream needsUpdate table: the Service changes that require a cloud update. Labels, selector and
 * status do not.
 */
export function serviceNeedsUpdate(oldSvc: V1Service, newSvc: V1Service, ownedClass: string | null): boolean {
  if (!wantsLoadBalancer(oldSvc, ownedClass) && !wantsLoadBalancer(newSvc, ownedClass)) return false;
  const o = oldSvc.spec ?? {};
  const n = newSvc.spec ?? {};
  return (
    wantsLoadBalancer(oldSvc, ownedClass) !== wantsLoadBalancer(newSvc, ownedClass) ||
    !isDeepStrictEqual(o.loadBalancerSourceRanges ?? [], n.loadBalancerSourceRanges ?? []) ||
    !isDeepStrictEqual(portsKey(oldSvc), portsKey(newSvc)) ||
    o.sessionAffinity !== n.sessionAffinity ||
    !isDeepStrictEqual(o.sessionAffinityConfig, n.sessionAffinityConfig) ||
    o.loadBalancerIP !== n.loadBalancerIP ||
    !isDeepStrictEqual(o.externalIPs ?? [], n.externalIPs ?? []) ||
    !isDeepStrictEqual(oldSvc.metadata?.annotations ?? {}, newSvc.metadata?.annotations ?? {}) ||
    oldSvc.metadata?.uid !== newSvc.metadata?.uid ||
    o.externalTrafficPolicy !== n.externalTrafficPolicy ||
    o.healthCheckNodePort !== n.healthCheckNodePort ||
    (o.ipFamilies?.length ?? 0) !== (n.ipFamilies?.length ?? 0)
  );
}

/** Changes that need a sync but no cloud update: the finalizer and deletion bookkeeping. */
export function serviceLifecycleChanged(oldSvc: V1Service, newSvc: V1Service): boolean {
  return (
    hasFinalizer(oldSvc) !== hasFinalizer(newSvc) ||
    oldSvc.metadata?.deletionTimestamp !== newSvc.metadata?.deletionTimestamp ||
    !isDeepStrictEqual(oldSvc.status?.loadBalancer ?? {}, newSvc.status?.loadBalancer ?? {})
  );
}

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
