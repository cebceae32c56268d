// Assembles the running controller: clients, provider, informers, leader election, servers.
import { KubeConfig } from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from './config/schema.ts';
import { ServiceLoadBalancerController } from './controller/controller.ts';
import { instrumentProvider } from './controller/instrumented-provider.ts';
import { createControllerMetrics } from './controller/metrics.ts';
import { errorMessage } from './error-message.ts';
import { KubeClient } from './kube/client.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { createProvider } from './providers/index.ts';
import type { LoadBalancerProvider, ServiceEvents } from './providers/provider.ts';
import { startServers } from './server/servers.ts';

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

export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

export async function runController(config: Config, options: RunOptions): Promise<RunningController> {
  const { logger } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createControllerMetrics(registry);
  const client = new KubeClient(loadKubeConfig(options.kubeconfig), (verb, resource, code) =>
    metrics.kubeRequests.inc({ verb, resource, code: String(code) }),
  );
  const identity = `${hostname()}_${randomUUID()}`;
  const events = new EventRecorder(client, EVENT_COMPONENT, identity, logger);
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
  );
  const controller = new ServiceLoadBalancerController({
    clusterName: config.clusterName,
    loadBalancerClass: config.loadBalancerClass,
    workers: config.controller.workers,
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
        kubeConfig: client.kubeConfig,
        client,
        namespace: le.namespace,
        leaseName: le.leaseName,
        identity,
        leaseDurationMs: le.leaseDuration,
        renewDeadlineMs: le.renewDeadline,
        retryPeriodMs: le.retryPeriod,
        logger,
      })
    : undefined;

  let servers: Awaited<ReturnType<typeof startServers>> | undefined;
  const stop = async () => {
    // Stop reconciling before giving up the lease, so two leaders never overlap; then let the provider
    // drain (the local data path finishes open connections) while the new leader already serves.
    await controller.stop();
    events.close();
    await elector?.stop();
    await provider.stop();
    await servers?.close();
    await client.close();
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
      ],
    });

    await controller.startInformers();
    let running = false;
    const start = async () => {
      running = true;
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
