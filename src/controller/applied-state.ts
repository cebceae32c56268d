// What was last applied for each Service key, so unchanged Services cost no cloud call; one owner for it.
import type { IngressStatus, LoadBalancerIdentity } from '../providers/provider.ts';

export interface Applied {
  identity: LoadBalancerIdentity;
  /** Fingerprints of the desired state last ensured ("" after a failed ensure). */
  spec: string;
  targets: string;
  ingress: IngressStatus[];
  /** The next sync ensures again: set by the periodic resync (repairing drift) and after failures. */
  stale: boolean;
}

/**
 * The reconciler writes it; the controller reads it to keep handling a Service it applied (whatever the
 * Service says now) and marks everything stale on resync.
 */
export class AppliedState {
  private readonly entries = new Map<string, Applied>();

  get(key: string): Applied | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, entry: Applied): void {
    this.entries.set(key, entry);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Makes the next sync of one key a full ensure. */
  markStale(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.stale = true;
  }

  /** Makes the next sync of every key a full ensure. */
  markAllStale(): void {
    for (const entry of this.entries.values()) entry.stale = true;
  }
}
