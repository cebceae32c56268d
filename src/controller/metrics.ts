// The controller's Prometheus metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueObserver } from './queue.ts';
import { createWorkqueueMetrics } from './workqueue-metrics.ts';

/**
 * The controller's own metrics; upstream's service_controller_* names where the meaning matches, and
 * client-go's workqueue_*, rest_client_* and leader_election_* names next to the project's own, so
 * dashboards built for Kubernetes controllers work unchanged.
 */
export function createControllerMetrics(registry: Registry) {
  const registers = [registry];
  const queueDepth = new Gauge({ name: 'service_lb_queue_depth', help: 'Service keys waiting in the work queue', registers });
  const queueRetries = new Counter({ name: 'service_lb_queue_retries_total', help: 'Service keys requeued after a failure', registers });
  const workqueue = createWorkqueueMetrics(registry, 'service');
  const queueObserver: QueueObserver = {
    ...workqueue,
    onDepthChange: (depth) => queueDepth.set(depth),
    onRetry: (key, delayMs) => {
      queueRetries.inc();
      workqueue.onRetry?.(key, delayMs);
    },
  };
  return {
    loadBalancerSyncs: new Counter({
      name: 'service_controller_loadbalancer_sync_total',
      help: 'Load balancer syncs (ensure or delete) attempted, as upstream',
      registers,
    }),
    nodeSyncErrors: new Counter({
      name: 'service_controller_nodesync_error_total',
      help: 'Host updates of load balancers that failed after a node change',
      registers,
    }),
    nodeSyncLatency: new Histogram({
      name: 'service_controller_nodesync_latency_seconds',
      help: 'Time from a node change until every affected load balancer has been synced',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    hostUpdateLatency: new Histogram({
      name: 'service_controller_update_loadbalancer_host_latency_seconds',
      help: 'Duration of one load balancer host update',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    queueDepth,
    queueRetries,
    /** Feeds service_lb_queue_* and client-go's workqueue_*{name="service"}. */
    queueObserver,
    syncDuration: new Histogram({
      name: 'service_lb_sync_duration_seconds',
      help: 'Duration of one Service sync, by result',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    }),
    providerCalls: new Counter({
      name: 'service_lb_provider_calls_total',
      help: 'Provider operations, by operation and outcome',
      labelNames: ['provider', 'operation', 'outcome'],
      registers,
    }),
    providerCallDuration: new Histogram({
      name: 'service_lb_provider_call_duration_seconds',
      help: 'Duration of provider operations',
      labelNames: ['provider', 'operation'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    }),
    providerCallsWaiting: new Gauge({
      name: 'service_lb_provider_calls_waiting',
      help: 'Provider operations waiting for a free worker (controller.workers bounds those in flight)',
      registers,
    }),
    kubeRequests: new Counter({
      name: 'service_lb_kube_api_requests_total',
      help: 'Kubernetes API requests made by the controller (watches excluded), by verb, resource and status code',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    }),
    eventsDropped: new Counter({
      name: 'service_lb_events_dropped_total',
      help: 'Kubernetes Events not written, by reason: spam_filter (too many about one Service), write_failed, shutdown',
      labelNames: ['reason'],
      registers,
    }),
    restClientRequests: new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code, method, and host.',
      labelNames: ['code', 'method', 'host'],
      registers,
    }),
    restClientDuration: new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Request latency in seconds. Broken down by verb, and host.',
      labelNames: ['verb', 'host'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers,
    }),
    leaderStatus: new Gauge({
      name: 'leader_election_master_status',
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
      labelNames: ['name'],
      registers,
    }),
  };
}

export type ControllerMetrics = ReturnType<typeof createControllerMetrics>;
