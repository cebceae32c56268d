// The local data path's limits: those configured, or defaults derived from the descriptor limit, and each proxy worker's share.
import { readFileSync } from 'node:fs';
import type { LocalProviderConfig } from './config.ts';

/** What the data path of the whole process may hold; per listener for the per-listener ones. */
export interface DataPathLimits {
  maxConnections: number;
  maxConnectionsPerListener: number;
  udpMaxFlowsPerListener: number;
  maxBufferedBytes: number;
}

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit when it starts). */
export function fdLimit(): number {
  const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = Number(line?.[1]);
  // "unlimited", or a limit no table of descriptors reaches: count on a large one.
  return Number.isFinite(value) ? Math.min(value, 1 << 20) : 1 << 20;
}

/**
 * A proxied TCP connection holds two descriptors. A tenth of the limit (at least 1,024 or half of it) is
 * kept for everything else: the API client, health checks, UDP flows, logs. One listener may take a
 * quarter of the connections, so that a flood on one VIP leaves the others three quarters; a UDP
 * listener as many flows, each of which holds one socket.
 */
export function dataPathLimits(
  config: Pick<LocalProviderConfig, 'maxConnections' | 'maxConnectionsPerListener' | 'udpMaxFlowsPerListener' | 'maxBufferedBytes'>,
  nofile: number,
): DataPathLimits {
  const headroom = Math.max(Math.min(1_024, nofile / 2), nofile / 10);
  const maxConnections = config.maxConnections ?? Math.max(1, Math.floor((nofile - headroom) / 2));
  const maxConnectionsPerListener = config.maxConnectionsPerListener ?? Math.ceil(maxConnections / 4);
  return {
    maxConnections,
    maxConnectionsPerListener,
    udpMaxFlowsPerListener: config.udpMaxFlowsPerListener ?? maxConnectionsPerListener,
    maxBufferedBytes: config.maxBufferedBytes,
  };
}

/**
 * Each worker enforces its share: the kernel spreads connections and flows evenly over reusePort sockets.
 * No workers: the one data path on the main thread has it all.
 */
export function workerShare(limits: DataPathLimits, workers: number): DataPathLimits {
  workers = Math.max(1, workers);
  return {
    maxConnections: Math.ceil(limits.maxConnections / workers),
    maxConnectionsPerListener: Math.ceil(limits.maxConnectionsPerListener / workers),
    udpMaxFlowsPerListener: Math.ceil(limits.udpMaxFlowsPerListener / workers),
    maxBufferedBytes: Math.ceil(limits.maxBufferedBytes / workers),
  };
}
