// One TCP listener on a VIP:port, forwarding each connection to one backend NodeIP:NodePort. The bytes
// move in native code (native/tcp_engine.c, one epoll thread per worker); this class hands it the
// policy and reads its counters.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Counters, type FrontendCounters, type FrontendTotals, totalsOf } from './frontend-stats.ts';
import type { FrontendSettings, NodeBackend, PlannedFrontend } from './proxy-spec.ts';

declare const nodeSetBrand: unique symbol;
/** The engine's own copy of a node list, freed when the handle is collected. */
type NodeSet = { readonly [nodeSetBrand]: true };

interface TcpEngine {
  listen(host: string, port: number): number;
  nodes(list: readonly NodeBackend[]): NodeSet;
  configure(
    id: number,
    nodes: NodeSet,
    port: number,
    clientIPAffinity: boolean,
    sourceRanges: string[],
    drainGraceMs: number,
    maxConnections: number,
    idleTimeoutMs: number,
  ): void;
  close(id: number, graceMs: number): void;
  live(id: number): number;
  stats(id: number, perNode: true): FrontendCounters;
  stats(id: number, perNode: false): FrontendTotals;
  limits(maxConnections: number, maxBufferedBytes: number): void;
  usage(): EngineUsage;
}

/** What the engine of this thread holds now, over all its listeners. */
export interface EngineUsage {
  /** Connections dialling or open. */
  connections: number;
  /** Bytes read from one side and not yet taken by the other. */
  bufferedBytes: number;
}

/** Limits of the engine of this thread, over all its listeners. */
export interface EngineLimits {
  /** Past it, new connections are reset and counted as global_limit; 0 for none. */
  maxConnections: number;
  /** Past it, sides are only peeked at, so unsent bytes stay in the kernel and TCP holds the sender back. */
  maxBufferedBytes: number;
}

const ENGINE_PATH = fileURLToPath(new URL('../../../build/tcp_engine.node', import.meta.url));
let loaded: TcpEngine | undefined;
let limits: EngineLimits | undefined;

function engine(): TcpEngine {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)(ENGINE_PATH) as TcpEngine;
      if (limits) loaded.limits(limits.maxConnections, limits.maxBufferedBytes);
    } catch (err) {
      throw new Error(
        `the local provider's TCP data path is not built (${ENGINE_PATH}): run \`npm run build:native\`, which needs a C compiler`,
        { cause: err },
      );
    }
  }
  return loaded;
}

/** Applied now if the engine is loaded, else when it is: a worker serving only UDP never loads it. */
export function setEngineLimits(wanted: EngineLimits): void {
  limits = wanted;
  loaded?.limits(wanted.maxConnections, wanted.maxBufferedBytes);
}

export function engineUsage(): EngineUsage {
  return engine().usage();
}

/**
 * Load balancers planned against the same nodes share one list (proxy-spec.ts): the engine reads each list
 * once, however many frontends it serves, so a list must not change once given (the planner freezes them).
 */
const nodeSets = new WeakMap<readonly NodeBackend[], NodeSet>();

function nodeSet(list: readonly NodeBackend[]): NodeSet {
  let set = nodeSets.get(list);
  if (!set) {
    set = engine().nodes(list);
    nodeSets.set(list, set);
  }
  return set;
}

export class TcpFrontend {
  private readonly ip: string;
  private readonly port: number;
  /** What listen() configures; dropped then, since the native engine keeps its own copy of the backends. */
  private initial: { spec: PlannedFrontend; settings: FrontendSettings } | undefined;
  private id: number | undefined;

  constructor(spec: PlannedFrontend, settings: FrontendSettings) {
    this.ip = spec.ip;
    this.port = spec.port;
    this.initial = { spec, settings };
  }

  /**
   * Binds with reusePort: every worker binds the same VIP:port and the kernel spreads connections among
   * them; a restarted controller can bind while the old one still drains. Rejects with the errno in
   * `code` (EADDRINUSE, EADDRNOTAVAIL, EACCES).
   */
  async listen(): Promise<void> {
    const native = engine();
    const id = native.listen(this.ip, this.port);
    this.id = id;
    const { spec, settings } = this.initial!;
    this.initial = undefined;
    try {
      this.configure(spec, settings, 0);
    } catch (err) {
      native.close(id, 0);
      throw err;
    }
  }

  /** Takes new backends and settings; connections to backends that left are cut after drainGraceMs. */
  update(spec: PlannedFrontend, settings: FrontendSettings): void {
    this.configure(spec, settings, settings.drainGraceMs);
  }

  /** Stops accepting; connections in flight get graceMs to finish. */
  close(graceMs: number): void {
    if (this.id !== undefined) engine().close(this.id, graceMs);
  }

  /** Cuts every connection now. */
  cut(): void {
    this.close(0);
  }

  get liveCount(): number {
    return this.id === undefined ? 0 : engine().live(this.id);
  }

  stats(): FrontendCounters {
    return this.id === undefined ? new Counters().snapshot() : engine().stats(this.id, true);
  }

  /** stats() with `opened` summed over the nodes, built without an object per node. */
  totals(): FrontendTotals {
    return this.id === undefined ? totalsOf(new Counters().snapshot()) : engine().stats(this.id, false);
  }

  private configure(spec: PlannedFrontend, settings: FrontendSettings, graceMs: number): void {
    engine().configure(
      this.id!,
      nodeSet(spec.backends),
      spec.nodePort,
      settings.affinity === 'ClientIP',
      settings.sourceRanges,
      graceMs,
      settings.maxConnectionsPerListener,
      settings.idleTimeoutMs,
    );
  }
}
