// The HTTP endpoints: /metrics, /healthz and /readyz.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ConfigError } from '../config/load.ts';
import { errorMessage } from '../error-message.ts';
import { http } from '../net/http.ts';
import { localUrl, parseListenAddress } from './address.ts';
import { probeResponse } from './health.ts';

export interface ServerOptions {
  metricsAddress: string;
  healthAddress: string;
  /** Where the two addresses are in the config, for errors: "server" (default), "provider.local.proxyServer". */
  section?: string;
  registry: Registry;
  /** undefined when alive, else why not. May ask other threads, so it may answer later. */
  healthz: () => string | undefined | Promise<string | undefined>;
  /** Why the process is not ready; empty when ready. */
  readyz: () => string[] | Promise<string[]>;
  logger: Logger;
}

export interface RunningServers {
  /** Origins ("http://127.0.0.1:8080"), with the real port when 0 was asked for. */
  metricsUrl: string;
  healthUrl: string;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

function send(res: ServerResponse, status: number, contentType: string, body: string, headOnly: boolean): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' });
  res.end(headOnly ? undefined : body);
}

const textPlain = 'text/plain; charset=utf-8';

type Check = () => string | string[] | undefined | Promise<string | string[] | undefined>;

async function failuresOf(check: Check): Promise<string[]> {
  try {
    const result = await check();
    if (result === undefined) return [];
    return typeof result === 'string' ? [result] : result;
  } catch (err) {
    // A check that throws is a failing check, not a crashed probe endpoint.
    return [`check threw: ${errorMessage(err)}`];
  }
}

function probeRoute(name: string, check: Check): Route {
  return async (req, res, url) => {
    const { status, body } = probeResponse(name, await failuresOf(check), url.searchParams.has('verbose'));
    send(res, status, textPlain, body, req.method === 'HEAD');
  };
}

function metricsRoute(registry: Registry): Route {
  return async (req, res) => {
    const body = await registry.metrics();
    send(res, 200, registry.contentType, body, req.method === 'HEAD');
  };
}

function listen(address: string, routes: Map<string, Route>, logger: Logger): Promise<Server> {
  const { host, port } = parseListenAddress(address);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes.get(url.pathname);
    if (!route) return send(res, 404, textPlain, 'not found\n', req.method === 'HEAD');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, textPlain, 'method not allowed\n', false);
    }
    Promise.resolve()
      .then(() => route(req, res, url))
      .catch((err: unknown) => {
        logger.warn({ err, path: url.pathname }, 'cannot serve request');
        if (!res.headersSent) send(res, 500, textPlain, `${(err as Error).message}\n`, false);
        else res.destroy();
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      server.on('error', (err) => logger.error({ err, address }, 'HTTP server error'));
      resolve(server);
    });
  });
}

function urlOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return localUrl(address, port);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections (Prometheus scrapers, probes) would otherwise hold close() open.
    server.closeAllConnections();
  });
}

/** /metrics on metricsAddress, /healthz and /readyz on healthAddress; one server when the two are equal. */
export async function startServers(opts: ServerOptions): Promise<RunningServers> {
  const { logger } = opts;
  const metrics = new Map<string, Route>([['/metrics', metricsRoute(opts.registry)]]);
  const health = new Map<string, Route>([
    ['/healthz', probeRoute('healthz', opts.healthz)],
    ['/readyz', probeRoute('readyz', opts.readyz)],
  ]);
  const shared = opts.metricsAddress.trim() === opts.healthAddress.trim();

  const servers: Server[] = [];
  // A port in use or an address not on this host is the config's fault: the error names the field.
  const listenFor = (field: 'metricsAddress' | 'healthAddress', routes: Map<string, Route>) =>
    listen(opts[field], routes, logger).catch((err: unknown) => {
      throw new ConfigError(`${opts.section ?? 'server'}.${field}: cannot listen on ${JSON.stringify(opts[field])}: ${errorMessage(err)}`);
    });
  try {
    if (shared) {
      servers.push(await listenFor('metricsAddress', new Map([...metrics, ...health])));
    } else {
      servers.push(await listenFor('metricsAddress', metrics));
      servers.push(await listenFor('healthAddress', health));
    }
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }

  const metricsServer = servers[0]!;
  const healthServer = servers[servers.length - 1]!;
  const metricsUrl = urlOf(metricsServer);
  const healthUrl = urlOf(healthServer);
  logger.info({ metrics: `${metricsUrl}/metrics`, health: `${healthUrl}/healthz` }, 'serving metrics and health');
  return {
    metricsUrl,
    healthUrl,
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
}
