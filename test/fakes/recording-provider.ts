// A provider for tests of the core: keeps load balancers in memory, records every call, and can be told
// to be slow, to fail, or to lose a load balancer behind the controller's back. Not shipped.
import {
  invalidService,
  ProviderError,
  type DesiredLoadBalancer,
  type IngressStatus,
  type KnownLoadBalancer,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type ObservedLoadBalancer,
  type OwnedLoadBalancer,
} from '../../src/providers/provider.ts';

export type Operation = 'get' | 'ensure' | 'updateTargets' | 'delete' | 'listOwned';

export interface RecordedCall {
  op: Operation;
  /** namespace/name, when the call is about one Service. */
  service?: string;
  uid?: string;
  /** Node names the call asked for (ensure, updateTargets). */
  targets?: string[];
  desired?: DesiredLoadBalancer;
  at: number;
}

export type Fault = (call: RecordedCall) => Error | undefined;

interface StoredLoadBalancer {
  identity: LoadBalancerIdentity;
  desired: DesiredLoadBalancer;
  ingress: IngressStatus[];
}

export interface RecordingProviderOptions {
  latencyMs?: number;
  /** null leaves ipMode out of the status, as a provider may. */
  ipMode?: 'VIP' | 'Proxy' | null;
}

export class RecordingProvider implements LoadBalancerProvider {
  readonly name = 'recording';
  readonly calls: RecordedCall[] = [];
  readonly lbs = new Map<string, StoredLoadBalancer>();
  known: KnownLoadBalancer[] | undefined;
  private faults: Fault[] = [];
  private readonly opLatency = new Map<Operation, number>();
  private nextAddress = 1;
  private readonly options: RecordingProviderOptions;
  /** Ops in flight right now, per Service, to catch concurrent syncs of one key. */
  private readonly inFlight = new Map<string, number>();
  maxConcurrentPerService = 0;

  constructor(options: RecordingProviderOptions = {}) {
    this.options = options;
  }

  /** Makes one operation slow (0 restores it), on top of the overall latency. */
  setLatency(op: Operation, ms: number): void {
    this.opLatency.set(op, ms);
  }

  /** Adds a fault; it is consulted on every call until removed. */
  inject(fault: Fault): () => void {
    this.faults.push(fault);
    return () => {
      this.faults = this.faults.filter((f) => f !== fault);
    };
  }

  /** Fails the next `times` calls of `op` (for `service`, if given) with `error`. */
  failNext(op: Operation, times: number, error: () => Error, service?: string): void {
    let left = times;
    const remove = this.inject((call) => {
      if (call.op !== op || (service && call.service !== service) || left <= 0) return undefined;
      left--;
      if (left === 0) queueMicrotask(remove);
      return error();
    });
  }

  /** Rejects every ensure of one Service as the Service's own fault. */
  reject(service: string, message: string): void {
    this.inject((call) => (call.op === 'ensure' && call.service === service ? invalidService(message) : undefined));
  }

  /** Loses a load balancer behind the controller's back, as a person with cloud console access would. */
  dropBehindTheBack(uid: string): boolean {
    return this.lbs.delete(uid);
  }

  callsFor(service: string, op?: Operation): RecordedCall[] {
    return this.calls.filter((c) => c.service === service && (!op || c.op === op));
  }

  async start(known: KnownLoadBalancer[]): Promise<void> {
    this.known = known;
  }

  async stop(): Promise<void> {}

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    (await this.enter({ op: 'get', ...about(identity) }))();
    const lb = this.lbs.get(identity.uid);
    return lb && { ingress: lb.ingress };
  }

  async ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    const release = await this.enter({ op: 'ensure', ...about(desired.identity), targets: targetNames(desired), desired });
    try {
      const existing = this.lbs.get(desired.identity.uid);
      const ip = existing?.ingress[0]?.ip ?? desired.currentIngress[0]?.ip ?? this.allocateAddress();
      const ingress: IngressStatus[] = [
        {
          ip,
          ...(this.options.ipMode === null ? {} : { ipMode: this.options.ipMode ?? 'VIP' }),
          ports: desired.listeners.map((l) => ({ port: l.port, protocol: l.protocol })),
        },
      ];
      this.lbs.set(desired.identity.uid, { identity: desired.identity, desired, ingress });
      return ingress;
    } finally {
      release();
    }
  }

  /** What updateTargets resolves to: undefined as a provider written before false existed, or a verdict. */
  updateTargetsResult: boolean | undefined = undefined;

  async updateTargets(desired: DesiredLoadBalancer): Promise<boolean | undefined> {
    const release = await this.enter({
      op: 'updateTargets',
      ...about(desired.identity),
      targets: targetNames(desired),
      desired,
    });
    try {
      const lb = this.lbs.get(desired.identity.uid);
      if (!lb) throw new ProviderError(`load balancer ${desired.identity.lbName} not found`, { retryable: true });
      lb.desired = { ...lb.desired, targets: desired.targets };
      return this.updateTargetsResult;
    } finally {
      release();
    }
  }

  async delete(identity: LoadBalancerIdentity): Promise<void> {
    const release = await this.enter({ op: 'delete', ...about(identity) });
    this.lbs.delete(identity.uid);
    release();
  }

  async listOwned(): Promise<OwnedLoadBalancer[]> {
    (await this.enter({ op: 'listOwned' }))();
    return [...this.lbs.values()].map((lb) => ({ identity: lb.identity }));
  }

  /** Addresses from 100.64.0.0/10, enough for any benchmark. */
  private allocateAddress(): string {
    const n = this.nextAddress++;
    return `100.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
  }

  /** Records the call, applies latency and faults; returns the function that ends the call. */
  private async enter(partial: Omit<RecordedCall, 'at'>): Promise<() => void> {
    const call: RecordedCall = { ...partial, at: Date.now() };
    this.calls.push(call);
    const key = call.service ?? '';
    const now = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, now);
    if (key) this.maxConcurrentPerService = Math.max(this.maxConcurrentPerService, now);
    const release = () => this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
    try {
      const latency = (this.options.latencyMs ?? 0) + (this.opLatency.get(call.op) ?? 0);
      if (latency) await new Promise((resolve) => setTimeout(resolve, latency));
      for (const fault of this.faults) {
        const err = fault(call);
        if (err) throw err;
      }
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }
}

function about(identity: LoadBalancerIdentity): { service: string; uid: string } {
  return { service: `${identity.namespace}/${identity.name}`, uid: identity.uid };
}

function targetNames(desired: DesiredLoadBalancer): string[] {
  return desired.targets.map((t) => t.nodeName);
}
