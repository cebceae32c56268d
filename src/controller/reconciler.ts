// sync(key): one Service, read fresh from the informer cache, brought to its desired state.
import type { V1Node, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { invalidService, type IngressStatus, type LoadBalancerIdentity, type LoadBalancerProvider } from '../providers/provider.ts';
import type { ControllerMetrics } from './metrics.ts';
import { assignNodePorts, nodePortsNeeded, pickFreePorts, usedNodePorts, type PortRange } from './nodeports.ts';
import { desiredLoadBalancer, identityOf, specFingerprint, targetsFingerprint } from './plan.ts';
import { hasFinalizer, LB_FINALIZER, MANAGED_CLASS_ANNOTATION, needsCleanup, serviceKey, splitKey, wantsLoadBalancer } from './predicates.ts';
import { ingressEqual, statusPatch } from './status.ts';
import { errorMessage } from '../error-message.ts';

export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

export interface ReconcilerOptions {
  clusterName: string;
  loadBalancerClass: string | null;
  nodePortRange: PortRange;
  services: ObjectCache<V1Service>;
  nodes: ObjectCache<V1Node>;
  client: KubeClient;
  provider: LoadBalancerProvider;
  events: EventRecorder;
  metrics: ControllerMetrics;
  logger: Logger;
}

/** What was last applied for a key, so unchanged Services cost no cloud call. */
interface Applied {
  identity: LoadBalancerIdentity;
  spec: string;
  targets: string;
  ingress: IngressStatus[];
  /** Set by the periodic resync: the next sync ensures again, repairing drift in the cloud. */
  stale: boolean;
}

const MAX_HOSTS_IN_EVENT = 20;
const NODEPORT_ATTEMPTS = 5;

export class Reconciler {
  private readonly o: ReconcilerOptions;
  private readonly applied = new Map<string, Applied>();

  constructor(options: ReconcilerOptions) {
    this.o = options;
  }

  hasApplied(key: string): boolean {
    return this.applied.has(key);
  }

  /** Makes the next sync of every key a full ensure. */
  markAllStale(): void {
    for (const entry of this.applied.values()) entry.stale = true;
  }

  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.o.services.get(name, namespace);
    const previous = this.applied.get(key);

    // Gone without our finalizer's cleanup (someone stripped it), or re-created under a new UID.
    if (previous && (!svc || svc.metadata?.uid !== previous.identity.uid)) {
      this.o.logger.info({ service: key, uid: previous.identity.uid }, 'deleting load balancer of a Service that no longer exists');
      await this.o.provider.delete(previous.identity);
      this.applied.delete(key);
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
    let svc = await this.ensureNodePorts(original);
    if (!hasFinalizer(svc)) svc = await this.addFinalizer(svc);

    const desired = desiredLoadBalancer(svc, this.o.nodes.list(), this.o.clusterName);
    const spec = specFingerprint(desired);
    const targets = targetsFingerprint(desired);
    const previous = this.applied.get(key);
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
        this.applied.set(key, { identity: desired.identity, spec: '', targets: '', ingress: [], stale: true });
        void this.o.events.record(svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: ${errorMessage(err)}`);
        throw err;
      }
      this.applied.set(key, { identity: desired.identity, spec, targets, ingress, stale: false });
      if (announce) void this.o.events.record(svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer');
    } else if (previous.targets !== targets) {
      if (desired.targets.length === 0) this.noNodes(svc);
      const started = performance.now();
      try {
        await this.o.provider.updateTargets(desired);
      } catch (err) {
        // As upstream: a failed host update is retried as a full ensure.
        previous.stale = true;
        this.o.metrics.nodeSyncErrors.inc();
        const names = desired.targets.map((t) => t.nodeName);
        const shown = names.slice(0, MAX_HOSTS_IN_EVENT).join(', ') + (names.length > MAX_HOSTS_IN_EVENT ? ', ...' : '');
        void this.o.events.record(svc, 'Warning', 'UpdateLoadBalancerFailed', `Error updating load balancer with new hosts [${shown}]: ${errorMessage(err)}`);
        throw err;
      }
      this.o.metrics.hostUpdateLatency.observe((performance.now() - started) / 1000);
      previous.targets = targets;
      ingress = previous.ingress;
      void this.o.events.record(svc, 'Normal', 'UpdatedLoadBalancer', 'Updated load balancer with new hosts');
    } else {
      ingress = previous.ingress;
    }

    if (!ingressEqual(svc.status?.loadBalancer?.ingress, ingress)) await this.patchStatus(svc, ingress);
  }

  private noNodes(svc: V1Service): void {
    void this.o.events.record(svc, 'Warning', 'UnAvailableLoadBalancer', 'There are no available nodes for LoadBalancer');
  }

  private async cleanup(key: string, svc: V1Service): Promise<void> {
    this.o.metrics.loadBalancerSyncs.inc();
    void this.o.events.record(svc, 'Normal', 'DeletingLoadBalancer', 'Deleting load balancer');
    try {
      await this.o.provider.delete(identityOf(svc, this.o.clusterName));
    } catch (err) {
      void this.o.events.record(svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: ${errorMessage(err)}`);
      throw err;
    }
    void this.o.events.record(svc, 'Normal', 'DeletedLoadBalancer', 'Deleted load balancer');
    // A Service that stays (type changed) must not keep advertising an address that no longer works.
    let current: V1Service | undefined = svc;
    if (!svc.metadata?.deletionTimestamp && svc.status?.loadBalancer?.ingress?.length) current = await this.patchStatus(svc, []);
    if (current) await this.removeFinalizer(current);
    this.applied.delete(key);
  }

  /** Gives every port a NodePort (allocateLoadBalancerNodePorts: false leaves them at 0). */
  private async ensureNodePorts(svc: V1Service): Promise<V1Service> {
    const needed = nodePortsNeeded(svc);
    if (needed === 0) return svc;
    const used = usedNodePorts(this.o.services.list());
    const seed = Number.parseInt((svc.metadata?.uid ?? '0').replaceAll('-', '').slice(0, 8), 16) || 0;
    for (let attempt = 0; attempt < NODEPORT_ATTEMPTS; attempt++) {
      const ports = pickFreePorts(this.o.nodePortRange, used, needed, seed + attempt * 7919);
      if (ports.length < needed) {
        throw invalidService(`no free NodePort left in ${this.o.nodePortRange.from}-${this.o.nodePortRange.to}`);
      }
      try {
        const patched = await this.o.client.request<V1Service>(
          'PATCH',
          servicePath(svc),
          { metadata: { resourceVersion: svc.metadata?.resourceVersion }, spec: { ports: assignNodePorts(svc, ports) } },
          'merge',
        );
        this.o.logger.info({ service: serviceKey(svc), nodePorts: ports }, 'allocated NodePorts');
        return patched;
      } catch (err) {
        // Another Service took the port between our cache read and the patch: try others.
        if (err instanceof KubeApiError && err.status === 422 && /already allocated/.test(err.message)) {
          for (const p of ports) used.add(p);
          continue;
        }
        throw err;
      }
    }
    throw new KubeApiError(409, 'Conflict', `could not allocate NodePorts for ${serviceKey(svc)} after ${NODEPORT_ATTEMPTS} attempts`);
  }

  /** The finalizer, with the record of which class provisioned the load balancer. */
  private async addFinalizer(svc: V1Service): Promise<V1Service> {
    const finalizers = [...(svc.metadata?.finalizers ?? []), LB_FINALIZER];
    return this.o.client.request<V1Service>(
      'PATCH',
      servicePath(svc),
      {
        metadata: {
          resourceVersion: svc.metadata?.resourceVersion,
          finalizers,
          annotations: { [MANAGED_CLASS_ANNOTATION]: this.o.loadBalancerClass ?? '' },
        },
      },
      'merge',
    );
  }

  /**
   * The load balancer is gone: a conflict here is retried on a fresh read, not by a whole new sync,
   * which would delete in the cloud again.
   */
  private async removeFinalizer(original: V1Service): Promise<void> {
    let svc = original;
    for (let attempt = 0; ; attempt++) {
      const finalizers = (svc.metadata?.finalizers ?? []).filter((f) => f !== LB_FINALIZER);
      try {
        await this.o.client.request(
          'PATCH',
          servicePath(svc),
          {
            metadata: {
              resourceVersion: svc.metadata?.resourceVersion,
              finalizers: finalizers.length ? finalizers : null,
              annotations: { [MANAGED_CLASS_ANNOTATION]: null },
            },
          },
          'merge',
        );
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= 3) throw err;
      }
      try {
        svc = await this.o.client.request<V1Service>('GET', servicePath(svc));
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (!hasFinalizer(svc)) return;
    }
  }

  /** Status is a patch on the subresource, without a resourceVersion precondition, as upstream. */
  /** Returns the updated Service, or undefined when it is gone (deleted mid-sync is not an error). */
  private async patchStatus(svc: V1Service, ingress: IngressStatus[]): Promise<V1Service | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.client.request<V1Service>('PATCH', `${servicePath(svc)}/status`, statusPatch(ingress), 'merge');
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (isConflict(err) && attempt < 3) continue;
        throw err;
      }
    }
  }
}

function servicePath(svc: V1Service): string {
  return `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}`;
}

