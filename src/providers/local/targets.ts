// From what the core wants to what the workers serve: the frontends of a load balancer, their
// backends, and the probes that decide which backends are healthy. Pure.
import type { DesiredLoadBalancer, IPFamily, Listener, Target } from '../provider.ts';
import { parseIP } from './ip.ts';
import type { Probe } from './health.ts';
import type { BackendSpec, FrontendSpec } from './proxy-spec.ts';

/**
 * The node address to forward to: the first configured address type that the node has, preferring
 * the VIP's family (the proxy can cross families, the node's own addresses are what matters).
 */
export function targetAddress(target: Target, family: IPFamily, preference: readonly string[]): string | undefined {
  const candidates = preference.flatMap((type) => target.addresses.filter((a) => a.type === type).map((a) => a.address));
  return candidates.find((a) => parseIP(a)?.family === family) ?? candidates.find((a) => parseIP(a) !== undefined);
}

/**
 * How a backend is judged. HTTP health (externalTrafficPolicy Local) covers every port of a node. A UDP
 * port cannot be probed by a connect, so with TCP checks it follows the node's TCP ports, and when the
 * Service has none it is taken as healthy.
 */
function probesOf(desired: DesiredLoadBalancer, listener: Listener, address: string): Probe[] {
  const hc = desired.healthCheck;
  if (hc.kind === 'http') return [{ kind: 'http', address, port: hc.port, path: hc.path }];
  if (listener.protocol === 'TCP') return [{ kind: 'tcp', address, port: listener.nodePort }];
  return desired.listeners.filter((l) => l.protocol === 'TCP').map((l) => ({ kind: 'tcp', address, port: l.nodePort }) as Probe);
}

export interface Plan {
  frontends: FrontendSpec[];
  probes: Probe[];
}

/** Frontends for every VIP x listener; `healthy` says how a probe stands now. */
export function planFrontends(
  desired: DesiredLoadBalancer,
  ips: string[],
  nodeAddressPreference: readonly string[],
  healthy: (probe: Probe) => boolean,
): Plan {
  const probes = new Map<string, Probe>();
  const frontends: FrontendSpec[] = [];
  for (const ip of ips) {
    const family = parseIP(ip)!.family;
    for (const listener of desired.listeners) {
      if (listener.protocol !== 'TCP' && listener.protocol !== 'UDP') continue;
      const backends: BackendSpec[] = [];
      for (const target of desired.targets) {
        const address = targetAddress(target, family, nodeAddressPreference);
        if (!address) continue;
        const judges = probesOf(desired, listener, address);
        for (const probe of judges) probes.set(JSON.stringify(probe), probe);
        const isHealthy =
          judges.length === 0 ||
          (listener.protocol === 'UDP' && desired.healthCheck.kind === 'tcp' ? judges.some(healthy) : judges.every(healthy));
        backends.push({ id: target.nodeName, node: target.nodeName, address, port: listener.nodePort, healthy: isHealthy });
      }
      frontends.push({ protocol: listener.protocol, ip, port: listener.port, backends });
    }
  }
  return { frontends, probes: [...probes.values()] };
}
