// Listen addresses from the config (their schema, shared by every server section), and the URL a local client uses to reach them.
import { z } from 'zod';
import { canonicalIP } from '../net/cidr.ts';

/** A listen address from the config: ":8080" (every interface), "127.0.0.1:0", "[::1]:9000". */
export interface ListenAddress {
  /** undefined: every interface (dual-stack where the host has IPv6). */
  host: string | undefined;
  port: number;
}

export function parseListenAddress(address: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(address.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new Error(`invalid listen address ${JSON.stringify(address)}: expected "host:port", ":port" or "[v6]:port"`);
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

/** A URL a local client can use to reach a server bound to `host` (as reported by server.address()). */
export function localUrl(host: string, port: number): string {
  // A wildcard bind is reachable on loopback; connecting to "::" or "0.0.0.0" is not portable.
  const reachable = host === '::' || host === '0.0.0.0' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** "host:port", ":port" or "[v6]:port"; the host an IP literal or localhost, the port 0-65535. */
export const listenAddressSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]*):\d{1,5}$/, 'expected "host:port", ":port" or "[v6]:port"')
  .superRefine((value, ctx) => {
    const colon = value.lastIndexOf(':');
    const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(value.slice(colon + 1));
    if (port > 65535) ctx.addIssue({ code: 'custom', message: `port ${port} is out of range (0-65535)` });
    if (host !== '' && host !== 'localhost' && canonicalIP(host) === undefined) {
      ctx.addIssue({ code: 'custom', message: `host ${JSON.stringify(host)} is not an IP address (or empty for every interface)` });
    }
  });

/** A process's /metrics and /healthz, /readyz addresses (the controller's `server`, the proxy's `provider.local.proxyServer`). */
export function serverAddressesSchema(defaults: { metricsAddress: string; healthAddress: string }) {
  return z
    .strictObject({
      metricsAddress: listenAddressSchema.default(defaults.metricsAddress),
      healthAddress: listenAddressSchema.default(defaults.healthAddress),
    })
    .prefault({});
}
