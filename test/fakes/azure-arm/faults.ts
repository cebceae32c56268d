// Fault injection for the Azure ARM fake: seeded random faults and targeted "fail the next N" rules.

import { shareGate } from '../fault-share.ts';

/** 'timeout': the request is never processed; it is held `timeoutHoldMs`, then its connection dropped. */
export type FaultKind = 'throttle' | 'server-error' | 'unavailable' | 'timeout' | 'slow-lro' | 'lro-failure';

/** A fault that answers the request itself with an ARM error instead of processing it. */
export interface CustomFault {
  status: number;
  code: string;
  message: string;
}

export interface RandomFaults {
  /** Share in [0, 1] of eligible requests that get a fault (see shareGate). */
  rate: number;
  kinds: readonly FaultKind[];
  seed?: number;
  /** Methods eligible for random faults; async-operation polls are not, unless `all`. Default PUT, PATCH, DELETE. */
  methods?: readonly string[];
  /** Every request is eligible: reads, writes and async-operation polls. */
  all?: boolean;
}

export interface TargetedFault {
  /** Matches the request's method; any method when omitted. */
  method?: string;
  /** Top-level resource type as in the path, e.g. 'loadBalancers' (case-insensitive). */
  type: string;
  /** Top-level resource name (case-insensitive); any when omitted. */
  name?: string;
  /** Child collection, e.g. 'backendAddressPools'; a rule with no child matches only top-level requests. */
  child?: string;
  /** How many matching requests fail; default 1. */
  count?: number;
  kind: FaultKind | CustomFault;
}

export interface RequestTarget {
  method: string;
  type?: string;
  name?: string;
  child?: string;
  /** An Azure-AsyncOperation or Location poll. */
  poll?: boolean;
}

/** mulberry32: tiny, seedable, and good enough to pick faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultPlan {
  private random:
    | { kinds: readonly FaultKind[]; methods: readonly string[]; all: boolean; next: () => number; fail: () => boolean }
    | undefined;
  private readonly targeted: Array<TargetedFault & { remaining: number }> = [];
  /** How many faults of each kind were injected, for assertions. */
  readonly injected = new Map<string, number>();

  setRandom(options: RandomFaults | undefined): void {
    if (options === undefined || options.rate <= 0 || options.kinds.length === 0) {
      this.random = undefined;
      return;
    }
    const next = seededRandom(options.seed ?? 1);
    this.random = {
      kinds: options.kinds,
      methods: (options.methods ?? ['PUT', 'PATCH', 'DELETE']).map((m) => m.toUpperCase()),
      all: options.all ?? false,
      next,
      fail: shareGate(options.rate, next),
    };
  }

  addTargeted(fault: TargetedFault): void {
    this.targeted.push({ ...fault, remaining: fault.count ?? 1 });
  }

  clear(): void {
    this.random = undefined;
    this.targeted.length = 0;
  }

  /** The fault for this request, if any; targeted rules win over random ones. */
  pick(target: RequestTarget): FaultKind | CustomFault | undefined {
    const same = (a: string | undefined, b: string | undefined) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
    const rule = this.targeted.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || same(f.method, target.method)) &&
        same(f.type, target.type) &&
        (f.name === undefined || same(f.name, target.name)) &&
        same(f.child, target.child),
    );
    let kind: FaultKind | CustomFault | undefined;
    if (rule) {
      rule.remaining -= 1;
      kind = rule.kind;
    } else if (this.random && (this.random.all || (!target.poll && this.random.methods.includes(target.method))) && this.random.fail()) {
      kind = this.random.kinds[Math.floor(this.random.next() * this.random.kinds.length)];
    }
    if (kind !== undefined) {
      const label = typeof kind === 'string' ? kind : kind.code;
      this.injected.set(label, (this.injected.get(label) ?? 0) + 1);
    }
    return kind;
  }
}
