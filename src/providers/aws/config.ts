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
  nodeAddressPreference: z.array(z.enum(['InternalIP', 'ExternalIP'])).min(1).default(['InternalIP']),
  /** Client-side budget of AWS API calls per second, shared by every worker. */
  callsPerSecond: z.number().positive().default(10),
  maxRetries: z.number().int().min(0).default(8),
});

export type AwsProviderConfig = z.infer<typeof awsProviderConfigSchema>;
