// What the main thread tells the proxy workers, and what they answer. Plain data: it crosses a
// worker_threads message port.
import type { FrontendTotals } from './frontend-stats.ts';

export interface BackendSpec {
  /** The node's name: stable across workers and restarts, so affinity hashes on it. */
  node: string;
  address: string;
  port: number;
  /** False: no new connections; connections in flight carry on. */
  healthy: boolean;
}

/** A node as the frontends of one node set see it (with its current health verdict). */
export interface NodeBackend {
  node: string;
  address: string;
  healthy: boolean;
}

/**
 * A frontend as the main thread sends it: every backend is a node on nodePort. Load balancers planned
 * against the same nodes and verdicts share one `backends` list, and a message carries a shared list
 * once, so a node change that updates a thousand load balancers sends the nodes once, not a thousand times.
 */
export interface PlannedFrontend {
  protocol: 'TCP' | 'UDP';
  ip: string;
  port: number;
  nodePort: number;
  backends: readonly NodeBackend[];
}

/** The backends a UDP frontend keeps of a planned one (the TCP engine takes the shared list itself). */
export function servedBackends(f: PlannedFrontend): BackendSpec[] {
  return f.backends.map((b) => ({ node: b.node, address: b.address, port: f.nodePort, healthy: b.healthy }));
}

/** Everything one Service's load balancer serves: its frontends and the settings they share. */
export interface FrontendGroupSpec {
  key: string;
  /** "namespace/name", for metrics and logs. */
  service: string;
  frontends: PlannedFrontend[];
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

/** listener_limit, global_limit: TCP connection limits; flow_limit: UDP flows per listener. */
export type RejectReason = 'source_range' | 'no_healthy_target' | 'connect_failed' | 'listener_limit' | 'global_limit' | 'flow_limit';

export type ToWorker =
  /** Several groups at once: the specs one turn of the main thread's loop produced. */
  | { type: 'apply'; id: number; specs: FrontendGroupSpec[] }
  | { type: 'remove'; id: number; key: string }
  | { type: 'stats'; id: number }
  /** Answered with done at once: the proxy's /healthz asks whether the worker's loop still turns. */
  | { type: 'ping'; id: number }
  | { type: 'shutdown'; id: number; graceMs: number };

export type FromWorker =
  | { type: 'done'; id: number; errors: string[] }
  /** Per group key, what could not be done. */
  | { type: 'applied'; id: number; errors: Record<string, string[]> }
  | { type: 'stats'; id: number; stats: FrontendStats[] };

export function frontendName(f: { ip: string; port: number; protocol: string }): string {
  return `${f.ip.includes(':') ? `[${f.ip}]` : f.ip}:${f.port}/${f.protocol}`;
}
