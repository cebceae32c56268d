// Resource names and descriptions exactly as cloud-provider-gcp writes them, so that a cluster switching to
// this controller keeps (and adopts) its load balancers. Descriptions add the Service UID and the cluster as
// extra JSON keys: cloud-provider-gcp ignores keys it does not know, and they let garbage collection match
// a leftover to its Service by UID.

import type { LoadBalancerIdentity } from '../provider.ts';

/** Firewall rule letting the Service's ports reach the nodes. */
export function firewallName(lbName: string): string {
  return `k8s-fw-${lbName}`;
}

/** The cluster-wide legacy HTTP health check on kube-proxy (externalTrafficPolicy: Cluster). */
export function nodesHealthCheckName(clusterId: string): string {
  return `k8s-${clusterId}-node`;
}

/** Firewall for Google's legacy health checkers, for a target pool's health check. */
export function httpHealthCheckFirewallName(clusterId: string, healthCheckName: string, shared: boolean): string {
  return shared ? `${nodesHealthCheckName(clusterId)}-http-hc` : `k8s-${healthCheckName}-http-hc`;
}

/** Firewall for the health checkers of an internal load balancer's (non-legacy) health check. */
export function healthCheckFirewallName(clusterId: string, lbName: string, shared: boolean): string {
  return shared ? `${nodesHealthCheckName(clusterId)}-hc` : `${lbName}-hc`;
}

/** The per-zone unmanaged instance groups that internal load balancers of the cluster share. */
export function instanceGroupName(clusterId: string): string {
  return `k8s-ig--${clusterId}`;
}

/**
 * Forwarding rules: cloud-provider-gcp makes one, named lbName, for a single-protocol Service. A Service
 * with TCP and UDP gets a second rule for UDP, named lbName-udp, on the same address.
 */
export function forwardingRuleName(lbName: string, protocol: 'TCP' | 'UDP', mixed: boolean): string {
  return mixed && protocol === 'UDP' ? `${lbName}-udp` : lbName;
}

/** Mode neg: one backend service, target proxy, forwarding rule and NEG per zone for each Service port. */
export function negPortName(lbName: string, port: number): string {
  return `${lbName}-${port}`;
}

const KEY_SERVICE = 'kubernetes.io/service-name';
const KEY_UID = 'kubernetes.io/service-uid';
const KEY_CLUSTER = 'kubernetes.io/cluster-name';
const KEY_CLUSTER_ID = 'kubernetes.io/cluster-id';

/** `{"kubernetes.io/service-name":"ns/name",...}` (plus the Service IP on firewall rules, as cloud-provider-gcp). */
export function serviceDescription(identity: LoadBalancerIdentity, serviceIp?: string): string {
  const fields: Record<string, string> = { [KEY_SERVICE]: `${identity.namespace}/${identity.name}` };
  if (serviceIp !== undefined) fields['kubernetes.io/service-ip'] = serviceIp;
  fields[KEY_UID] = identity.uid;
  fields[KEY_CLUSTER] = identity.clusterName;
  return JSON.stringify(fields);
}

/** Resources shared by the cluster's Services (the nodes' health check, its firewall, instance groups). */
export function clusterDescription(clusterId: string): string {
  return JSON.stringify({ [KEY_CLUSTER_ID]: clusterId });
}

function parse(description: string | null | undefined): Record<string, unknown> | undefined {
  if (!description) return undefined;
  try {
    const parsed: unknown = JSON.parse(description);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a resource with one of this Service's names is ours: it names the Service and, when it says so,
 * the same UID and cluster. A description with only the Service name is what cloud-provider-gcp wrote: ours
 * after a migration.
 */
export function describesService(description: string | null | undefined, identity: LoadBalancerIdentity): boolean {
  const d = parse(description);
  if (!d || d[KEY_SERVICE] !== `${identity.namespace}/${identity.name}`) return false;
  if (d[KEY_UID] !== undefined && d[KEY_UID] !== identity.uid) return false;
  return d[KEY_CLUSTER] === undefined || d[KEY_CLUSTER] === identity.clusterName;
}

/** The owner recorded by this controller (never by cloud-provider-gcp, which records no UID). */
export function identityFromDescription(
  description: string | null | undefined,
  clusterName: string,
  lbName: string,
): LoadBalancerIdentity | undefined {
  const d = parse(description);
  if (!d || d[KEY_CLUSTER] !== clusterName || typeof d[KEY_UID] !== 'string' || typeof d[KEY_SERVICE] !== 'string') return undefined;
  const service = d[KEY_SERVICE];
  const slash = service.indexOf('/');
  if (slash <= 0) return undefined;
  return { clusterName, namespace: service.slice(0, slash), name: service.slice(slash + 1), uid: d[KEY_UID], lbName };
}
