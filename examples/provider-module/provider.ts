// A worked example of a provider module: in-memory load balancers with IPv4 addresses from a configured CIDR.
import {
  invalidService,
  ProviderError,
  serviceKey,
  type DesiredLoadBalancer,
  type IngressStatus,
  type KnownLoadBalancer,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type ObservedLoadBalancer,
  type OwnedLoadBalancer,
  type ProviderDeps,
  type PortStatus,
  type ProviderFactory,
  type Target,
} from 'service-lb-controller/provider';

/** provider.moduleConfig, after validation. */
export interface ExampleConfig {
  /** Where addresses come from, e.g. "198.51.100.0/24"; the network and broadcast addresses are skipped. */
  cidr: string;
  /** Every call waits this long first, as a cloud API would (the controller benchmark uses 50). */
  latencyMs: number;
}

/**
 * The module validates its own config: the controller passes provider.moduleConfig through untouched.
 * A throw here makes `run` and `check-config` exit 2 with this message.
 */
export function parseExampleConfig(raw: unknown): ExampleConfig {
  const config = (raw ?? {}) as Record<string, unknown>;
  const extra = Object.keys(config).filter((key) => key !== 'cidr' && key !== 'latencyMs');
  if (extra.length > 0) throw new Error(`moduleConfig: unknown field ${extra.join(', ')} (known: cidr, latencyMs)`);
  const { cidr = '198.51.100.0/24', latencyMs = 0 } = config;
  if (typeof cidr !== 'string' || !parseCidr(cidr)) throw new Error(`moduleConfig.cidr: ${JSON.stringify(cidr)} is not an IPv4 CIDR`);
  if (typeof latencyMs !== 'number' || !(latencyMs >= 0)) throw new Error('moduleConfig.latencyMs: must be a number >= 0');
  return { cidr, latencyMs };
}

function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The usable host addresses of a CIDR, as numbers [first, last]. */
function parseCidr(cidr: string): { first: number; last: number } | undefined {
  const [ip, bitsText] = cidr.split('/');
  const base = parseIPv4(ip ?? '');
  const bits = Number(bitsText);
  if (base === undefined || !/^\d{1,2}$/.test(bitsText ?? '') || bits > 30) return undefined;
  const size = 2 ** (32 - bits);
  const network = base - (base % size);
  return { first: network + 1, last: network + size - 2 };
}

interface Allocation {
  identity: LoadBalancerIdentity;
  ip: string;
  ports: PortStatus[];
  /** Unknown for a load balancer restored at start and not ensured since. */
  targets?: Target[];
}

export class ExampleProvider implements LoadBalancerProvider {
  readonly name = 'example';
  private readonly config: ExampleConfig;
  private readonly range: { first: number; last: number };
  private readonly deps: ProviderDeps;
  /** By UID: the one field of an identity that never changes. */
  private readonly records = new Map<string, Allocation>();
  /** The same allocations by address, so that a lookup or a search for a free one is not a scan of all. */
  private readonly byIp = new Map<string, Allocation>();
  /** Where the search for a free address starts: just past the last one handed out. */
  private scanFrom: number;

  constructor(config: ExampleConfig, deps: ProviderDeps) {
    this.config = config;
    this.range = parseCidr(config.cidr)!;
    this.scanFrom = this.range.first;
    this.deps = deps;
  }

  /**
   * An in-memory provider forgets everything when the process ends, so it rebuilds its table from what
   * the Services' status says: the addresses stay the same across a restart. A real cloud provider
   * would read its cloud instead (and may use `known` to avoid a full listing).
   */
  async start(known: KnownLoadBalancer[]): Promise<void> {
    for (const lb of known) {
      const entry = lb.ingress.find((i) => i.ip && this.inRange(i.ip));
      if (entry?.ip && !this.holder(entry.ip)) {
        this.put({ identity: lb.identity, ip: entry.ip, ports: entry.ports ?? [] });
      }
    }
    this.deps.logger.info({ restored: this.records.size, cidr: this.config.cidr }, 'example provider started');
  }

  async stop(): Promise<void> {}

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    await this.latency();
    const allocation = this.records.get(identity.uid);
    return allocation && { ingress: ingressOf(allocation) };
  }

  async ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    await this.latency();
    const { identity } = desired;
    const allocation: Allocation = {
      identity,
      ip: this.pickAddress(desired, this.records.get(identity.uid)?.ip),
      ports: desired.listeners.map((l) => ({ port: l.port, protocol: l.protocol })),
      targets: desired.targets,
    };
    this.put(allocation);
    return ingressOf(allocation);
  }

  async updateTargets(desired: DesiredLoadBalancer): Promise<void> {
    await this.latency();
    const allocation = this.records.get(desired.identity.uid);
    // A load balancer lost since the last ensure is recreated by the next sync, which this error triggers.
    if (!allocation) throw new ProviderError(`no load balancer for ${serviceKey(desired.identity)} to update`, { retryable: true });
    allocation.targets = desired.targets;
  }

  async delete(identity: LoadBalancerIdentity): Promise<void> {
    await this.latency();
    const allocation = this.records.get(identity.uid);
    if (allocation) this.byIp.delete(allocation.ip);
    this.records.delete(identity.uid);
  }

  async listOwned(): Promise<OwnedLoadBalancer[]> {
    await this.latency();
    return [...this.records.values()].map((r) => ({ identity: r.identity }));
  }

  /** The nodes a load balancer sends to (for tests: a real provider would have a cloud to ask). */
  targets(identity: LoadBalancerIdentity): Target[] | undefined {
    return this.records.get(identity.uid)?.targets;
  }

  /** spec.loadBalancerIP first, then the address held, then the one in status, then the first free. */
  private pickAddress(desired: DesiredLoadBalancer, held: string | undefined): string {
    const requested = desired.requestedIPs.find((ip) => ip !== '');
    if (requested !== undefined && requested !== held) {
      if (!this.inRange(requested)) throw invalidService(`spec.loadBalancerIP ${requested} is not in ${this.config.cidr}`);
      const holder = this.holder(requested);
      if (holder) throw invalidService(`spec.loadBalancerIP ${requested} is taken by ${serviceKey(holder.identity)}`);
      return requested;
    }
    if (held !== undefined) return held;
    const current = desired.currentIngress.find((i) => i.ip && this.inRange(i.ip) && !this.holder(i.ip))?.ip;
    if (current) return current;
    const { first, last } = this.range;
    const size = last - first + 1;
    for (let i = 0; i < size; i++) {
      const n = first + ((this.scanFrom - first + i) % size);
      const ip = formatIPv4(n);
      if (!this.byIp.has(ip)) {
        this.scanFrom = n === last ? first : n + 1;
        return ip;
      }
    }
    // Retryable: an address frees up when another Service is deleted.
    throw new ProviderError(`no free address left in ${this.config.cidr}`, { retryable: true });
  }

  private inRange(ip: string): boolean {
    const n = parseIPv4(ip);
    return n !== undefined && n >= this.range.first && n <= this.range.last;
  }

  private holder(ip: string): Allocation | undefined {
    return this.byIp.get(ip);
  }

  private put(allocation: Allocation): void {
    const previous = this.records.get(allocation.identity.uid);
    if (previous) this.byIp.delete(previous.ip);
    this.records.set(allocation.identity.uid, allocation);
    this.byIp.set(allocation.ip, allocation);
  }

  private async latency(): Promise<void> {
    if (this.config.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.config.latencyMs));
  }
}

function ingressOf(allocation: Allocation): IngressStatus[] {
  return [{ ip: allocation.ip, ipMode: 'VIP', ports: allocation.ports.map((p) => ({ ...p })) }];
}

/** The module contract: the controller calls this once, with provider.moduleConfig and its dependencies. */
export const createProvider: ProviderFactory = (config, deps) => new ExampleProvider(parseExampleConfig(config), deps);

export default createProvider;
