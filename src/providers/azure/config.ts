// The provider.azure section of the config file: where the cluster lives in Azure, and how hard to push ARM.
import { z } from 'zod';

const name = z.string().min(1).max(80);

export const AZURE_CLOUDS = ['AzurePublicCloud', 'AzureChinaCloud', 'AzureUSGovernment'] as const;
export type AzureCloud = (typeof AZURE_CLOUDS)[number];

/** Resource Manager endpoint of each sovereign cloud; the token scope is "<endpoint>/.default". */
export const RESOURCE_MANAGER_ENDPOINTS: Record<AzureCloud, string> = {
  AzurePublicCloud: 'https://management.azure.com',
  AzureChinaCloud: 'https://management.chinacloudapi.cn',
  AzureUSGovernment: 'https://management.usgovcloudapi.net',
};

export const azureProviderConfigSchema = z.strictObject({
  cloud: z.enum(AZURE_CLOUDS).default('AzurePublicCloud'),
  /** Overrides the cloud's Resource Manager endpoint (Azure Stack, a private fake). */
  resourceManagerEndpoint: z.url().optional(),
  /** Used by the credential chain (workload identity, environment); credentials themselves never go here. */
  tenantId: z.string().min(1).optional(),
  subscriptionId: z.string().min(1),
  /** Where the load balancers, public IPs and (by default) the VNet and NSG live. */
  resourceGroup: name,
  location: z.string().min(1),
  vnetName: name,
  vnetResourceGroup: name.optional(),
  /** Subnet of internal frontends unless a Service names another (azure-load-balancer-internal-subnet). */
  subnetName: name,
  /** The cluster's NSG: allow rules for each Service are added here, everything else in it is left alone. */
  securityGroupName: name,
  securityGroupResourceGroup: name.optional(),
  loadBalancerSku: z.literal('Standard').default('Standard'),
  /** Azure's Standard Load Balancer limits are 600 frontend IP configurations and 1500 rules per LB. */
  maxFrontendsPerLoadBalancer: z.number().int().min(1).max(600).default(600),
  maxRulesPerLoadBalancer: z.number().int().min(1).max(1500).default(1500),
  /** Which node address goes into the backend pool, in order of preference. */
  nodeAddressPreference: z
    .array(z.enum(['InternalIP', 'ExternalIP']))
    .min(1)
    .default(['InternalIP']),
  /** Client-side write budget: ARM allows 1200 writes per subscription per hour by default. */
  writesPerHour: z.number().int().min(1).default(1200),
  /** Writes that may go out at once before the hourly rate applies. */
  writeBurst: z.number().int().min(1).default(100),
  maxRetries: z.number().int().min(0).default(6),
  retryBaseDelayMs: z.number().int().min(1).max(3_600_000).default(1000),
  retryMaxDelayMs: z.number().int().min(1).max(3_600_000).default(60_000),
  /**
   * Per-request timeout (every request: reads, writes, long-running operation polls, list pages); a timed-out
   * request is retried like a 5xx. ARM answers 504 itself when a resource provider takes over 60 s.
   */
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(90_000),
  /** How often a long-running operation is polled when ARM sends no Retry-After. */
  pollIntervalMs: z.number().int().min(1).max(60_000).default(2000),
  /** How many times a batched write re-reads and re-applies after a 412 (another writer won the ETag race). */
  maxConflictRetries: z.number().int().min(1).default(10),
  /**
   * true (default): changes of many Services to one load balancer share one read and one write. false: one
   * write per Service change, as cloud-provider-azure does; kept for benchmarks and comparison.
   */
  batchWrites: z.boolean().default(true),
});

export type AzureProviderConfig = z.infer<typeof azureProviderConfigSchema>;
export type AzureProviderConfigInput = z.input<typeof azureProviderConfigSchema>;
