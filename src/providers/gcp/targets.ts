// Nodes -> GCE instances: spec.providerID "gce://project/zone/name" says which VM a node is, and in which zone.

import { ipFamily } from '../../net/cidr.ts';
import type { Target } from '../provider.ts';
import type { Member } from './model.ts';
import { compareStrings } from '../../compare.ts';

export interface NodeInstance {
  nodeName: string;
  project: string;
  zone: string;
  instance: string;
  /** The node address chosen by nodeAddressPreference (IPv4), when it has one. */
  ip?: string;
}

export function parseProviderId(providerID: string | undefined): { project: string; zone: string; instance: string } | undefined {
  const match = /^gce:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(providerID ?? '');
  return match ? { project: match[1]!, zone: match[2]!, instance: match[3]! } : undefined;
}

export interface ResolvedNodes {
  instances: NodeInstance[];
  /** Nodes that are no GCE instance (no or a foreign providerID): they cannot be targets. */
  skipped: string[];
}

export function resolveNodes(targets: Target[], preference: readonly string[]): ResolvedNodes {
  const instances: NodeInstance[] = [];
  const skipped: string[] = [];
  for (const t of targets) {
    const id = parseProviderId(t.providerID);
    if (!id) {
      skipped.push(t.nodeName);
      continue;
    }
    let ip: string | undefined;
    for (const type of preference) {
      ip = t.addresses.find((a) => a.type === type && ipFamily(a.address) === 'IPv4')?.address;
      if (ip) break;
    }
    instances.push({ nodeName: t.nodeName, ...id, ...(ip ? { ip } : {}) });
  }
  instances.sort((a, b) => compareStrings(a.zone, b.zone) || compareStrings(a.instance, b.instance));
  return { instances, skipped };
}

export function instancePath(n: Pick<NodeInstance, 'project' | 'zone' | 'instance'>): string {
  return `projects/${n.project}/zones/${n.zone}/instances/${n.instance}`;
}

export function instanceMember(n: NodeInstance): Member {
  const path = instancePath(n);
  return { key: path, value: { instance: path } };
}

/** A GCE_VM_IP_PORT endpoint: the instance (by name, in the NEG's zone), its IP and the NodePort. */
export function endpointMember(n: NodeInstance, port: number): Member {
  return { key: `${n.instance}|${n.ip}|${port}`, value: { instance: n.instance, ipAddress: n.ip, port } };
}

export function byZone(instances: NodeInstance[]): Map<string, NodeInstance[]> {
  const zones = new Map<string, NodeInstance[]>();
  for (const n of instances) zones.set(n.zone, [...(zones.get(n.zone) ?? []), n]);
  return zones;
}
