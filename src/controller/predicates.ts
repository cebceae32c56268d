// Pure decisions about Services and Nodes, matching the upstream service controller's rules.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { serviceKey } from '../providers/provider.ts';

export const LB_FINALIZER = 'service.kubernetes.io/load-balancer-cleanup';
export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';
/**
 * The class whose controller provisioned the load balancer ("" for no class), recorded with our
 * finalizer: the API server clears spec.loadBalancerClass when the type changes away from
 * LoadBalancer, and without this record no controller could tell whose cleanup it is.
 */
export const MANAGED_CLASS_ANNOTATION = 'service-lb-controller.io/managed-by-class';

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

/** Whether this controller provisioned the Service's load balancer: by the recorded class, else by spec. */
export function isManagedBy(svc: V1Service, ownedClass: string | null): boolean {
  const recorded = svc.metadata?.annotations?.[MANAGED_CLASS_ANNOTATION];
  if (recorded !== undefined) return recorded === (ownedClass ?? '');
  return hasOwnedClass(svc, ownedClass);
}

/**
 * Whether the Service is this controller's business: it wants a load balancer of our class, or holds one
 * we provisioned (our finalizer, recorded with our class) that may still need cleaning up.
 */
export function isOurs(svc: V1Service, ownedClass: string | null): boolean {
  return wantsLoadBalancer(svc, ownedClass) || (hasFinalizer(svc) && isManagedBy(svc, ownedClass));
}

/**
 * The finalizer is set, the load balancer is ours, and the Service is going away, no longer of type
 * LoadBalancer, or a LoadBalancer of another class now (it went through ClusterIP while we were not
 * watching: down, or the API server was). The finalizer name is shared by every service controller, so
 * a Service another controller provisioned is never ours to clean up.
 */
export function needsCleanup(svc: V1Service, ownedClass: string | null): boolean {
  if (!hasFinalizer(svc) || !isManagedBy(svc, ownedClass)) return false;
  return svc.metadata?.deletionTimestamp !== undefined || svc.spec?.type !== 'LoadBalancer' || !hasOwnedClass(svc, ownedClass);
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

/**
 * A node update matters when its eligibility flips or its providerID changes (upstream's rule), when its
 * addresses change (our providers target node IPs, not cloud instances), or when its labels change (a
 * provider may pick targets by label, as AWS's target-node-labels does). Labels change about as rarely as
 * nodes come and go; heartbeats and condition updates, the frequent node updates, touch none of these.
 */
export function nodeChangeNeedsSync(oldNode: V1Node, newNode: V1Node): boolean {
  if (nodeIsEligible(oldNode) !== nodeIsEligible(newNode)) return true;
  if (oldNode.spec?.providerID !== newNode.spec?.providerID) return true;
  if (!isDeepStrictEqual(oldNode.metadata?.labels ?? {}, newNode.metadata?.labels ?? {})) return true;
  return !isDeepStrictEqual(oldNode.status?.addresses ?? [], newNode.status?.addresses ?? []);
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

/** The queue key of a Service object. */
export function serviceKeyOf(svc: V1Service): string {
  return serviceKey({ namespace: svc.metadata?.namespace ?? 'default', name: svc.metadata?.name ?? '' });
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
