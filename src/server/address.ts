// Listen addresses from the config, and the URL a local client uses to reach them.
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
