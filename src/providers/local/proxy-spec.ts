// What the main thread tells the proxy workers, and what they answer. Plain data: it crosses a
// worker_threads message port.
import type { FrontendTotals } from './frontend-stats.ts';

export interface BackendSpec {
  /** Stable across workers and restarts: affinity hashes on it. */
  id: string;
  node: string;
  address: string;
  port: number;
  /** False: no new connections; connections in flight carry on. */
  healthy: boolean;
}

export interface FrontendSpec {
  protocol: 'TCP' | 'UDP';
  ip: string;
  port: number;
  backends: BackendSpec[];
}

/** Everything one Service's load balancer serves: its frontends and the settings they share. */
export interface FrontendGroupSpec {
  key: string;
  /** "namespace/name", for metrics and logs. */
  service: string;
  frontends: FrontendSpec[];
  sourceRanges: string[];
  affinity: 'None' | 'ClientIP';
  drainGraceMs: number;
  udpIdleMs: number;
}

/** What a frontend takes from its group's spec. */
export type FrontendSettings = Pick<FrontendGroupSpec, 'sourceRanges' | 'affinity' | 'drainGraceMs'>;

/**
 * One frontend's counters, named for metrics. `opened` is summed over the nodes in the worker: per node, a
 * scrape at 1000 Services and 100 nodes built and sent 100,000 entries, a 30 MB spike in RSS.
 */
export interface FrontendStats extends FrontendTotals {
  key: string;
  service: string;
  /** "ip:port/PROTOCOL" */
  frontend: string;
}

export type RejectReason = 'source_range' | 'no_healthy_target' | 'connect_failed';

export type ToWorker =
  | { type: 'apply'; id: number; spec: FrontendGroupSpec }
  | { type: 'remove'; id: number; key: string }
  | { type: 'stats'; id: number }
  | { type: 'shutdown'; id: number; graceMs: number };

export type FromWorker = { type: 'done'; id: number; errors: string[] } | { type: 'stats'; id: number; stats: FrontendStats[] };

export function frontendName(f: { ip: string; port: number; protocol: string }): string {
  return `${f.ip.includes(':') ? `[${f.ip}]` : f.ip}:${f.port}/${f.protocol}`;
}
