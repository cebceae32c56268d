// Assembles the running controller: clients, provider, informers, leader election, servers.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { collectDefaultMetrics } from 'prom-client';
import type { Config } from './config/schema.ts';
import { ServiceLoadBalancerController } from './controller/controller.ts';
import { instrumentProvider } from './controller/instrumented-provider.ts';
import { createControllerMetrics } from './controller/metrics.ts';
import { errorMessage } from './error-message.ts';
import { KubeClient } from './kube/client.ts';
import { loadInClusterKubeConfig, loadKubeConfigFile, type KubeAccess } from './kube/kubeconfig.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { warnAboutOtherServiceControllers } from './kube/other-service-controllers.ts';
import { createProvider } from './providers/index.ts';
import type { LoadBalancerProvider, ServiceEvents } from './providers/provider.ts';
import { providerReadiness } from './server/readiness.ts';
import { startServers } from './server/servers.ts';
import { MetricsRegistry } from './server/metrics-registry.ts';

/**
 * Syncs in flight per worker. A worker is one provider call in flight (the provider wrapper holds them to
 * controller.workers), but a sync also writes to the Service before its provider call (finalizer) and after
 * it (status). With one sync per worker the provider sat idle during those writes: 2x its bound at 16
 * workers. A second sync per worker does its writes while the first one's provider call runs.
 */
const SYNCS_PER_WORKER = 2;

export const EVENT_COMPONENT = 'service-lb-controller';

export interface RunOptions {
  kubeconfig?: string;
  logger: Logger;
  /** Called when this replica loses leadership: it must stop reconciling at once (the CLI exits). */
  onLostLeadership: () => void;
  /** Replaces the configured provider (tests). */
  provider?: LoadBalancerProvider;
}

export interface RunningController {
  controller: ServiceLoadBalancerController;
  metricsUrl: string;
  healthUrl: string;
  stop(): Promise<void>;
}

export function loadKubeConfig(file?: string): KubeAccess {
  return file ? loadKubeConfigFile(file) : loadInClusterKubeConfig();
}

/** host:port of the API server, as client-go labels its rest_client_* metrics. */
function apiServerHost(kc: KubeAccess): string {
  const server = kc.getCurrentCluster()?.server;
  return server ? new URL(server).host : '';
}

export async function runController(config: Config, options: RunOptions): Promise<RunningController> {
  const { logger } = options;
  const registry = new MetricsRegistry();
  collectDefaultMetrics({ register: registry });
  const metrics = createControllerMetrics(registry);
  const kubeConfig = loadKubeConfig(options.kubeconfig);
  const host = apiServerHost(kubeConfig);
  const observe = (verb: string, resource: string, code: number, seconds: number) => {
    metrics.kubeRequests.inc({ verb, resource, code: String(code) });
    // client-go's labels: "<error>" when no HTTP answer came.
    metrics.restClientRequests.inc({ code: code === 0 ? '<error>' : String(code), method: verb, host });
    metrics.restClientDuration.observe({ verb, host }, seconds);
  };
  const client = new KubeClient(kubeConfig, observe, { rateLimit: config.controller.kubeApi });
  // Lease renewals get a client of their own, outside the rate limit, as upstream's leader election has:
  // queued behind a burst of syncs, a renewal would miss its deadline and the leader would step down.
  const leaseClient = new KubeClient(kubeConfig, observe);
  const identity = `${hostname()}_${randomUUID()}`;
  const events: EventRecorder = new EventRecorder(client, EVENT_COMPONENT, identity, logger, {
    onDropped: (reason) => metrics.eventsDropped.inc({ reason }),
    // Only called once a write starts, which is after the controller below exists.
    whenIdle: (): Promise<void> => controller.whenIdle(),
  });
  const providerEvents: ServiceEvents = {
    record: (id, type, reason, message) =>
      void events.record({ metadata: { namespace: id.namespace, name: id.name, uid: id.uid } }, type, reason, message),
  };
  const provider = instrumentProvider(
    options.provider ??
      (await createProvider(config, {
        clusterName: config.clusterName,
        logger: logger.child({ provider: config.provider.name }),
        registry,
        events: providerEvents,
        // Only called from provider operations, which run once the controller below exists.
        capacityFreed: () => controller.retryWaitingForCapacity(),
      })),
    metrics,
    logger,
    config.controller.workers,
  );
  const providerReady = providerReadiness(provider);
  const controller = new ServiceLoadBalancerController({
    clusterName: config.clusterName,
    loadBalancerClass: config.loadBalancerClass,
    concurrentSyncs: SYNCS_PER_WORKER * config.controller.workers,
    resyncPeriodMs: config.controller.resyncPeriod,
    nodePortRange: config.controller.nodePortRange,
    backoff: config.controller.backoff,
    garbageCollection: config.controller.garbageCollection,
    client,
    provider,
    events,
    metrics,
    logger,
  });

  const le = config.leaderElection;
  const elector = le.enabled
    ? new LeaderElector({
        kubeConfig,
        client: leaseClient,
        namespace: le.namespace,
        leaseName: le.leaseName,
        identity,
        leaseDurationMs: le.leaseDuration,
        renewDeadlineMs: le.renewDeadline,
        retryPeriodMs: le.retryPeriod,
        logger,
      })
    : undefined;

  // Every replica exports the series, 0 until it leads, so a dashboard shows the standby too.
  const leading = (value: 0 | 1) => metrics.leaderStatus.set({ name: le.leaseName }, value);
  leading(0);
  let servers: Awaited<ReturnType<typeof startServers>> | undefined;
  const stop = async () => {
    // Stop reconciling before giving up the lease, so two leaders never overlap; then let the provider
    // drain (the local data path finishes open connections) while the new leader already serves.
    await controller.stop();
    leading(0);
    events.close();
    await elector?.stop();
    await provider.stop();
    await servers?.close();
    await client.close();
    await leaseClient.close();
  };

  try {
    servers = await startServers({
      metricsAddress: config.server.metricsAddress,
      healthAddress: config.server.healthAddress,
      registry,
      logger,
      // Liveness is the process answering: a replica that loses its lease exits instead.
      healthz: () => undefined,
      readyz: () => [
        ...(controller.informersSynced ? [] : ['informers not synced']),
        ...(elector && !elector.leaderKnown ? ['leader unknown'] : []),
        ...(providerReady?.problems() ?? []),
      ],
    });

    void warnAboutOtherServiceControllers({
      client,
      logger,
      loadBalancerClass: config.loadBalancerClass,
      ownLease: { namespace: le.namespace, name: le.leaseName },
    });
    await controller.startInformers();
    let running = false;
    const start = async () => {
      running = true;
      leading(1);
      await controller.run();
    };
    if (elector) {
      elector.run({
        onStartedLeading: () => {
          logger.info({ identity }, 'became leader');
          start().catch((err: unknown) => {
            logger.error({ err: errorMessage(err) }, 'controller failed to start');
            options.onLostLeadership();
          });
        },
        onStoppedLeading: () => {
          if (!running) return;
          leading(0);
          logger.error({ identity }, 'lost leadership');
          options.onLostLeadership();
        },
      });
    } else {
      await start();
    }
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  return { controller, metricsUrl: servers.metricsUrl, healthUrl: servers.healthUrl, stop };
}
