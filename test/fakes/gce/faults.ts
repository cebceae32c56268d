// Fault injection for the GCE fake: seeded random faults and targeted "fail the next N calls" rules.

import { shareGate } from '../fault-share.ts';

export type FaultKind =
  /** 403 rateLimitExceeded, Compute's classic throttling answer. */
  | 'rate-limit'
  /** 429 rateLimitExceeded with status RESOURCE_EXHAUSTED, the API front end's per-minute quota answer. */
  | 'too-many-requests'
  /** 500 backendError. */
  | 'server-error'
  /** 503 backendError. */
  | 'unavailable'
  /** The request is never processed; it is held `timeoutHoldMs`, then its connection dropped. */
  | 'timeout'
  /** The mutation is accepted; its operation takes `slowOperationMs` longer. */
  | 'slow-operation'
  /** The mutation is accepted; its operation ends DONE with an error and changes nothing. */
  | 'operation-failure';

/** A fault that answers the request with exactly this HTTP error instead of processing it. */
export interface CustomFault {
  status: number;
  reason: string;
  message: string;
}

export interface RandomFaults {
  /** Share in [0, 1] of eligible requests that get a fault (see shareGate). */
  rate: number;
  kinds: readonly FaultKind[];
  seed?: number;
  /**
   * API methods eligible (as in the discovery document: 'insert', 'delete', 'get', 'list', 'setLabels',
   * 'addInstance', ...). Default: every mutation. Operation polls ('wait', operations 'get') are not, unless `all`.
   */
  methods?: readonly string[];
  /** Every request is eligible: reads, mutations and operation polls. */
  all?: boolean;
}

export interface TargetedFault {
  /** API method, e.g. 'insert' or 'attachNetworkEndpoints'; any when omitted. */
  method?: string;
  /** Collection as in the path, e.g. 'forwardingRules'; any when omitted. */
  collection?: string;
  /** Resource name; any when omitted (an insert's name is the one in its body). */
  name?: string;
  /** How many matching requests fail; default 1. */
  count?: number;
  kind: FaultKind | CustomFault;
}

export interface RequestTarget {
  method: string;
  collection: string;
  name?: string;
  mutation: boolean;
  /** An operations get or wait. */
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
    | { kinds: readonly FaultKind[]; methods: readonly string[] | undefined; all: boolean; next: () => number; fail: () => boolean }
    | undefined;
  private readonly targeted: Array<TargetedFault & { remaining: number }> = [];
  /** How many faults of each kind (or custom reason) were injected so far. */
  readonly injected = new Map<string, number>();

  setRandom(options: RandomFaults | undefined): void {
    if (options === undefined || options.rate <= 0 || options.kinds.length === 0) {
      this.random = undefined;
      return;
    }
    const next = seededRandom(options.seed ?? 1);
    this.random = { kinds: options.kinds, methods: options.methods, all: options.all ?? false, next, fail: shareGate(options.rate, next) };
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
    const rule = this.targeted.find(
      (f) =>
        f.remaining > 0 &&
        (f.method === undefined || f.method === target.method) &&
        (f.collection === undefined || f.collection === target.collection) &&
        (f.name === undefined || f.name === target.name),
    );
    let kind: FaultKind | CustomFault | undefined;
    if (rule) {
      rule.remaining -= 1;
      kind = rule.kind;
    } else if (this.random) {
      const eligible =
        this.random.all ||
        (!target.poll && (this.random.methods === undefined ? target.mutation : this.random.methods.includes(target.method)));
      if (eligible && this.random.fail()) kind = this.random.kinds[Math.floor(this.random.next() * this.random.kinds.length)];
    }
    if (kind !== undefined) {
      const label = typeof kind === 'string' ? kind : kind.reason;
      this.injected.set(label, (this.injected.get(label) ?? 0) + 1);
    }
    return kind;
  }
}
