import { z } from 'zod';

export const addressPoolSchema = z.strictObject({
  name: z.string().min(1),
  /** CIDRs ("10.0.0.0/24", "fd00::/120") or inclusive ranges ("10.0.0.10-10.0.0.20"). */
  addresses: z.array(z.string().min(1)).min(1),
  autoAssign: z.boolean().default(true),
});

export const localProviderConfigSchema = z.strictObject({
  /** Default: one loopback pool, so the provider works on any Linux host with no setup. */
  addressPools: z.array(addressPoolSchema).default([{ name: 'default', addresses: ['127.0.100.0/24'], autoAssign: true }]),
  /** When set, VIPs outside loopback are added to and removed from this interface. */
  interface: z.string().min(1).optional(),
  /** Proxy workers sharing each listening port. */
  workers: z.number().int().min(1).max(64).default(1),
  healthCheck: z
    .strictObject({
      intervalSeconds: z.number().positive().default(2),
      timeoutSeconds: z.number().positive().default(1),
      unhealthyThreshold: z.number().int().min(1).default(2),
      healthyThreshold: z.number().int().min(1).default(1),
    })
    .prefault({}),
  udpIdleTimeoutSeconds: z.number().positive().default(60),
  drainGraceSeconds: z.number().nonnegative().default(30),
});

export type LocalProviderConfig = z.infer<typeof localProviderConfigSchema>;
