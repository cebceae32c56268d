// The controller's Prometheus metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The controller's own metrics; upstream's service_controller_* names where the meaning matches. */
export function createControllerMetrics(registry: Registry) {
  const registers = [registry];
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
    queueDepth: new Gauge({ name: 'service_lb_queue_depth', help: 'Service keys waiting in the work queue', registers }),
    queueRetries: new Counter({ name: 'service_lb_queue_retries_total', help: 'Service keys requeued after a failure', registers }),
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
  };
}

export type ControllerMetrics = ReturnType<typeof createControllerMetrics>;
