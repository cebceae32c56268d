// The provider.aws section of the controller config (schema and defaults): where, which VPC, how fast, how often to re-read.

import { z } from 'zod';

export const awsProviderConfigSchema = z.strictObject({
  region: z.string().min(1),
  endpoints: z
    .strictObject({
      elbv2: z.url().optional(),
      ec2: z.url().optional(),
    })
    .prefault({}),
  vpcId: z.string().min(1),
  /** Subnets for new load balancers; when empty, subnets tagged kubernetes.io/role/elb are discovered. */
  subnets: z.array(z.string().min(1)).default([]),
  scheme: z.enum(['internet-facing', 'internal']).default('internet-facing'),
  /** Which node address becomes the target, in order of preference. */
  nodeAddressPreference: z
    .array(z.enum(['InternalIP', 'ExternalIP']))
    .min(1)
    .default(['InternalIP']),
  /** Client-side budget of AWS API calls per second, shared by every worker. */
  callsPerSecond: z.number().positive().default(10),
  maxRetries: z.number().int().min(0).default(8),
  /** First backoff delay after a throttled or failed call; doubles (with jitter) up to retryMaxDelayMs. */
  retryBaseDelayMs: z.number().int().min(1).max(3_600_000).default(500),
  retryMaxDelayMs: z.number().int().min(1).max(3_600_000).default(20_000),
  /** Per-request timeout; a timed-out call is retried like a 5xx. */
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /**
   * A resync whose desired state is unchanged only checks that the load balancer and its listeners still
   * exist (one read). Every this many seconds it re-reads everything instead (targets, health checks,
   * attributes, tags, security group rules) and repairs drift. 0 = always re-read everything.
   */
  fullVerifySeconds: z.number().int().min(0).max(604_800).default(3600),
  /**
   * Services annotated aws-load-balancer-type: external or nlb-ip belong to the AWS Load Balancer
   * Controller, and this provider stands down for them. true: serve them anyway (when that controller is
   * not installed).
   */
  claimExternalType: z.boolean().default(false),
  /**
   * The nodes' security groups get ingress rules from each load balancer's security group on its NodePorts
   * and health check ports (what cloud-provider-aws does for NLBs). ids: those groups; empty = every
   * security group in the VPC tagged kubernetes.io/cluster/<clusterName> (owned or shared).
   */
  nodeSecurityGroups: z
    .strictObject({
      manage: z.boolean().default(true),
      ids: z.array(z.string().regex(/^sg-[0-9a-f]+$/)).default([]),
    })
    .prefault({}),
});

export type AwsProviderConfig = z.infer<typeof awsProviderConfigSchema>;
export type AwsProviderConfigInput = z.input<typeof awsProviderConfigSchema>;
