// Assembles `service-lb-controller proxy`: the local provider's data path, its channel to the controller,
// and its own /metrics, /healthz and /readyz (the controller's server module, on provider.local.proxyServer).
import type { Logger } from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import type { Config } from './config/schema.ts';
import { dataPathLimits, fdLimit, workerShare } from './providers/local/limits.ts';
import { registerDataPathMetrics, registerProxyMetrics } from './providers/local/metrics.ts';
import { ProxyServer } from './providers/local/proxy-server.ts';
import { startServers } from './server/servers.ts';
import { MetricsRegistry } from './server/metrics-registry.ts';

export interface RunningProxy {
  metricsUrl: string;
  healthUrl: string;
  /** Closes every listener and drains for up to drainGraceSeconds. */
  stop(): Promise<void>;
}

/** Throws ConfigError when a proxyServer address cannot be bound. */
export async function runProxy(config: Config, options: { socketPath?: string; logger: Logger }): Promise<RunningProxy> {
  const { logger } = options;
  const local = config.provider.local;
  const limits = workerShare(dataPathLimits(local, fdLimit()), local.workers);
  const proxy = new ProxyServer({
    socketPath: options.socketPath ?? local.proxySocket,
    workers: local.workers,
    limits: { maxConnections: limits.maxConnections, maxBufferedBytes: limits.maxBufferedBytes },
    interface: local.interface,
    logger,
  });
  const registry = new MetricsRegistry();
  collectDefaultMetrics({ register: registry });
  registerDataPathMetrics(registry, () => proxy.frontendStats());
  registerProxyMetrics(registry, () => proxy.status());
  const stop = async (servers?: { close(): Promise<void> }) => {
    await proxy.stop(local.drainGraceSeconds * 1_000);
    await servers?.close();
  };
  let servers;
  try {
    servers = await startServers({
      ...local.proxyServer,
      section: 'provider.local.proxyServer',
      registry,
      logger,
      healthz: () => proxy.liveness(),
      readyz: () => proxy.readiness(),
    });
    await proxy.listen();
  } catch (err) {
    await stop(servers);
    throw err;
  }
  return { metricsUrl: servers.metricsUrl, healthUrl: servers.healthUrl, stop: () => stop(servers) };
}
