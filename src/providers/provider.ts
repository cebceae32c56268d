// The contract between the reconcile core and every load balancer provider.
//
// The core turns a Service and its eligible Nodes into a cloud-agnostic DesiredLoadBalancer; a provider
// turns that into cloud resources. A provider never touches the Kubernetes API, and the core never
// imports a cloud SDK.

import type { Logger } from 'pino';
import type { MetricsRegistry } from '../server/metrics-registry.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 'IPv4' | 'IPv6';

/** Who a load balancer belongs to. Providers tag their resources with all of it. */
export interface LoadBalancerIdentity {
  clusterName: string;
  namespace: string;
  name: string;
  uid: string;
  /** Deterministic default name: "a" + UID without dashes, cut to 32 characters (as upstream). */
  lbName: string;
}

/** The one way a Service is named in queues, logs and events: "namespace/name". */
export function serviceKey(ref: Pick<LoadBalancerIdentity, 'namespace' | 'name'>): string {
  return `${ref.namespace}/${ref.name}`;
}

/** One Service port. TCP and UDP on one port number are two listeners. */
export interface Listener {
  name: string;
  protocol: Protocol;
  port: number;
  nodePort: number;
  appProtocol?: string;
}

export interface NodeAddress {
  type: string;
  address: string;
}

/** An eligible node. The provider picks which of its addresses to use. */
export interface Target {
  nodeName: string;
  addresses: NodeAddress[];
  providerID?: string;
  /**
   * The node's labels, for providers that target a subset of nodes by label (AWS's target-node-labels
   * annotation). Absent when the node has none. A label change reaches providers as a target update.
   */
  labels?: Record<string, string>;
}

/**
 * How the load balancer decides a node can take traffic: a TCP connect to the listener's nodePort, or
 * (externalTrafficPolicy: Local) HTTP GET path on the healthCheckNodePort.
 */
export type HealthCheck = { kind: 'tcp' } | { kind: 'http'; port: number; path: string };

export interface SessionAffinity {
  type: 'None' | 'ClientIP';
  timeoutSeconds?: number;
}

export interface DesiredLoadBalancer {
  identity: LoadBalancerIdentity;
  listeners: Listener[];
  targets: Target[];
  healthCheck: HealthCheck;
  externalTrafficPolicy: 'Cluster' | 'Local';
  /**
   * Clients allowed to connect, as canonical CIDRs ("10.0.0.0/8", "2001:db8::/32"): the core has trimmed,
   * validated and de-duplicated them (a Service with a bad range never reaches a provider). Empty allows all.
   */
  sourceRanges: string[];
  sessionAffinity: SessionAffinity;
  /** spec.loadBalancerIP, when set (deprecated upstream, still widely used). */
  requestedIPs: string[];
  ipFamilies: IPFamily[];
  /** The Service's annotations, for provider-specific options that each provider validates itself. */
  annotations: Record<string, string>;
  /** What status.loadBalancer.ingress says today, so a provider can keep addresses stable. */
  currentIngress: IngressStatus[];
}

export interface PortStatus {
  port: number;
  protocol: Protocol;
  error?: string;
}

/** One entry of status.loadBalancer.ingress. */
export interface IngressStatus {
  ip?: string;
  hostname?: string;
  /** Left out of an ip entry, it means VIP: the API server stores it so, and the controller compares it so. */
  ipMode?: 'VIP' | 'Proxy';
  ports?: PortStatus[];
}

export interface ObservedLoadBalancer {
  ingress: IngressStatus[];
}

/**
 * A load balancer found by its ownership tags, for garbage collection. When the cloud records no Service
 * name, namespace and name are '' and the core matches the load balancer to a Service by UID, or by lbName
 * (the default name derived from the UID) when the cloud keeps only that.
 */
export interface OwnedLoadBalancer {
  identity: LoadBalancerIdentity;
}

/** A load balancer that already exists, handed to a provider at start so it can rebuild its state. */
export interface KnownLoadBalancer {
  identity: LoadBalancerIdentity;
  ingress: IngressStatus[];
}

/**
 * Events on the Service a load balancer belongs to, for what its owner should know but that does not fail
 * the sync (an unknown annotation, another controller owning the Service). Recording never throws.
 */
export interface ServiceEvents {
  record(identity: LoadBalancerIdentity, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** What the core hands every provider: never a Kubernetes client. */
export interface ProviderDeps {
  clusterName: string;
  /** Already carries the `provider` key: a provider adding it again would write it twice on every line. */
  logger: Logger;
  /** Register provider metrics (cloud calls, data path counters) here; served on /metrics. */
  registry: MetricsRegistry;
  events: ServiceEvents;
  /**
   * Tells the core that something Services compete for came free (an address, or ports on a shared
   * one). The core then retries at once every Service whose last sync failed with a ProviderError
   * marked `waitsForCapacity`, instead of leaving it to wait out its backoff (up to 5 minutes). Cheap:
   * call it on every release.
   */
  capacityFreed(): void;
}

export interface LoadBalancerProvider {
  readonly name: string;
  /** Called once before any other call, with every Service that already has load balancer status. */
  start(known: KnownLoadBalancer[]): Promise<void>;
  stop(): Promise<void>;
  /**
   * The load balancer as it exists now; undefined when there is none. The core asks before cleanup, as
   * upstream asks GetLoadBalancer, to decide whether to announce the deletion (it calls delete either way).
   */
  get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined>;
  /** Creates or repairs the load balancer so that it matches desired; returns the ingress to publish. */
  ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]>;
  /**
   * The cheap path for node changes: only the targets differ from the last ensure. Resolves to false when
   * the load balancer's targets did not change (the node that came or went contributes no address this
   * provider uses, say), so the core announces no UpdatedLoadBalancer; void or true mean they changed
   * (or the provider cannot tell), as before false existed.
   */
  updateTargets(desired: DesiredLoadBalancer): Promise<boolean | void>;
  /** Idempotent: succeeds when nothing is there. */
  delete(identity: LoadBalancerIdentity): Promise<void>;
  /** Every load balancer tagged as owned by this cluster. */
  listOwned(): Promise<OwnedLoadBalancer[]>;
  /**
   * Optional: what stops the provider from working at all (credentials refused, the configured network
   * missing), in plain words; empty when ready. Shown on /readyz. Called on every replica, before start(),
   * at most one call at a time and every few seconds; keep it to one cheap read. It must settle: until it
   * does, the replica reports the check as timed out.
   */
  checkReady?(): Promise<string[]>;
}

/**
 * What a provider module exports (provider.name: module), as its default export or as `createProvider`.
 * `config` is provider.moduleConfig as written ({} when absent): the module validates it itself. Any
 * cloud call belongs in start(), not here: check-config calls the factory to check the provider's shape.
 */
export type ProviderFactory = (config: unknown, deps: ProviderDeps) => LoadBalancerProvider | Promise<LoadBalancerProvider>;

export interface ProviderErrorOptions {
  /**
   * A passing cloud condition (5xx, throttling, timeouts) rather than a problem with the Service. The
   * core backs off and retries either way, since a cloud-side fix is invisible to it; the flag is for
   * logs and for a provider's own retry wrapper.
   */
  retryable: boolean;
  /** Retry after exactly this delay instead of the exponential backoff. */
  retryAfterMs?: number;
  /**
   * The Service waits for something another Service holds (a pool with no free address, a taken
   * address): besides the backoff, the core retries it as soon as the provider calls
   * ProviderDeps.capacityFreed().
   */
  waitsForCapacity?: boolean;
  cause?: unknown;
}

const PROVIDER_ERROR_BRAND = Symbol.for('service-lb-controller.ProviderError');

/**
 * Every error a provider throws on purpose. The message is shown to users in a Warning event, so it says
 * what is wrong with the Service or the cloud in plain words and never carries credentials.
 */
export class ProviderError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly waitsForCapacity: boolean;

  constructor(message: string, options: ProviderErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.waitsForCapacity = options.waitsForCapacity ?? false;
    Object.defineProperty(this, PROVIDER_ERROR_BRAND, { value: true });
  }

  /**
   * A provider module may carry its own copy of this package (its own node_modules, or dist/ while the
   * controller runs from src/): its ProviderError is another class, so `instanceof` checks a brand shared
   * through the global symbol registry instead of the prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== ProviderError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PROVIDER_ERROR_BRAND] === true;
  }
}

/** A Service the provider cannot serve as written (bad annotation, unsupported protocol, taken IP). */
export function invalidService(message: string): ProviderError {
  return new ProviderError(message, { retryable: false });
}

/** Upstream's default name: "a" + UID without dashes, cut to 32 characters (GCE wants a letter first, AWS 32). */
export function defaultLoadBalancerName(uid: string): string {
  return `a${uid.replaceAll('-', '')}`.slice(0, 32);
}

/** Ownership tag values shared by the cloud providers. */
export function ownershipTags(identity: LoadBalancerIdentity): Record<string, string> {
  return {
    [`kubernetes.io/cluster/${identity.clusterName}`]: 'owned',
    'kubernetes.io/service-name': serviceKey(identity),
    'kubernetes.io/service-uid': identity.uid,
  };
}

/** Recovers an identity from ownership tags; undefined when the tags are not ours. */
export function identityFromTags(clusterName: string, lbName: string, tags: Record<string, string>): LoadBalancerIdentity | undefined {
  if (tags[`kubernetes.io/cluster/${clusterName}`] !== 'owned') return undefined;
  const serviceName = tags['kubernetes.io/service-name'];
  const uid = tags['kubernetes.io/service-uid'];
  if (!serviceName || !uid) return undefined;
  const slash = serviceName.indexOf('/');
  if (slash <= 0) return undefined;
  return {
    clusterName,
    namespace: serviceName.slice(0, slash),
    name: serviceName.slice(slash + 1),
    uid,
    lbName,
  };
}
