// sync(key): decides what one Service needs; the provider acts on the cloud, the ServiceWriter on the Service.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.ts';
import type { ObjectCache } from '../kube/informer.ts';
import type { DesiredLoadBalancer, IngressStatus, LoadBalancerProvider } from '../providers/provider.ts';
import type { AppliedState } from './applied-state.ts';
import { desiredLoadBalancer, identityOf, specFingerprint, targetsFingerprint } from './desired.ts';
import type { ControllerMetrics } from './metrics.ts';
import { nodePortsNeeded } from './nodeports.ts';
import { hasFinalizer, needsCleanup, splitKey, wantsLoadBalancer } from './predicates.ts';
import type { ServiceWriter } from './service-writer.ts';
import { ingressEqual } from './status.ts';
import { errorMessage } from '../error-message.ts';

export interface ReconcilerOptions {
  clusterName: string;
  loadBalancerClass: string | null;
  services: ObjectCache<V1Service>;
  nodes: ObjectCache<V1Node>;
  applied: AppliedState;
  writer: ServiceWriter;
  provider: LoadBalancerProvider;
  events: Pick<EventRecorder, 'record'>;
  metrics: Pick<ControllerMetrics, 'loadBalancerSyncs' | 'nodeSyncErrors' | 'hostUpdateLatency'>;
  logger: Logger;
}

const MAX_HOSTS_IN_EVENT = 20;

export class Reconciler {
  private readonly o: ReconcilerOptions;

  constructor(options: ReconcilerOptions) {
    this.o = options;
  }

  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.o.services.get(name, namespace);
    const previous = this.o.applied.get(key);

    // Gone without our finalizer's cleanup (someone stripped it), or re-created under a new UID.
    if (previous && (!svc || svc.metadata?.uid !== previous.identity.uid)) {
      this.o.logger.info({ service: key, uid: previous.identity.uid }, 'deleting load balancer of a Service that no longer exists');
      await this.o.provider.delete(previous.identity);
      this.o.applied.delete(key);
    }
    if (!svc) return;

    if (needsCleanup(svc, this.o.loadBalancerClass)) {
      await this.cleanup(key, svc);
      return;
    }
    if (!wantsLoadBalancer(svc, this.o.loadBalancerClass)) return;
    // Being deleted with our finalizer already gone: adding it back would loop on Forbidden forever.
    if (svc.metadata?.deletionTimestamp) return;

    await this.ensure(key, svc);
  }

  private async ensure(key: string, original: V1Service): Promise<void> {
    let svc = original;
    if (nodePortsNeeded(svc) > 0) svc = await this.o.writer.assignNodePorts(svc);
    if (!hasFinalizer(svc)) svc = await this.o.writer.addFinalizer(svc);

    const desired = this.desired(svc);
    const spec = specFingerprint(desired);
    const targets = targetsFingerprint(desired);
    const previous = this.o.applied.get(key);
    let ingress: IngressStatus[];

    if (!previous || previous.spec !== spec || previous.stale) {
      // Resyncs repair silently; only real changes are worth an event.
      const announce = !previous || previous.spec !== spec;
      this.o.metrics.loadBalancerSyncs.inc();
      if (announce) void this.o.events.record(svc, 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer');
      if (announce && desired.targets.length === 0) this.noNodes(svc);
      try {
        ingress = await this.o.provider.ensure(desired);
      } catch (err) {
        // Something may exist in the cloud now: keep the identity (so a vanished Service is still cleaned
        // up) and make the next sync a full ensure.
        this.o.applied.set(key, { identity: desired.identity, spec: '', targets: '', ingress: [], stale: true });
        this.syncFailed(svc, errorMessage(err));
        throw err;
      }
      this.o.applied.set(key, { identity: desired.identity, spec, targets, ingress, stale: false });
      if (announce) void this.o.events.record(svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer');
    } else if (previous.targets !== targets) {
      if (desired.targets.length === 0) this.noNodes(svc);
      const started = performance.now();
      let changed: boolean | void;
      try {
        changed = await this.o.provider.updateTargets(desired);
      } catch (err) {
        // As upstream: a failed host update is retried as a full ensure.
        this.o.applied.markStale(key);
        this.o.metrics.nodeSyncErrors.inc();
        const names = desired.targets.map((t) => t.nodeName);
        const shown = names.slice(0, MAX_HOSTS_IN_EVENT).join(', ') + (names.length > MAX_HOSTS_IN_EVENT ? ', ...' : '');
        void this.o.events.record(
          svc,
          'Warning',
          'UpdateLoadBalancerFailed',
          `Error updating load balancer with new hosts [${shown}]: ${errorMessage(err)}`,
        );
        throw err;
      }
      this.o.metrics.hostUpdateLatency.observe((performance.now() - started) / 1000);
      this.o.applied.set(key, { ...previous, targets });
      ingress = previous.ingress;
      // Only false means "nothing changed": providers written before it existed resolve to undefined.
      if (changed !== false) void this.o.events.record(svc, 'Normal', 'UpdatedLoadBalancer', 'Updated load balancer with new hosts');
    } else {
      ingress = previous.ingress;
    }

    if (!ingressEqual(svc.status?.loadBalancer?.ingress, ingress)) await this.o.writer.patchStatus(svc, ingress);
  }

  /** The desired state; a Service that cannot be served as written gets the reason as a Warning. */
  private desired(svc: V1Service): DesiredLoadBalancer {
    try {
      return desiredLoadBalancer(svc, this.o.nodes.list(), this.o.clusterName);
    } catch (err) {
      this.syncFailed(svc, errorMessage(err));
      throw err;
    }
  }

  private syncFailed(svc: V1Service, reason: string): void {
    void this.o.events.record(svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: ${reason}`);
  }

  private noNodes(svc: V1Service): void {
    void this.o.events.record(svc, 'Warning', 'UnAvailableLoadBalancer', 'There are no available nodes for LoadBalancer');
  }

  /**
   * As upstream, the provider is asked whether a load balancer exists, and only then are Deleting and
   * Deleted announced; delete is called either way, since it also removes what a failed ensure left.
   */
  private async cleanup(key: string, svc: V1Service): Promise<void> {
    const identity = identityOf(svc, this.o.clusterName);
    this.o.metrics.loadBalancerSyncs.inc();
    let exists: boolean;
    try {
      exists = (await this.o.provider.get(identity)) !== undefined;
    } catch (err) {
      this.syncFailed(svc, `failed to check if load balancer exists before cleanup: ${errorMessage(err)}`);
      throw err;
    }
    if (exists) void this.o.events.record(svc, 'Normal', 'DeletingLoadBalancer', 'Deleting load balancer');
    try {
      await this.o.provider.delete(identity);
    } catch (err) {
      this.syncFailed(svc, errorMessage(err));
      throw err;
    }
    if (exists) void this.o.events.record(svc, 'Normal', 'DeletedLoadBalancer', 'Deleted load balancer');
    // A Service that stays (type changed) must not keep advertising an address that no longer works.
    let current: V1Service | undefined = svc;
    if (!svc.metadata?.deletionTimestamp && svc.status?.loadBalancer?.ingress?.length) current = await this.o.writer.patchStatus(svc, []);
    if (current) await this.o.writer.removeFinalizer(current);
    this.o.applied.delete(key);
  }
}
