// Builds the cloud-agnostic desired state the core would hand the AWS provider, for unit and integration
// tests that drive the provider directly.

import { randomUUID } from 'node:crypto';
import { defaultLoadBalancerName, type DesiredLoadBalancer, type Listener, type Target } from '../../src/providers/provider.ts';
import { plainServiceDefaults } from './desired-defaults.ts';

export function node(name: string, internalIP: string, externalIP?: string): Target {
  return {
    nodeName: name,
    addresses: [
      { type: 'Hostname', address: name },
      { type: 'InternalIP', address: internalIP },
      ...(externalIP ? [{ type: 'ExternalIP', address: externalIP }] : []),
    ],
    providerID: `aws:///us-east-1a/i-${name}`,
  };
}

export function tcp(port: number, nodePort: number, name = `p${port}`): Listener {
  return { name, protocol: 'TCP', port, nodePort };
}

export function udp(port: number, nodePort: number, name = `u${port}`): Listener {
  return { name, protocol: 'UDP', port, nodePort };
}

export function desiredService(
  overrides: Partial<DesiredLoadBalancer> & { name?: string; namespace?: string; uid?: string; clusterName?: string } = {},
): DesiredLoadBalancer {
  const { name = 'web', namespace = 'default', uid = randomUUID(), clusterName = 'test', ...rest } = overrides;
  return {
    identity: { clusterName, namespace, name, uid, lbName: defaultLoadBalancerName(uid) },
    listeners: [tcp(80, 30080)],
    targets: [node('n1', '10.0.1.11'), node('n2', '10.0.2.12')],
    ...plainServiceDefaults(),
    ...rest,
  };
}
