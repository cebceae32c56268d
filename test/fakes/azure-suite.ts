// Shared setup for Azure provider tests: an ARM fake seeded with a VNet and a cluster NSG, and providers wired to it.
import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { azureProviderConfigSchema, type AzureProviderConfigInput } from '../../src/providers/azure/config.ts';
import { createAzureProvider } from '../../src/providers/azure/index.ts';
import {
  defaultLoadBalancerName,
  type DesiredLoadBalancer,
  type Listener,
  type LoadBalancerProvider,
  type Target,
} from '../../src/providers/provider.ts';
import { AzureArmFake, type AzureArmFakeOptions } from './azure-arm/index.ts';
import { plainServiceDefaults } from './desired-defaults.ts';
import { providerDeps } from './provider-deps.ts';

export const RG = 'rg-test';
export const CLUSTER = 'test';

const credential: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };

export async function startArm(options: AzureArmFakeOptions = {}): Promise<AzureArmFake> {
  const arm = await AzureArmFake.start({ lroRetryAfterSeconds: 0, ...options });
  arm.addVirtualNetwork(RG, 'vnet', {
    addressPrefixes: ['10.0.0.0/16'],
    subnets: [
      { name: 'nodes', addressPrefix: '10.0.0.0/24' },
      { name: 'ilb', addressPrefix: '10.0.1.0/24' },
      { name: 'other', addressPrefix: '10.0.2.0/24' },
    ],
  });
  arm.addNetworkSecurityGroup(RG, 'cluster-nsg', {
    securityRules: [
      {
        name: 'foreign-ssh',
        priority: 500,
        direction: 'Inbound',
        access: 'Allow',
        protocol: 'Tcp',
        sourceAddressPrefix: '*',
        sourcePortRange: '*',
        destinationAddressPrefix: '*',
        destinationPortRange: '22',
      },
      {
        name: 'foreign-out',
        priority: 501,
        direction: 'Outbound',
        access: 'Deny',
        protocol: '*',
        sourceAddressPrefix: '*',
        sourcePortRange: '*',
        destinationAddressPrefix: '*',
        destinationPortRange: '25',
      },
    ],
  });
  return arm;
}

export function azureProvider(arm: AzureArmFake, overrides: Partial<AzureProviderConfigInput> = {}) {
  const deps = providerDeps({ clusterName: CLUSTER });
  const config = azureProviderConfigSchema.parse({
    subscriptionId: arm.subscriptionId,
    resourceGroup: RG,
    location: arm.location,
    vnetName: 'vnet',
    subnetName: 'ilb',
    securityGroupName: 'cluster-nsg',
    pollIntervalMs: 5,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 200,
    // The client-side write budget has its own unit test; here it would only slow the suites down.
    writesPerHour: 10_000_000,
    writeBurst: 10_000,
    ...overrides,
  });
  const provider: LoadBalancerProvider = createAzureProvider(config, deps, {
    credential,
    clientOptions: { endpoint: arm.endpoint, tlsOptions: { ca: arm.caPem } },
  });
  return { provider, deps, config };
}

export const NODES: Target[] = [
  { nodeName: 'node-a', addresses: [{ type: 'InternalIP', address: '10.0.0.4' }] },
  { nodeName: 'node-b', addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] },
];

let nodePorts = 30000;

export function service(
  name: string,
  overrides: Partial<DesiredLoadBalancer> & { ports?: Array<Partial<Listener>> } = {},
): DesiredLoadBalancer {
  const uid = randomUUID();
  const { ports, ...rest } = overrides;
  const listeners = (ports ?? [{}]).map((p) => ({ name: 'p', protocol: 'TCP' as const, port: 80, nodePort: nodePorts++, ...p }));
  return {
    ...plainServiceDefaults(),
    identity: { clusterName: CLUSTER, namespace: 'default', name, uid, lbName: defaultLoadBalancerName(uid) },
    listeners,
    targets: NODES,
    ...rest,
  };
}
