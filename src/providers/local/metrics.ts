// Metrics per load balancer. The workers keep plain counters; a scrape asks them once and sets the
// series from their answers, so the data path never touches prom-client.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FrontendStats } from './proxy-spec.ts';

export interface MetricsSources {
  frontendStats(): Promise<FrontendStats[]>;
  /** One entry per health check: per node, and per node and healthCheckNodePort for externalTrafficPolicy Local. */
  targetHealth(): { node: string; target: string; healthy: boolean | undefined }[];
  poolUsage(): { pool: string; used: number }[];
}

export function registerMetrics(registry: Registry, sources: MetricsSources): void {
  // One round-trip to the workers per scrape, shared by the series below.
  let pending: Promise<FrontendStats[]> | undefined;
  const stats = (): Promise<FrontendStats[]> => {
    pending ??= sources.frontendStats().finally(() => setTimeout(() => (pending = undefined), 100).unref());
    return pending;
  };

  new Counter({
    name: 'service_lb_local_connections_total',
    // Not per node: Services x ports x nodes series would make /metrics megabytes at a few hundred nodes.
    help: 'TCP connections and UDP flows opened through a load balancer',
    labelNames: ['service', 'frontend'],
    registers: [registry],
    async collect() {
      const all = await stats();
      this.reset();
      for (const s of all) {
        let opened = 0;
        for (const n of Object.values(s.opened)) opened += n;
        this.inc({ service: s.service, frontend: s.frontend }, opened);
      }
    },
  });
  new Gauge({
    name: 'service_lb_local_active_connections',
    help: 'TCP connections and UDP flows open now',
    labelNames: ['service', 'frontend'],
    registers: [registry],
    async collect() {
      const all = await stats();
      this.reset();
      for (const s of all) this.inc({ service: s.service, frontend: s.frontend }, s.active);
    },
  });
  new Counter({
    name: 'service_lb_local_bytes_total',
    help: 'Bytes forwarded; direction "in" is from clients to nodes',
    labelNames: ['service', 'frontend', 'direction'],
    registers: [registry],
    async collect() {
      const all = await stats();
      this.reset();
      for (const s of all) {
        this.inc({ service: s.service, frontend: s.frontend, direction: 'in' }, s.bytesIn);
        this.inc({ service: s.service, frontend: s.frontend, direction: 'out' }, s.bytesOut);
      }
    },
  });
  new Counter({
    name: 'service_lb_local_rejected_total',
    help:
      'Connections or flows refused: source_range, no_healthy_target, connect_failed; TCP past a connection limit: ' +
      'listener_limit, global_limit; UDP past the flow limit: flow_limit',
    labelNames: ['service', 'frontend', 'reason'],
    registers: [registry],
    async collect() {
      const all = await stats();
      this.reset();
      for (const s of all)
        for (const [reason, n] of Object.entries(s.rejected))
          if (n !== undefined) this.inc({ service: s.service, frontend: s.frontend, reason }, n);
    },
  });
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
