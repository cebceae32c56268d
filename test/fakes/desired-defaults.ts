// Defaults for the desired state that tests hand a provider.
import type { DesiredLoadBalancer } from '../../src/providers/provider.ts';

/** What the core hands a provider for a plain Service: tests override only what they are about. */
export function plainServiceDefaults(): Omit<DesiredLoadBalancer, 'identity' | 'listeners' | 'targets'> {
  return {
    healthCheck: { kind: 'tcp' },
    externalTrafficPolicy: 'Cluster',
    sourceRanges: [],
    sessionAffinity: { type: 'None' },
    requestedIPs: [],
    ipFamilies: ['IPv4'],
    annotations: {},
    currentIngress: [],
  };
}
