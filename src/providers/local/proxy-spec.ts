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
  /** Per listener and worker: datagrams from new sources past it are dropped; 0 for none. */
  udpMaxFlows: number;
  /** Per listener and worker: TCP connections past it are reset, UDP flows past it dropped; 0 for none. */
  maxConnectionsPerListener: number;
  /** A TCP connection with no bytes either way for this long is closed; 0 for never. */
  idleTimeoutMs: number;
}

/** What a frontend takes from its group's spec. */
export type FrontendSettings = Pick<
  FrontendGroupSpec,
  'sourceRanges' | 'affinity' | 'drainGraceMs' | 'maxConnectionsPerListener' | 'idleTimeoutMs'
>;

/** One frontend's counters, named for metrics. */
export interface FrontendStats extends FrontendCounters {
  key: string;
  service: string;
  /** "ip:port/PROTOCOL" */
  frontend: string;
}

/** listener_limit, global_limit: TCP connection limits; flow_limit: UDP flows per listener. */
export type RejectReason = 'source_range' | 'no_healthy_target' | 'connect_failed' | 'listener_limit' | 'global_limit' | 'flow_limit';

export type ToWorker =
  | { type: 'apply'; id: number; spec: FrontendGroupSpec }
  | { type: 'remove'; id: number; key: string }
  | { type: 'stats'; id: number }
  | { type: 'shutdown'; id: number; graceMs: number };

export type FromWorker = { type: 'done'; id: number; errors: string[] } | { type: 'stats'; id: number; stats: FrontendStats[] };

export function frontendName(f: { ip: string; port: number; protocol: string }): string {
  return `${f.ip.includes(':') ? `[${f.ip}]` : f.ip}:${f.port}/${f.protocol}`;
}
