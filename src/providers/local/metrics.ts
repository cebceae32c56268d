// Metrics per load balancer, of the controller and of `service-lb-controller proxy`. The workers keep plain
// counters; a scrape asks them once and renders the series from their answers, so the data path never
// touches prom-client.
import { Counter, Gauge } from 'prom-client';
import type { MetricsRegistry } from '../../server/metrics-registry.ts';
import type { ProxyStatus } from './proxy-server.ts';
import type { FrontendStats } from './proxy-spec.ts';

export interface MetricsSources {
  frontendStats: () => Promise<FrontendStats[]>;
  /** One entry per health check: per node, and per node and healthCheckNodePort for externalTrafficPolicy Local. */
  targetHealth(): { node: string; target: string; healthy: boolean | undefined }[];
  poolUsage(): { pool: string; used: number }[];
}

/** The provider's metrics: the data path's, and its health checks and pools. */
export function registerMetrics(registry: MetricsRegistry, sources: MetricsSources): void {
  registerDataPathMetrics(registry, sources.frontendStats);
  new Gauge({
    name: 'service_lb_local_target_healthy',
    help: '1 when a health check of a node passes, 0 when it fails; every load balancer that uses the check follows it',
    labelNames: ['node', 'target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of sources.targetHealth()) if (t.healthy !== undefined) this.set({ node: t.node, target: t.target }, t.healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: 'service_lb_local_pool_addresses_in_use',
    help: 'Addresses of each pool held by at least one Service',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of sources.poolUsage()) this.set({ pool: p.pool }, p.used);
    },
  });
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  /** Emits a frontend's samples: the labels after service and frontend (with a leading comma), and the value. */
  samples(s: FrontendStats, emit: (labels: string, value: number) => void): void;
}

const FAMILIES: Family[] = [
  {
    name: 'service_lb_local_connections_total',
    type: 'counter',
    // Not per node: Services x ports x nodes series would make /metrics megabytes at a few hundred nodes.
    help: 'TCP connections and UDP flows opened through a load balancer',
    samples: (s, emit) => emit('', s.opened),
  },
  {
    name: 'service_lb_local_active_connections',
    type: 'gauge',
    help: 'TCP connections and UDP flows open now',
    samples: (s, emit) => emit('', s.active),
  },
  {
    name: 'service_lb_local_bytes_total',
    type: 'counter',
    help: 'Bytes forwarded; direction "in" is from clients to nodes',
    samples: (s, emit) => {
      emit(',direction="in"', s.bytesIn);
      emit(',direction="out"', s.bytesOut);
    },
  },
  {
    name: 'service_lb_local_rejected_total',
    type: 'counter',
    help:
      'Connections or flows refused: source_range, no_healthy_target, connect_failed; TCP past a connection limit: ' +
      'listener_limit, global_limit; UDP past the flow limit: flow_limit',
    samples: (s, emit) => {
      for (const [reason, n] of Object.entries(s.rejected)) if (n !== undefined) emit(`,reason="${reason}"`, n);
    },
  },
];

/** A label value in the text format: backslash, double quote and line feed escaped. */
function labelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * The data path's families as Prometheus text. Rendered here rather than through prom-client, which built a
 * labels object, a hash and a map entry per series on every scrape: at 1000 frontends, 9,000 series and a
 * 10-20 MB rise in RSS per scrape.
 */
export function renderDataPathMetrics(all: readonly FrontendStats[]): string {
  const labels = all.map((s) => `service="${labelValue(s.service)}",frontend="${labelValue(s.frontend)}"`);
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    all.forEach((s, i) => family.samples(s, (extra, value) => lines.push(`${family.name}{${labels[i]}${extra}} ${value}`)));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The data path's counters per load balancer and frontend: series come and go with the frontends served,
 * so their number is bounded by the Services' ports. One round trip to the data path per scrape.
 */
export function registerDataPathMetrics(registry: MetricsRegistry, frontendStats: () => Promise<FrontendStats[]>): void {
  registry.addRendered(async () => renderDataPathMetrics(await frontendStats()));
}

/** `service-lb-controller proxy`'s view of its channel to the controller, and of the state it serves. */
export function registerProxyMetrics(registry: MetricsRegistry, status: () => ProxyStatus): void {
  new Gauge({
    name: 'service_lb_proxy_controller_connected',
    help: '1 while a controller is connected to the proxy; the proxy keeps serving its last state without one',
    registers: [registry],
    collect() {
      this.set(status().connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'service_lb_proxy_last_update_timestamp_seconds',
    help: 'When the proxy last applied a state change (snapshot, apply or remove) from the controller; 0 before the first',
    registers: [registry],
    collect() {
      this.set((status().lastUpdateMs ?? 0) / 1_000);
    },
  });
  new Gauge({
    name: 'service_lb_proxy_state_seq',
    help: 'Channel sequence number of the last state change applied (numbered per controller process); 0 before the first',
    registers: [registry],
    collect() {
      this.set(status().stateSeq ?? 0);
    },
  });
  new Counter({
    name: 'service_lb_proxy_state_updates_total',
    help: 'State changes applied from the controller, by message type: snapshot (after each connect), apply, remove',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, n] of Object.entries(status().updates)) this.inc({ type }, n);
    },
  });
  new Gauge({
    name: 'service_lb_proxy_load_balancers',
    help: 'Load balancers the proxy serves; state="unserved" counts those whose last spec it could not serve in full (a port in use)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const now = status();
      this.set({ state: 'served' }, now.loadBalancers - now.unserved.length);
      this.set({ state: 'unserved' }, now.unserved.length);
    },
  });
}
