// Pure NodePort selection for ports left at 0 (allocateLoadBalancerNodePorts: false).
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';

export interface PortRange {
  from: number;
  to: number;
}

/** Every NodePort (and healthCheckNodePort) taken by any Service, which share one cluster-wide range. */
export function usedNodePorts(services: Iterable<V1Service>): Set<number> {
  const used = new Set<number>();
  for (const svc of services) {
    for (const p of svc.spec?.ports ?? []) if (p.nodePort) used.add(p.nodePort);
    if (svc.spec?.healthCheckNodePort) used.add(svc.spec.healthCheckNodePort);
  }
  return used;
}

/**
 * Picks `count` free ports from the range, starting at a point derived from `seed` so that concurrent
 * controllers and Services do not all race for the lowest port. Returns fewer when the range is full.
 */
export function pickFreePorts(range: PortRange, used: ReadonlySet<number>, count: number, seed: number): number[] {
  const size = range.to - range.from + 1;
  const picked: number[] = [];
  for (let i = 0; i < size && picked.length < count; i++) {
    const port = range.from + ((seed + i) % size);
    if (!used.has(port)) picked.push(port);
  }
  return picked;
}

/** The Service's ports with each port at 0 given the next picked port; TCP and UDP on one number share it. */
export function assignNodePorts(svc: V1Service, ports: readonly number[]): V1ServicePort[] {
  // As the API server's allocator does: a port number that already has a NodePort on one protocol
  // reuses it for the other.
  const byNumber = new Map<number, number>();
  for (const p of svc.spec?.ports ?? []) if (p.nodePort && !byNumber.has(p.port)) byNumber.set(p.port, p.nodePort);
  let next = 0;
  return (svc.spec?.ports ?? []).map((p) => {
    if (p.nodePort) return p;
    let nodePort = byNumber.get(p.port);
    if (nodePort === undefined) {
      nodePort = ports[next++];
      if (nodePort === undefined) throw new Error('not enough free NodePorts');
      byNumber.set(p.port, nodePort);
    }
    return { ...p, nodePort };
  });
}

/** How many distinct port numbers still lack a NodePort. */
export function nodePortsNeeded(svc: V1Service): number {
  const ports = svc.spec?.ports ?? [];
  const assigned = new Set(ports.filter((p) => p.nodePort).map((p) => p.port));
  return new Set(ports.filter((p) => !p.nodePort && !assigned.has(p.port)).map((p) => p.port)).size;
}
