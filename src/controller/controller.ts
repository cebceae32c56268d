// Wiring: informers mark Service keys dirty, workers sync them, timers resync and collect garbage.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { ResilientInformer } from '../kube/informer.ts';
import { ProviderError, type KnownLoadBalancer, type LoadBalancerProvider } from '../providers/provider.ts';
import { collectGarbage } from './garbage-collector.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { PortRange } from './nodeports.ts';
import { AppliedState } from './applied-state.ts';
import { identityOf } from './desired.ts';
import { OwnWrites } from './own-writes.ts';
import { isOurs, nodeChangeNeedsSync, serviceKeyOf, serviceLifecycleChanged, serviceNeedsUpdate } from './predicates.ts';
import { runWorkers, WorkQueue } from './queue.ts';
import { Reconciler } from './reconciler.ts';
import { KubeServiceWriter } from './service-writer.ts';
import { ingressFromStatus } from './status.ts';
import { errorMessage } from '../error-message.ts';

/** How long an event write waits for the work queue to go idle before it goes anyway. */
const EVENTS_MAX_DEFER_MS = 1_000;

export interface ControllerOptions {
  clusterName: string;
  loadBalancerClass: string | null;
  /** Services synced at once (the provider calls among them are bounded by the provider wrapper). */
  concurrentSyncs: number;
  resyncPeriodMs: number;
  nodePortRange: PortRange;
  backoff: { initial: number; max: number };
  garbageCollection: { enabled: boolean; dryRun: boolean; period: number };
  /**
   * Node changes are folded into one round of updates: it starts once no change came for half as long, and
   * at the latest this long after the first (a joining node changes several times in a row).
   */
  nodeSyncDelayMs?: number;
  client: KubeClient;
  provider: LoadBalancerProvider;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
}

export class ServiceLoadBalancerController {
  private readonly o: ControllerOptions;
  private readonly queue: WorkQueue;
  private readonly services: ResilientInformer<V1Service>;
  private readonly nodes: ResilientInformer<V1Node>;
  private readonly reconciler: Reconciler;
  private readonly applied = new AppliedState();
  private readonly ownWrites = new OwnWrites();
  /** Keys being synced, with the updates (old and new resourceVersion) that came meanwhile. */
  private readonly syncing = new Map<string, [string | undefined, string | undefined][]>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private workersDone: Promise<void> | undefined;
  private nodeRound: { started: number; pending: Set<string>; timer?: NodeJS.Timeout } | undefined;
  private gcPass: Promise<void> | undefined;
  /** Keys whose last sync failed waiting for capacity another Service holds; retried when it frees. */
  private readonly waitingForCapacity = new Set<string>();
  /** Bumped on every capacityFreed signal, so a sync that fails while capacity frees is not missed. */
  private capacityGeneration = 0;
  private running = false;
  private stopped = false;

  constructor(options: ControllerOptions) {
    this.o = options;
    const { metrics } = options;
    this.queue = new WorkQueue({ initialBackoffMs: options.backoff.initial, maxBackoffMs: options.backoff.max }, metrics.queueObserver);
    const log = options.logger;
    this.services = new ResilientInformer<V1Service>(
      options.client,
      '/api/v1/services',
      {
        add: (svc) => this.relevant(svc) && this.queue.add(serviceKeyOf(svc)),
        update: (oldSvc, newSvc) => {
          const key = serviceKeyOf(newSvc);
          // The echo of a write a sync made and carried on from: syncing again for it would only repeat work.
          if (this.ownWrites.isEcho(key, oldSvc.metadata?.resourceVersion, newSvc.metadata?.resourceVersion)) return;
          const cls = options.loadBalancerClass;
          if (!this.relevant(oldSvc) && !this.relevant(newSvc)) return;
          if (!serviceNeedsUpdate(oldSvc, newSvc, cls) && !serviceLifecycleChanged(oldSvc, newSvc)) return;
          // The echo of a write still in flight can come before its response: the sync's end decides.
          const held = this.syncing.get(key);
          if (held) held.push([oldSvc.metadata?.resourceVersion, newSvc.metadata?.resourceVersion]);
          else this.queue.add(key);
        },
        delete: (svc) => {
          this.ownWrites.forget(serviceKeyOf(svc));
          this.queue.add(serviceKeyOf(svc));
        },
      },
      log,
    );
    this.nodes = new ResilientInformer<V1Node>(
      options.client,
      '/api/v1/nodes',
      {
        add: () => this.nodesChanged(),
        update: (oldNode, newNode) => nodeChangeNeedsSync(oldNode, newNode) && this.nodesChanged(),
        delete: () => this.nodesChanged(),
      },
      log,
    );
    this.reconciler = new Reconciler({
      clusterName: options.clusterName,
      loadBalancerClass: options.loadBalancerClass,
      services: this.services,
      nodes: this.nodes,
      applied: this.applied,
      writer: new KubeServiceWriter({
        client: options.client,
        services: this.services,
        nodePortRange: options.nodePortRange,
        loadBalancerClass: options.loadBalancerClass,
        ownWrites: this.ownWrites,
        logger: log,
      }),
      provider: options.provider,
      events: options.events,
      metrics: options.metrics,
      logger: log,
    });
  }

  get informersSynced(): boolean {
    return this.services.hasSynced && this.nodes.hasSynced;
  }

  /** Fills the caches; safe to run before this replica leads, so a new leader starts warm. */
  async startInformers(): Promise<void> {
    await Promise.all([this.services.start(), this.nodes.start()]);
  }

  /** Starts reconciling. Call once, as leader, after startInformers(). */
  async run(): Promise<void> {
    const known: KnownLoadBalancer[] = this.lbServices()
      .filter((svc) => svc.status?.loadBalancer?.ingress?.length)
      .map((svc) => ({ identity: identityOf(svc, this.o.clusterName), ingress: ingressFromStatus(svc.status?.loadBalancer?.ingress) }));
    await this.o.provider.start(known);
    if (this.stopped) return;
    this.running = true;
    for (const svc of this.lbServices()) this.queue.add(serviceKeyOf(svc));
    this.workersDone = runWorkers(this.queue, this.o.concurrentSyncs, (key) => this.process(key));
    this.timers.push(
      setInterval(() => {
        this.applied.markAllStale();
        for (const svc of this.lbServices()) this.queue.add(serviceKeyOf(svc));
      }, this.o.resyncPeriodMs),
    );
    if (this.o.garbageCollection.enabled) {
      this.timers.push(setInterval(() => void this.collectGarbage(), this.o.garbageCollection.period));
    }
    this.o.logger.info({ concurrentSyncs: this.o.concurrentSyncs, services: known.length }, 'controller running');
  }

  /** Stops reconciling. The provider is the caller's to stop, so it can drain after the lease is released. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.nodeRound?.timer);
    this.queue.shutDown();
    await this.workersDone;
    await this.gcPass;
    await Promise.all([this.services.stop(), this.nodes.stop()]);
  }

  /**
   * Resolves when no sync is queued or running, or after at most EVENTS_MAX_DEFER_MS: event writes wait for
   * it, so that a burst of syncs is not slowed by its own events, and events still flow under constant load.
   */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle(EVENTS_MAX_DEFER_MS);
  }

  /** One garbage collection pass; exposed so tests and operators need not wait for the period. */
  collectGarbage(): Promise<void> {
    this.gcPass ??= this.collectGarbageOnce().finally(() => {
      this.gcPass = undefined;
    });
    return this.gcPass;
  }

  private async collectGarbageOnce(): Promise<void> {
    try {
      await collectGarbage({
        clusterName: this.o.clusterName,
        loadBalancerClass: this.o.loadBalancerClass,
        dryRun: this.o.garbageCollection.dryRun,
        provider: this.o.provider,
        services: this.services,
        logger: this.o.logger,
      });
    } catch (err) {
      this.o.logger.warn({ err: errorMessage(err) }, 'garbage collection failed');
    }
  }

  /**
   * The provider's ProviderDeps.capacityFreed: every Service waiting for capacity is synced again now
   * rather than after its backoff. Its failure count stays, so one that still does not fit keeps backing off.
   */
  retryWaitingForCapacity(): void {
    this.capacityGeneration++;
    if (this.waitingForCapacity.size === 0) return;
    this.o.logger.info({ services: [...this.waitingForCapacity] }, 'capacity freed; retrying Services waiting for it');
    for (const key of this.waitingForCapacity) this.queue.add(key);
    this.waitingForCapacity.clear();
  }

  private relevant(svc: V1Service): boolean {
    return isOurs(svc, this.o.loadBalancerClass) || this.applied.has(serviceKeyOf(svc));
  }

  private lbServices(): V1Service[] {
    return this.services.list().filter((svc) => this.relevant(svc));
  }

  /** Marks every load-balanced Service dirty; the sync itself reads the live node set. */
  private nodesChanged(): void {
    // A standby's informers see node changes too; it has nothing to sync until it leads.
    if (!this.running) return;
    const keys = this.lbServices().map(serviceKeyOf);
    const now = performance.now();
    const round = this.nodeRound ?? { started: now, pending: new Set<string>() };
    if (keys.length === 0) {
      clearTimeout(round.timer);
      this.nodeRound = undefined;
      return;
    }
    this.nodeRound = round;
    for (const key of keys) round.pending.add(key);
    const fold = this.o.nodeSyncDelayMs ?? 200;
    clearTimeout(round.timer);
    // One timer for the round, not one per Service: a change of 100 nodes at 1000 Services is 100 events.
    round.timer = setTimeout(
      () => {
        round.timer = undefined;
        for (const key of round.pending) this.queue.add(key);
      },
      Math.max(0, Math.min(now + fold / 2, round.started + fold) - now),
    );
  }

  private async process(key: string): Promise<void> {
    const end = this.o.metrics.syncDuration.startTimer();
    const generation = this.capacityGeneration;
    this.waitingForCapacity.delete(key);
    this.syncing.set(key, []);
    try {
      try {
        await this.reconciler.sync(key);
      } finally {
        this.queueUpdatesMadeMeanwhile(key);
      }
      this.queue.forget(key);
      end({ result: 'success' });
      this.finishNodeRound(key);
    } catch (err) {
      end({ result: 'error' });
      if (err instanceof ProviderError && err.waitsForCapacity) {
        // Capacity freed during this very sync may be what it lacked: run it again after this one.
        if (generation !== this.capacityGeneration) this.queue.add(key);
        else this.waitingForCapacity.add(key);
      }
      const retryAfter = err instanceof ProviderError || err instanceof KubeApiError ? err.retryAfterMs : undefined;
      if (retryAfter !== undefined) {
        this.queue.addAfterRetry(key, retryAfter);
        this.o.logger.warn(
          { service: key, err: errorMessage(err), retryAfterMs: retryAfter },
          'sync failed; retrying after the delay the provider asked for',
        );
      } else {
        const delay = this.queue.addRateLimited(key);
        const retryable = err instanceof ProviderError ? err.retryable : undefined;
        this.o.logger.warn({ service: key, err: errorMessage(err), retryable, backoffMs: delay }, 'sync failed; backing off');
      }
    }
  }

  /** Queues the key again if anything but the sync's own writes changed the Service while it ran. */
  private queueUpdatesMadeMeanwhile(key: string): void {
    const held = this.syncing.get(key) ?? [];
    this.syncing.delete(key);
    // Every update is matched (each write's echo once), so none is left to match a later one.
    const others = held.filter(([oldVersion, newVersion]) => !this.ownWrites.isEcho(key, oldVersion, newVersion));
    if (others.length > 0) this.queue.add(key);
  }

  private finishNodeRound(key: string): void {
    const round = this.nodeRound;
    if (!round || !round.pending.delete(key) || round.pending.size > 0) return;
    this.o.metrics.nodeSyncLatency.observe((performance.now() - round.started) / 1000);
    this.nodeRound = undefined;
  }
}
