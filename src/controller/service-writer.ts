// Every write the reconciler makes to a Service (NodePorts, finalizer, status), behind one small interface.
import type { V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from '../kube/client.ts';
import type { ObjectCache } from '../kube/informer.ts';
import { invalidService, type IngressStatus } from '../providers/provider.ts';
import { assignNodePorts, nodePortsNeeded, pickFreePorts, usedNodePorts, type PortRange } from './nodeports.ts';
import type { OwnWrites } from './own-writes.ts';
import { hasFinalizer, LB_FINALIZER, MANAGED_CLASS_ANNOTATION, serviceKeyOf } from './predicates.ts';
import { statusPatch } from './status.ts';

/** Each method returns the Service as written, so the next write carries its resourceVersion. */
export interface ServiceWriter {
  /** Gives every port left at 0 a free NodePort (allocateLoadBalancerNodePorts: false). */
  assignNodePorts(svc: V1Service): Promise<V1Service>;
  /** Adds our finalizer, with the record of which class provisioned the load balancer. */
  addFinalizer(svc: V1Service): Promise<V1Service>;
  /** Removes our finalizer and the class record; a Service already gone is not an error. */
  removeFinalizer(svc: V1Service): Promise<void>;
  /** Writes status.loadBalancer.ingress (empty clears it); undefined when the Service is gone. */
  patchStatus(svc: V1Service, ingress: readonly IngressStatus[]): Promise<V1Service | undefined>;
}

export interface KubeServiceWriterOptions {
  client: KubeClient;
  /** Every Service, for the NodePorts already in use. */
  services: ObjectCache<V1Service>;
  nodePortRange: PortRange;
  loadBalancerClass: string | null;
  /** Where the writes that the sync carries on from are noted, so their watch echoes queue nothing. */
  ownWrites?: OwnWrites;
  logger: Logger;
}

const NODEPORT_ATTEMPTS = 5;
const CONFLICT_RETRIES = 3;

export class KubeServiceWriter implements ServiceWriter {
  private readonly o: KubeServiceWriterOptions;

  constructor(options: KubeServiceWriterOptions) {
    this.o = options;
  }

  async assignNodePorts(svc: V1Service): Promise<V1Service> {
    const needed = nodePortsNeeded(svc);
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
        this.o.logger.info({ service: serviceKeyOf(svc), nodePorts: ports }, 'allocated NodePorts');
        return this.written(svc, patched);
      } catch (err) {
        // Another Service took the port between our cache read and the patch: try others.
        if (err instanceof KubeApiError && err.status === 422 && /already allocated/.test(err.message)) {
          for (const p of ports) used.add(p);
          continue;
        }
        throw err;
      }
    }
    throw new KubeApiError(409, 'Conflict', `could not allocate NodePorts for ${serviceKeyOf(svc)} after ${NODEPORT_ATTEMPTS} attempts`);
  }

  async addFinalizer(svc: V1Service): Promise<V1Service> {
    const finalizers = [...(svc.metadata?.finalizers ?? []), LB_FINALIZER];
    const patched = await this.o.client.request<V1Service>(
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
    return this.written(svc, patched);
  }

  /**
   * The load balancer is gone: a conflict here is retried on a fresh read, not by a whole new sync,
   * which would delete in the cloud again.
   */
  async removeFinalizer(original: V1Service): Promise<void> {
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
        if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
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

  /** A patch on the subresource without a resourceVersion precondition, as upstream. */
  async patchStatus(svc: V1Service, ingress: readonly IngressStatus[]): Promise<V1Service | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const patched = await this.o.client.request<V1Service>('PATCH', `${servicePath(svc)}/status`, statusPatch(ingress), 'merge');
        return this.written(svc, patched);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (isConflict(err) && attempt < CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }

  /** Notes a write whose result the sync carries on from. */
  private written(base: V1Service, patched: V1Service): V1Service {
    this.o.ownWrites?.record(serviceKeyOf(base), base.metadata?.resourceVersion, patched.metadata?.resourceVersion);
    return patched;
  }
}

function servicePath(svc: V1Service): string {
  return `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}`;
}
