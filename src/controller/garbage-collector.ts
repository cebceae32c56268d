// Deletes owned load balancers that no live Service claims: what crashes, restarts and leader changes leave.
import type { V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ObjectCache } from '../kube/informer.ts';
import { defaultLoadBalancerName, serviceKey, type LoadBalancerIdentity, type LoadBalancerProvider } from '../providers/provider.ts';
import { isOurs } from './predicates.ts';
import { errorMessage } from '../error-message.ts';

/**
 * Pure: an owned load balancer is an orphan when no live Service with its name and UID claims it. A cloud
 * that records no name (an identity without one) is matched by UID, or by the default name derived from
 * the UID, which is all that some clouds keep (a frontend named "a" + 31 of the UID's digits).
 */
export function isOrphan(identity: LoadBalancerIdentity, services: ObjectCache<V1Service>, ownedClass: string | null): boolean {
  if (!identity.name) {
    const claimant = services.list().find((s) => claims(s, identity));
    return !claimant || !isOurs(claimant, ownedClass);
  }
  const svc = services.get(identity.name, identity.namespace);
  if (!svc || svc.metadata?.uid !== identity.uid) return true;
  return !isOurs(svc, ownedClass);
}

function claims(svc: V1Service, identity: LoadBalancerIdentity): boolean {
  const uid = svc.metadata?.uid ?? '';
  return (identity.uid !== '' && uid === identity.uid) || defaultLoadBalancerName(uid) === identity.lbName;
}

export interface GarbageCollectorOptions {
  clusterName: string;
  loadBalancerClass: string | null;
  dryRun: boolean;
  provider: LoadBalancerProvider;
  services: ObjectCache<V1Service>;
  logger: Logger;
}

/**
 * Deletes load balancers tagged as owned by this cluster whose Service is gone or has another UID:
 * what crashes, restarts and leader changes leave behind. Returns what it found.
 */
export async function collectGarbage(o: GarbageCollectorOptions): Promise<LoadBalancerIdentity[]> {
  const owned = await o.provider.listOwned();
  const orphans = owned
    .map((lb) => lb.identity)
    .filter((id) => id.clusterName === o.clusterName && isOrphan(id, o.services, o.loadBalancerClass));
  for (const identity of orphans) {
    // Deletes take seconds on a cloud: a Service may have claimed this UID again meanwhile.
    if (!isOrphan(identity, o.services, o.loadBalancerClass)) continue;
    const fields = { service: serviceKey(identity), uid: identity.uid, lbName: identity.lbName };
    if (o.dryRun) {
      o.logger.info(fields, 'orphaned load balancer found (dry run: not deleting)');
      continue;
    }
    o.logger.info(fields, 'deleting orphaned load balancer');
    try {
      await o.provider.delete(identity);
    } catch (err) {
      o.logger.warn({ ...fields, err: errorMessage(err) }, 'could not delete orphaned load balancer; will retry');
    }
  }
  return orphans;
}
