// A provider that breaks two rules of the contract, run through the conformance kit by test/unit/conformance-kit.test.ts.
import { runConformance } from '../../src/conformance/index.ts';
import { ProviderError, type DesiredLoadBalancer, type IngressStatus, type LoadBalancerIdentity } from '../../src/providers/provider.ts';

runConformance({
  name: 'broken',
  createProvider: () => {
    const lbs = new Map<string, { identity: LoadBalancerIdentity; ingress: IngressStatus[] }>();
    let next = 1;
    return {
      name: 'broken',
      start: async (known) => {
        for (const lb of known) lbs.set(lb.identity.uid, lb);
      },
      stop: async () => {},
      get: async (identity) => {
        const lb = lbs.get(identity.uid);
        return lb && { ingress: lb.ingress };
      },
      // Broken: a new address on every call, even for a load balancer that exists.
      ensure: async (desired: DesiredLoadBalancer) => {
        const ingress = [{ ip: `192.0.2.${next++}` }];
        lbs.set(desired.identity.uid, { identity: desired.identity, ingress });
        return ingress;
      },
      updateTargets: async () => {},
      // Broken: deleting what is not there fails.
      delete: async (identity) => {
        if (!lbs.delete(identity.uid)) throw new ProviderError('no such load balancer', { retryable: false });
      },
      listOwned: async () => [...lbs.values()].map((lb) => ({ identity: lb.identity })),
    };
  },
});
