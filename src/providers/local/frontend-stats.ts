// Per-frontend traffic counters of the local data path.
import type { RejectReason } from './proxy-spec.ts';

/** What one frontend has counted since it opened. */
export interface FrontendCounters {
  /** Connections (TCP) or flows (UDP) opened, per node. */
  opened: Record<string, number>;
  active: number;
  bytesIn: number;
  bytesOut: number;
  /** TCP and UDP count different reasons; see RejectReason. */
  rejected: Partial<Record<RejectReason, number>>;
}

/** Counters a UDP frontend keeps in its worker; plain numbers so the hot path only adds. Fresh, they are
 * also the figures of a TCP frontend that never listened. */
export class Counters implements FrontendCounters {
  opened: Record<string, number> = {};
  active = 0;
  bytesIn = 0;
  bytesOut = 0;
  rejected: Record<Exclude<RejectReason, 'listener_limit' | 'global_limit'>, number> = {
    source_range: 0,
    no_healthy_target: 0,
    connect_failed: 0,
    flow_limit: 0,
  };

  open(node: string): void {
    this.opened[node] = (this.opened[node] ?? 0) + 1;
    this.active++;
  }

  snapshot(): FrontendCounters {
    return {
      opened: { ...this.opened },
      active: this.active,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      rejected: { ...this.rejected },
    };
  }
}
