// The `provider.local` configuration schema, with its defaults.
import { z } from 'zod';
import { serverAddressesSchema } from '../../server/address.ts';
import { poolProblems } from './pools.ts';

export const addressPoolSchema = z.strictObject({
  name: z.string().min(1),
  /** CIDRs ("10.0.0.0/24", "fd00::/120") or inclusive ranges ("10.0.0.10-10.0.0.20"). */
  addresses: z.array(z.string().min(1)).min(1),
  autoAssign: z.boolean().default(true),
});

export const localProviderConfigSchema = z
  .strictObject({
    /** Default: one loopback pool, so the provider works on any Linux host with no setup. */
    addressPools: z
      .array(addressPoolSchema)
      .min(1)
      .default([{ name: 'default', addresses: ['127.0.100.0/24'], autoAssign: true }]),
    /**
     * inProcess: the controller process serves the VIPs. external: `service-lb-controller proxy` does, fed
     * through proxySocket, and keeps serving while the controller is down (docs/proxy-channel.md).
     */
    dataPath: z.enum(['inProcess', 'external']).default('inProcess'),
    /** The proxy's unix socket, for dataPath external (a unix socket path is at most 107 bytes). */
    proxySocket: z.string().startsWith('/').max(107).default('/run/service-lb-controller/proxy.sock'),
    /**
     * The proxy's own /metrics, /healthz and /readyz, as `server` is the controller's: loopback by default
     * too, on other ports, since both processes share the node's network in deploy/ and the chart.
     */
    proxyServer: serverAddressesSchema({ metricsAddress: '127.0.0.1:8081', healthAddress: '127.0.0.1:10268' }),
    /**
     * When set, VIPs outside loopback are added to and removed from this interface: by the controller, or
     * with dataPath external by the proxy, which also announces them (gratuitous ARP, unsolicited NA).
     */
    interface: z.string().min(1).optional(),
    /**
     * Proxy workers (threads) sharing each listening port. 0: the data path runs on the controller's thread,
     * which saves a worker's memory; TCP flows on the native engine's own thread either way.
     */
    workers: z.number().int().min(0).max(64).default(0),
    /** Which node address the proxy forwards to, in order of preference (the same key as provider.aws). */
    nodeAddressPreference: z
      .array(z.enum(['InternalIP', 'ExternalIP']))
      .min(1)
      .default(['InternalIP']),
    // Every seconds field drives a timer, so each has an upper bound well below the 2^31 ms (24.8 days)
    // at which Node fires a timer after 1 ms instead; checks faster than 100 ms would be a busy loop.
    healthCheck: z
      .strictObject({
        intervalSeconds: z.number().min(0.1).max(300).default(2),
        timeoutSeconds: z.number().min(0.1).max(120).default(1),
        unhealthyThreshold: z.number().int().min(1).max(100).default(2),
        healthyThreshold: z.number().int().min(1).max(100).default(1),
        /**
         * How a node is checked for Services with externalTrafficPolicy Cluster: one check per node, shared
         * by all of them. The default is kube-proxy's /healthz on 10256, which cloud-provider-gcp's shared
         * node check uses and KEP-3836 recommends: it fails when kube-proxy is not programming the node or
         * the node is being deleted. Without kube-proxy (or with its healthz bound to localhost), use
         * { protocol: TCP, port: <a NodePort that always has endpoints> }.
         */
        cluster: z
          .strictObject({
            protocol: z.enum(['HTTP', 'TCP']).default('HTTP'),
            port: z.number().int().min(1).max(65535).default(10256),
            path: z.string().startsWith('/').default('/healthz'),
          })
          .prefault({}),
      })
      .prefault({}),
    udpIdleTimeoutSeconds: z.number().positive().max(86_400).default(60),
    drainGraceSeconds: z.number().nonnegative().max(3_600).default(30),
    /** A TCP connection with no bytes either way for this long is closed. */
    idleTimeoutSeconds: z.number().min(1).max(86_400).default(3_600),
    // The limits below default to figures derived from the descriptor limit (limits.ts).
    /** TCP connections open at once through this process; past it, new ones are reset and counted. */
    maxConnections: z.number().int().min(1).max(10_000_000).optional(),
    /** TCP connections open at once through one listener (VIP:port). */
    maxConnectionsPerListener: z.number().int().min(1).max(10_000_000).optional(),
    /** UDP flows (client address:port) at once through one listener; datagrams from new sources past it are dropped. */
    udpMaxFlowsPerListener: z.number().int().min(1).max(10_000_000).optional(),
    /**
     * Bytes the TCP data path holds for receivers slower than their senders, in total. Each connection
     * holds at most 64 KiB per direction; past the total, TCP flow control holds senders back instead.
     */
    maxBufferedBytes: z
      .number()
      .int()
      .min(0)
      .max(2 ** 40)
      .default(32 * 1024 * 1024),
  })
  .superRefine((config, ctx) => {
    for (const problem of poolProblems(config.addressPools)) {
      const [path, message] = problem.split(': ', 2) as [string, string];
      ctx.addIssue({
        code: 'custom',
        path: path
          .split(/[.[\]]+/)
          .filter(Boolean)
          .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
        message,
      });
    }
  });

export type LocalProviderConfig = z.infer<typeof localProviderConfigSchema>;
