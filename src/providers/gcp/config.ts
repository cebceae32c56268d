// The provider.gcp section of the controller config (schema and defaults): which project, region and network, how fast.

import { z } from 'zod';

export const gcpModes = ['passthrough', 'neg'] as const;
export type GcpMode = (typeof gcpModes)[number];

export const gcpProviderConfigSchema = z
  .strictObject({
    project: z.string().min(1),
    region: z.string().min(1),
    /** The VPC network of the nodes, by name. */
    network: z.string().min(1).default('default'),
    /** The nodes' subnetwork, by name: internal load balancers take their address from it unless annotated. */
    subnetwork: z.string().min(1).optional(),
    /** Network tags every node carries; firewall rules target them. Give these or nodeServiceAccount. */
    nodeTags: z.array(z.string().min(1)).default([]),
    /** The service account of the nodes; firewall rules target it when nodeTags is empty. */
    nodeServiceAccount: z.string().min(1).optional(),
    /** How external Services are built: target pools (passthrough) or NEGs behind a TCP proxy (neg). */
    mode: z.enum(gcpModes).default('passthrough'),
    /** The region's proxy-only subnetwork (purpose REGIONAL_MANAGED_PROXY), by name; needed by mode neg. */
    proxySubnet: z.string().min(1).optional(),
    /** Which node address becomes a NEG endpoint, in order of preference. */
    nodeAddressPreference: z
      .array(z.enum(['InternalIP', 'ExternalIP']))
      .min(1)
      .default(['InternalIP']),
    /** Another Compute endpoint (a private endpoint, or a fake in tests): host, port and protocol. */
    apiEndpoint: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    protocol: z.enum(['https', 'http']).default('https'),
    /** Client-side budget of Compute API calls per second (operation polls included), shared by every worker. */
    callsPerSecond: z.number().positive().default(10),
    maxRetries: z.number().int().min(0).default(8),
    retryBaseDelayMs: z.number().int().min(1).max(3_600_000).default(500),
    retryMaxDelayMs: z.number().int().min(1).max(3_600_000).default(20_000),
    /**
     * Per-request timeout; a timed-out call is retried like a 5xx. An operation wait gets 2 minutes more,
     * the time Compute may hold it before answering.
     */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** How long one mutation's operation may run before the sync gives up on it (and retries later). */
    operationTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(300_000),
    /**
     * A resync whose desired state is unchanged reads only the forwarding rules (their existence marks
     * "fully created"). Every this many seconds it reads everything and repairs drift. 0 = always everything.
     */
    fullVerifySeconds: z.number().int().min(0).max(604_800).default(3600),
  })
  .refine((c) => c.nodeTags.length > 0 || c.nodeServiceAccount !== undefined, {
    message: 'give nodeTags or nodeServiceAccount: firewall rules must name the nodes',
    path: ['nodeTags'],
  });

export type GcpProviderConfig = z.infer<typeof gcpProviderConfigSchema>;
export type GcpProviderConfigInput = z.input<typeof gcpProviderConfigSchema>;
