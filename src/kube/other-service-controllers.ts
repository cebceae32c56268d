// Spots a cloud-controller-manager by its Lease in kube-system: its service controller and this one would both act on every LoadBalancer Service.
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { errorMessage } from '../error-message.ts';
import type { KubeClient } from './client.ts';

export const CCM_LEASE_NAMESPACE = 'kube-system';

/**
 * "cloud-controller" in the Lease name or in its holder's identity: k8s.io/cloud-provider's default Lease is
 * `cloud-controller-manager` (cloud-provider-aws, -azure, -gcp, -openstack, vSphere, OCI keep it), vendors'
 * forks add a prefix (`hcloud-cloud-controller-manager`), kube-vip's is `kube-vip-cloud-controller`, and a
 * renamed Lease is still held by a pod whose name says what it is.
 */
const CCM_PATTERN = /cloud-controller/i;

export interface SuspectLease {
  name: string;
  holder: string;
}

/** The Leases that look like another service controller's, our own excepted. */
export function suspectLeases(leases: V1Lease[], ownLease: { namespace: string; name: string }): SuspectLease[] {
  return leases.flatMap((lease) => {
    const name = lease.metadata?.name ?? '';
    const holder = lease.spec?.holderIdentity ?? '';
    if (lease.metadata?.namespace === ownLease.namespace && name === ownLease.name) return [];
    return CCM_PATTERN.test(name) || CCM_PATTERN.test(holder) ? [{ name, holder }] : [];
  });
}

export interface OtherServiceControllersOptions {
  client: KubeClient;
  logger: Logger;
  /** Set: Services are split by class, so a cloud-controller-manager's service controller is no conflict. */
  loadBalancerClass: string | null;
  ownLease: { namespace: string; name: string };
}

/** One list of the Leases in kube-system, at start; never fails the start (a 403 only means we cannot tell). */
export async function warnAboutOtherServiceControllers(o: OtherServiceControllersOptions): Promise<void> {
  let leases: V1Lease[];
  try {
    const list = await o.client.request<{ items?: V1Lease[] }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${CCM_LEASE_NAMESPACE}/leases`,
    );
    leases = list.items ?? [];
  } catch (err) {
    o.logger.info({ err: errorMessage(err) }, `cannot list the Leases in ${CCM_LEASE_NAMESPACE} to look for a cloud-controller-manager`);
    return;
  }
  const suspects = suspectLeases(leases, o.ownLease);
  if (suspects.length === 0) return;
  const leaseNames = suspects.map((s) => `${CCM_LEASE_NAMESPACE}/${s.name}`);
  const holders = suspects.map((s) => s.holder).filter(Boolean);
  if (o.loadBalancerClass !== null) {
    o.logger.info(
      { leases: leaseNames, holders, loadBalancerClass: o.loadBalancerClass },
      'a cloud-controller-manager seems to run; Services are split by loadBalancerClass, so only those of this class are handled here',
    );
    return;
  }
  o.logger.warn(
    { leases: leaseNames, holders },
    'a cloud-controller-manager seems to run: unless its service controller is off (--controllers=*,-service), it and this controller both manage every LoadBalancer Service without a loadBalancerClass; turn it off, or set loadBalancerClass here',
  );
}
