// From what the core wants to what the workers serve: the frontends of a load balancer, their
// backends, and the health checks that decide which backends are healthy. Pure.
import type { DesiredLoadBalancer, IPFamily, Target } from '../provider.ts';
import { parseIP } from './ip.ts';
import { probeKey, type Probe } from './health.ts';
import type { BackendSpec, FrontendSpec } from './proxy-spec.ts';

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
  return candidates.find((a) => parseIP(a)?.family === family) ?? candidates.find((a) => parseIP(a) !== undefined);
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
  frontends: FrontendSpec[];
  /** Every check the plan's backends depend on, once each. */
  probes: Probe[];
}

/**
 * Frontends for every VIP x listener. `healthy` gives a check's verdict by key; it is asked once per node
 * and address family, so applying a verdict costs O(backends), whatever the number of checks.
 */
export function planFrontends(
  desired: DesiredLoadBalancer,
  ips: string[],
  nodeAddressPreference: readonly string[],
  cluster: ClusterCheck,
  healthy: (key: string) => boolean,
): Plan {
  const probes = new Map<string, Probe>();
  const byFamily = new Map<IPFamily, { node: string; address: string; healthy: boolean }[]>();
  const nodesFor = (family: IPFamily) => {
    let nodes = byFamily.get(family);
    if (nodes) return nodes;
    nodes = [];
    for (const target of desired.targets) {
      const address = targetAddress(target, family, nodeAddressPreference);
      if (!address) continue;
      const probe = checkOf(desired, target.nodeName, address, cluster);
      const key = probeKey(probe);
      probes.set(key, probe);
      nodes.push({ node: target.nodeName, address, healthy: healthy(key) });
    }
    byFamily.set(family, nodes);
    return nodes;
  };
  const frontends: FrontendSpec[] = [];
  for (const ip of ips) {
    const nodes = nodesFor(parseIP(ip)!.family);
    for (const listener of desired.listeners) {
      if (listener.protocol !== 'TCP' && listener.protocol !== 'UDP') continue;
      const backends: BackendSpec[] = nodes.map((n) => ({
        id: n.node,
        node: n.node,
        address: n.address,
        port: listener.nodePort,
        healthy: n.healthy,
      }));
      frontends.push({ protocol: listener.protocol, ip, port: listener.port, backends });
    }
  }
  return { frontends, probes: [...probes.values()] };
}
