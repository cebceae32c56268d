// What the main thread tells the proxy workers, and what they answer. Plain data: it crosses a
// worker_threads message port.
import type { FrontendCounters } from './frontend-stats.ts';

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

/** One frontend's counters, named for metrics. */
export interface FrontendStats extends FrontendCounters {
  key: string;
  service: string;
  /** "ip:port/PROTOCOL" */
  frontend: string;
}

export type RejectReason = 'source_range' | 'no_healthy_target' | 'connect_failed';

export type ToWorker =
  /** Several groups at once: the specs one turn of the main thread's loop produced. */
  | { type: 'apply'; id: number; specs: FrontendGroupSpec[] }
  | { type: 'remove'; id: number; key: string }
  | { type: 'stats'; id: number }
  | { type: 'shutdown'; id: number; graceMs: number };

export type FromWorker =
  | { type: 'done'; id: number; errors: string[] }
  /** Per group key, what could not be done. */
  | { type: 'applied'; id: number; errors: Record<string, string[]> }
  | { type: 'stats'; id: number; stats: FrontendStats[] };

export function frontendName(f: { ip: string; port: number; protocol: string }): string {
  return `${f.ip.includes(':') ? `[${f.ip}]` : f.ip}:${f.port}/${f.protocol}`;
}
