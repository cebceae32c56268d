// The external proxy's side of shared node lists: the controller plans every load balancer of a node set
// against one list, but each channel message is parsed on its own, so each arrives with a copy of its own.
import type { FrontendGroupSpec, NodeBackend } from './proxy-spec.ts';

/** Distinct lists remembered: one per address family, and a few node sets (pools with node selectors). */
const RECENT = 4;

function sameNodes(a: readonly NodeBackend[], b: readonly NodeBackend[]): boolean {
  return a.length === b.length && a.every((x, i) => x.node === b[i]!.node && x.address === b[i]!.address && x.healthy === b[i]!.healthy);
}

/**
 * Makes equal node lists one list again, so that the TCP engine reads it once for all the frontends that
 * share it (bench/local-engine-nodes.ts) and the proxy keeps one copy rather than one per load balancer.
 * A node change sends every load balancer in a row, so the last few lists are enough.
 */
export class NodeLists {
  private readonly recent: (readonly NodeBackend[])[] = [];

  /** The spec, with each frontend's nodes replaced by an equal list seen before when there is one. */
  share(spec: FrontendGroupSpec): FrontendGroupSpec {
    return { ...spec, frontends: spec.frontends.map((f) => ({ ...f, backends: this.intern(f.backends) })) };
  }

  private intern(list: readonly NodeBackend[]): readonly NodeBackend[] {
    const i = this.recent.findIndex((seen) => seen === list || sameNodes(seen, list));
    const kept = i >= 0 ? this.recent[i]! : list;
    if (i !== 0) {
      if (i > 0) this.recent.splice(i, 1);
      this.recent.unshift(kept);
      this.recent.length = Math.min(this.recent.length, RECENT);
    }
    return kept;
  }
}
