// The controller's own writes to Services, so that their watch echoes do not queue the Service again.

/** Writes remembered per Service beyond which the oldest is forgotten (echoes a re-list folded away). */
const MAX_PER_KEY = 8;

/**
 * Each write the controller makes to a Service (NodePorts, finalizer, status) comes back through the watch
 * as an update. The sync that made the write already carried on from its result, so syncing the Service
 * again for it only repeats work: at a thousand Services it tripled the syncs and added status writes
 * that raced their own echo. An update is an echo only when it goes exactly from the version the write
 * was based on to the version the write produced: any change by someone else in between is an update of
 * its own (or, folded in by a re-list, makes the versions differ), and still queues the Service.
 */
export class OwnWrites {
  private readonly writes = new Map<string, Map<string, string>>();

  /** A write to `key` turned version `base` into `written`. */
  record(key: string, base: string | undefined, written: string | undefined): void {
    if (!base || !written) return;
    let byWritten = this.writes.get(key);
    if (!byWritten) {
      byWritten = new Map();
      this.writes.set(key, byWritten);
    }
    byWritten.set(written, base);
    if (byWritten.size > MAX_PER_KEY) byWritten.delete(byWritten.keys().next().value!);
  }

  /** Whether the update from `oldVersion` to `newVersion` is one of our writes; each is matched once. */
  isEcho(key: string, oldVersion: string | undefined, newVersion: string | undefined): boolean {
    const byWritten = this.writes.get(key);
    if (!byWritten || !newVersion || byWritten.get(newVersion) !== oldVersion) return false;
    byWritten.delete(newVersion);
    if (byWritten.size === 0) this.writes.delete(key);
    return true;
  }

  /** The Service is gone. */
  forget(key: string): void {
    this.writes.delete(key);
  }
}
