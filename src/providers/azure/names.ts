// Names and resource IDs, as cloud-provider-azure writes them, so that a cluster switching from it finds
// its load balancers, frontends, rules, probes, public IPs and NSG rules where it left them.

import type { LoadBalancerIdentity } from '../provider.ts';

export type LbKind = 'public' | 'internal';

/** Tag keys cloud-provider-azure puts on the public IPs it creates. */
export const TAG_SERVICE = 'k8s-azure-service';
export const TAG_CLUSTER = 'k8s-azure-cluster-name';

/** The first load balancer of a kind is "<cluster>" or "<cluster>-internal"; the n-th (n ≥ 2) adds "-n". */
export function loadBalancerName(clusterName: string, kind: LbKind, index: number): string {
  const base = kind === 'internal' ? `${clusterName}-internal` : clusterName;
  return index === 0 ? base : `${base}-${index + 1}`;
}

/** The kind and index of one of our load balancers, or undefined for any other name. */
export function parseLoadBalancerName(clusterName: string, name: string): { kind: LbKind; index: number } | undefined {
  if (!name.startsWith(clusterName)) return undefined;
  const match = /^(-internal)?(?:-([1-9]\d*))?$/.exec(name.slice(clusterName.length));
  if (!match) return undefined;
  const n = match[2] === undefined ? 1 : Number(match[2]);
  if (n === 1 && match[2] !== undefined) return undefined;
  return { kind: match[1] ? 'internal' : 'public', index: n - 1 };
}

/** cloud-provider-azure's 80-character limit on frontend and rule names. */
const MAX_NAME = 80;

/** Frontend IP configuration: the upstream default name, plus "-<subnet>" for a Service in another subnet. */
export function frontendName(identity: LoadBalancerIdentity, internalSubnet?: string): string {
  if (internalSubnet === undefined) return identity.lbName;
  let name = `${identity.lbName}-${internalSubnet}`;
  if (name.length > MAX_NAME) {
    name = name.slice(0, MAX_NAME);
    // Azure wants the name to end in a letter, digit or underscore.
    if (!/[A-Za-z_]$/.test(name)) name = `${name.slice(0, -1)}_`;
  }
  return name;
}

/** A Service's frontends, rules and probes all start with "<lbName>-" or are named "<lbName>". */
export function ownedByService(name: string | undefined, identity: Pick<LoadBalancerIdentity, 'lbName'>): boolean {
  return name !== undefined && (name === identity.lbName || name.startsWith(`${identity.lbName}-`));
}

/** One rule (and its probe) per port and protocol: "<lbName>[-<subnet>]-<Protocol>-<port>". */
export function ruleName(identity: LoadBalancerIdentity, protocol: string, port: number, internalSubnet?: string): string {
  const tail = `-${protocol}-${port}`;
  if (internalSubnet === undefined) return `${identity.lbName}${tail}`;
  const subnet = internalSubnet.slice(0, Math.max(0, MAX_NAME - identity.lbName.length - tail.length - 1));
  return `${identity.lbName}-${subnet}${tail}`;
}

/** The public IP cloud-provider-azure creates for a Service: "<cluster>-<lbName>". */
export function publicIPName(clusterName: string, identity: LoadBalancerIdentity): string {
  return `${clusterName}-${identity.lbName}`.slice(0, MAX_NAME);
}

/** NSG allow rule: "<lbName>-<Protocol>-<port>-<source>" with "/" as "_" and ":" as ".". */
export function securityRuleName(identity: LoadBalancerIdentity, protocol: string, port: number, source: string): string {
  return `${identity.lbName}-${protocol}-${port}-${source.replaceAll('/', '_').replaceAll(':', '.')}`;
}

/** A frontend named by upstream's default: "a" and the first 31 hex digits of a UID. */
const FRONTEND = /^a[0-9a-f]{31}(?:-.+)?$/;

/** The UID digits a frontend (or an owned public IP) name carries: 31 of the 32, so a prefix, not a UID. */
export function uidPrefixOfFrontend(name: string): string | undefined {
  return FRONTEND.test(name) ? name.slice(1, 32) : undefined;
}

export function compactUid(uid: string): string {
  return uid.replaceAll('-', '').toLowerCase();
}

export class ResourceIds {
  readonly #sub: string;

  constructor(subscriptionId: string) {
    this.#sub = subscriptionId;
  }

  #base(resourceGroup: string): string {
    return `/subscriptions/${this.#sub}/resourceGroups/${resourceGroup}/providers/Microsoft.Network`;
  }

  loadBalancer(rg: string, lb: string): string {
    return `${this.#base(rg)}/loadBalancers/${lb}`;
  }

  frontend(rg: string, lb: string, name: string): string {
    return `${this.loadBalancer(rg, lb)}/frontendIPConfigurations/${name}`;
  }

  backendPool(rg: string, lb: string, name: string): string {
    return `${this.loadBalancer(rg, lb)}/backendAddressPools/${name}`;
  }

  probe(rg: string, lb: string, name: string): string {
    return `${this.loadBalancer(rg, lb)}/probes/${name}`;
  }

  publicIP(rg: string, name: string): string {
    return `${this.#base(rg)}/publicIPAddresses/${name}`;
  }

  virtualNetwork(rg: string, vnet: string): string {
    return `${this.#base(rg)}/virtualNetworks/${vnet}`;
  }

  subnet(rg: string, vnet: string, subnet: string): string {
    return `${this.virtualNetwork(rg, vnet)}/subnets/${subnet}`;
  }
}

/** The last segment of an ARM resource ID. */
export function lastSegment(id: string): string {
  return id.slice(id.lastIndexOf('/') + 1);
}
