// From what the core wants to what the workers serve: the frontends of a load balancer, their
// backends, and the health checks that decide which backends are healthy. Pure.
import type { DesiredLoadBalancer, IPFamily, Target } from '../provider.ts';
import { ipFamily } from '../../net/cidr.ts';
import { probeKey, type Probe } from './health.ts';
import type { NodeBackend, PlannedFrontend } from './proxy-spec.ts';

/** How a node is checked for Services with externalTrafficPolicy Cluster (provider.local.healthCheck.cluster). */
export interface ClusterCheck {
  protocol: 'HTTP' | 'TCP';
  port: number;
  path: string;
}

/**
 * The node address to forward to: the first configured address type that the node has, preferring
 * the VIP's family (the proxy can cross families, the node's own addresses are what matters).
 */
export function targetAddress(target: Target, family: IPFamily, preference: readonly string[]): string | undefined {
  const candidates = preference.flatMap((type) => target.addresses.filter((a) => a.type === type).map((a) => a.address));
  return candidates.find((a) => ipFamily(a) === family) ?? candidates.find((a) => ipFamily(a) !== undefined);
}

/**
 * The one check that judges a node for every port of a load balancer. With externalTrafficPolicy Local,
 * kube-proxy's healthCheckNodePort says whether the node has an endpoint of this Service. With Cluster,
 * any node forwards to any endpoint, so whether the node forwards at all is the question: one check per
 * node, the same for every such Service (and for UDP ports, which a connect cannot test).
 */
export function checkOf(desired: DesiredLoadBalancer, node: string, address: string, cluster: ClusterCheck): Probe {
  const hc = desired.healthCheck;
  if (hc.kind === 'http') return { node, kind: 'http', address, port: hc.port, path: hc.path };
  return cluster.protocol === 'HTTP'
    ? { node, kind: 'http', address, port: cluster.port, path: cluster.path }
    : { node, kind: 'tcp', address, port: cluster.port };
}

export interface Plan {
  frontends: PlannedFrontend[];
  /** Every check the plan's backends depend on, once each. */
  probes: Probe[];
}

/** A node as one address family and one kind of check see it. */
interface NodeEntry {
  node: string;
  address: string;
  probe: Probe;
  key: string;
}

/**
 * Node entries per target list, family and check. The core hands every Service the same frozen target
 * list until the nodes change, so a node change costs one address choice and check per node, not one
 * per Service and node.
 */
interface NodeEntries {
  entries: NodeEntry[];
  probes: Probe[];
  /** Targets with no usable address: no entry, no traffic. */
  unaddressable: string[];
}

const entriesCache = new WeakMap<readonly Target[], Map<string, NodeEntries>>();

function nodeEntries(
  desired: DesiredLoadBalancer,
  family: IPFamily,
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
): NodeEntries {
  const hc = desired.healthCheck;
  const check = hc.kind === 'http' ? `local:${hc.port}${hc.path}` : `cluster:${cluster.protocol}:${cluster.port}${cluster.path}`;
  const cacheKey = `${family}|${nodeAddressPreference.join(',')}|${check}`;
  let byKey = entriesCache.get(desired.targets);
  if (!byKey) {
    byKey = new Map();
    entriesCache.set(desired.targets, byKey);
  }
  let cached = byKey.get(cacheKey);
  if (!cached) {
    const entries: NodeEntry[] = [];
    const unaddressable: string[] = [];
    for (const target of desired.targets) {
      const address = targetAddress(target, family, nodeAddressPreference);
      if (!address) {
        unaddressable.push(target.nodeName);
        continue;
      }
      const probe = checkOf(desired, target.nodeName, address, cluster);
      entries.push({ node: target.nodeName, address, probe, key: probeKey(probe) });
    }
    cached = { entries, probes: entries.map((e) => e.probe), unaddressable };
    byKey.set(cacheKey, cached);
  }
  return cached;
}

const familiesOf = (ips: string[]): IPFamily[] => [...new Set(ips.map((ip) => ipFamily(ip)!))];

/** The targets that get no traffic for want of an address of the family and preferred types (computed once per node set). */
export function unaddressableTargets(
  desired: DesiredLoadBalancer,
  family: IPFamily,
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
): readonly string[] {
  return nodeEntries(desired, family, nodeAddressPreference, cluster).unaddressable;
}

/**
 * Whether two desired states of one load balancer send its VIPs to the same NodeIP:NodePorts: node entries are computed once per node set, so this costs one pass over the nodes and no copy.
 */
export function sameBackends(
  a: DesiredLoadBalancer,
  b: DesiredLoadBalancer,
  ips: string[],
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
): boolean {
  const listeners = (d: DesiredLoadBalancer) => d.listeners.map((l) => `${l.protocol}/${l.port}/${l.nodePort}`).join();
  if (listeners(a) !== listeners(b)) return false;
  if (a.targets === b.targets) return true;
  return familiesOf(ips).every((family) => {
    const x = nodeEntries(a, family, nodeAddressPreference, cluster).entries;
    const y = nodeEntries(b, family, nodeAddressPreference, cluster).entries;
    return x.length === y.length && x.every((e, i) => e.node === y[i]!.node && e.address === y[i]!.address);
  });
}

/** The checks a load balancer's backends depend on, once each. */
export function planChecks(
  desired: DesiredLoadBalancer,
  ips: string[],
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
): Probe[] {
  const families = familiesOf(ips);
  if (families.length === 1) return nodeEntries(desired, families[0]!, nodeAddressPreference, cluster).probes;
  const probes = new Map<string, Probe>();
  for (const family of families)
    for (const e of nodeEntries(desired, family, nodeAddressPreference, cluster).entries) probes.set(e.key, e.probe);
  return [...probes.values()];
}

/** Per node entry list: the backends last planned from it, and the health generation they reflect. */
const backendsCache = new WeakMap<readonly NodeEntry[], { generation: number; backends: readonly NodeBackend[] }>();

/**
 * Frontends for every VIP x listener. `healthy` gives a check's verdict by key; it is asked once per node
 * and address family, so applying a verdict costs O(backends), whatever the number of checks. With
 * `healthGeneration` (bumped whenever any verdict changes), load balancers planned against the same
 * nodes get the same backends list, worked out once per node set and generation.
 */
export function planFrontends(
  desired: DesiredLoadBalancer,
  ips: string[],
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
  healthy: (key: string) => boolean,
  healthGeneration?: number,
): Plan {
  const byFamily = new Map<IPFamily, readonly NodeBackend[]>();
  const nodesFor = (family: IPFamily) => {
    let nodes = byFamily.get(family);
    if (!nodes) {
      const entries = nodeEntries(desired, family, nodeAddressPreference, cluster).entries;
      const cached = backendsCache.get(entries);
      if (healthGeneration !== undefined && cached?.generation === healthGeneration) nodes = cached.backends;
      else {
        nodes = Object.freeze(entries.map((e) => Object.freeze({ node: e.node, address: e.address, healthy: healthy(e.key) })));
        if (healthGeneration !== undefined) backendsCache.set(entries, { generation: healthGeneration, backends: nodes });
      }
      byFamily.set(family, nodes);
    }
    return nodes;
  };
  const frontends: PlannedFrontend[] = [];
  for (const ip of ips) {
    const backends = nodesFor(ipFamily(ip)!);
    for (const listener of desired.listeners) {
      if (listener.protocol !== 'TCP' && listener.protocol !== 'UDP') continue;
      frontends.push({ protocol: listener.protocol, ip, port: listener.port, nodePort: listener.nodePort, backends });
    }
  }
  return { frontends, probes: planChecks(desired, ips, nodeAddressPreference, cluster) };
}
