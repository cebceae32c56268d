import type { FrontendStats, RejectReason } from './proxy-spec.ts';

/** Counters one frontend keeps in its worker; plain numbers so the hot path only adds. */
export class Counters {
  opened: Record<string, number> = {};
  active = 0;
  bytesIn = 0;
  bytesOut = 0;
  rejected: Record<RejectReason, number> = { source_range: 0, no_healthy_target: 0, connect_failed: 0 };

  open(node: string): void {
    this.opened[node] = (this.opened[node] ?? 0) + 1;
    this.active++;
  }

  snapshot(key: string, service: string, frontend: string): FrontendStats {
    return { key, service, frontend, opened: { ...this.opened }, active: this.active, bytesIn: this.bytesIn, bytesOut: this.bytesOut, rejected: { ...this.rejected } };
  }
}
