// The GKE annotations users already write for cloud-provider-gcp, plus this controller's mode switch. Parsing
// is strict (a bad value fails the sync naming the annotation); a GKE load balancer annotation this provider
// does not implement is reported as a Warning event, not silently ignored.

import { quote } from '../../error-message.ts';
import { invalidService } from '../provider.ts';
import { type GcpMode, gcpModes } from './config.ts';

export const Annotations = {
  mode: 'service-lb-controller.io/gcp-mode',
  loadBalancerType: 'networking.gke.io/load-balancer-type',
  legacyLoadBalancerType: 'cloud.google.com/load-balancer-type',
  allowGlobalAccess: 'networking.gke.io/internal-load-balancer-allow-global-access',
  internalSubnet: 'networking.gke.io/internal-load-balancer-subnet',
  networkTier: 'cloud.google.com/network-tier',
} as const;

const KNOWN = new Set<string>(Object.values(Annotations));

/** Annotations of cloud-provider-gcp and GKE's controllers that are about something else than load balancers. */
const UNRELATED = [/^cloud\.google\.com\/neg(-status)?$/, /^cloud\.google\.com\/backend-config$/, /^cloud\.google\.com\/app-protocols$/];

export type NetworkTier = 'PREMIUM' | 'STANDARD';

export interface GcpServiceOptions {
  /** undefined: the configured mode. */
  mode?: GcpMode;
  internal: boolean;
  allowGlobalAccess: boolean;
  /** A subnetwork name for the internal address, or undefined for the configured one. */
  internalSubnet?: string;
  /** undefined: the project's default tier (what GCE picks when none is given). */
  networkTier?: NetworkTier;
  /** Load balancer annotations of GKE that this provider does not implement: each gets a Warning event. */
  ignored: string[];
}

function bad(annotation: string, value: string, expected: string): Error {
  return invalidService(`annotation ${annotation}: ${quote(value)} is not valid, expected ${expected}`);
}

function parseInternal(annotations: Record<string, string>): boolean {
  // The current key wins over the deprecated one, as in cloud-provider-gcp.
  for (const key of [Annotations.loadBalancerType, Annotations.legacyLoadBalancerType]) {
    const value = annotations[key];
    if (value === undefined) continue;
    if (value === 'Internal' || value === 'internal') return true;
    if (value === 'External' || value === '') return false;
    throw bad(key, value, '"Internal" or "External"');
  }
  return false;
}

function isGkeLoadBalancerAnnotation(key: string): boolean {
  if (!key.startsWith('cloud.google.com/') && !key.startsWith('networking.gke.io/')) return false;
  if (UNRELATED.some((re) => re.test(key))) return false;
  return /load-balancer|network-tier|l4-rbs|backend-share|loadbalancer/.test(key);
}

/** Reads and validates the GCP annotations of a Service; throws invalidService naming the annotation. */
export function parseGcpAnnotations(annotations: Record<string, string>): GcpServiceOptions {
  const options: GcpServiceOptions = {
    internal: parseInternal(annotations),
    allowGlobalAccess: false,
    ignored: Object.keys(annotations)
      .filter((k) => !KNOWN.has(k) && isGkeLoadBalancerAnnotation(k))
      .sort(),
  };
  const mode = annotations[Annotations.mode];
  if (mode !== undefined) {
    const v = mode.trim();
    if (!(gcpModes as readonly string[]).includes(v)) throw bad(Annotations.mode, mode, gcpModes.map((m) => `"${m}"`).join(' or '));
    options.mode = v as GcpMode;
  }
  const global = annotations[Annotations.allowGlobalAccess];
  if (global !== undefined) {
    if (global !== 'true' && global !== 'false') throw bad(Annotations.allowGlobalAccess, global, '"true" or "false"');
    options.allowGlobalAccess = global === 'true';
  }
  const subnet = annotations[Annotations.internalSubnet];
  if (subnet !== undefined) {
    if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(subnet)) throw bad(Annotations.internalSubnet, subnet, 'a subnetwork name');
    options.internalSubnet = subnet;
  }
  const tier = annotations[Annotations.networkTier];
  if (tier !== undefined) {
    const v = tier.trim().toUpperCase();
    if (v !== 'PREMIUM' && v !== 'STANDARD') throw bad(Annotations.networkTier, tier, '"Premium" or "Standard"');
    options.networkTier = v;
  }
  if (!options.internal) {
    const internalOnly = [Annotations.allowGlobalAccess, Annotations.internalSubnet].filter((k) => annotations[k] !== undefined);
    options.ignored.push(...internalOnly);
  } else if (tier !== undefined) {
    options.ignored.push(Annotations.networkTier);
  }
  return options;
}
