// A provider module that does nothing but hand out an address per load balancer, for bench/scale.ts's
// "provider that does nothing": what the controller itself costs, loaded the way a user loads a module.
import type {
  DesiredLoadBalancer,
  IngressStatus,
  KnownLoadBalancer,
  LoadBalancerIdentity,
  LoadBalancerProvider,
  ObservedLoadBalancer,
  OwnedLoadBalancer,
  ProviderFactory,
} from 'service-lb-controller/provider';

class NoopProvider implements LoadBalancerProvider {
  readonly name = 'noop';
  /** Address by UID: the one thing a provider must remember so that an EXTERNAL-IP stays put. */
  private readonly addresses = new Map<string, { identity: LoadBalancerIdentity; ip: string }>();
  private next = 0;

  async start(known: KnownLoadBalancer[]): Promise<void> {
    for (const lb of known) {
      const ip = lb.ingress.find((i) => i.ip?.startsWith('100.64.'))?.ip;
      if (ip) this.addresses.set(lb.identity.uid, { identity: lb.identity, ip });
    }
  }

  async stop(): Promise<void> {}

  async get(identity: LoadBalancerIdentity): Promise<ObservedLoadBalancer | undefined> {
    const held = this.addresses.get(identity.uid);
    return held && { ingress: [{ ip: held.ip }] };
  }

  async ensure(desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    const { identity } = desired;
    let held = this.addresses.get(identity.uid);
    if (!held) {
      const n = this.next++;
      held = { identity, ip: `100.64.${(n >> 8) & 255}.${n & 255}` };
      this.addresses.set(identity.uid, held);
    }
    return [{ ip: held.ip }];
  }

  async updateTargets(): Promise<void> {}

  async delete(identity: LoadBalancerIdentity): Promise<void> {
    this.addresses.delete(identity.uid);
  }

  async listOwned(): Promise<OwnedLoadBalancer[]> {
    return [...this.addresses.values()].map(({ identity }) => ({ identity }));
  }
}

export const createProvider: ProviderFactory = () => new NoopProvider();
