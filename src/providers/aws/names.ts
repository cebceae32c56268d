// Deterministic names, so that every resource can be found again after a restart. Target groups carry a
// cluster prefix (cheap to filter in an account-wide listing) and the Service UID; their tags say the rest.

import { createHash } from 'node:crypto';
import { invalidService } from '../provider.ts';
import type { TargetGroupProtocol, TargetType } from './model.ts';

function hex(input: string): string {
  return createHash('sha256').update(input).digest('hex');
}

function compactUid(uid: string): string {
  return uid.replace(/-/g, '').toLowerCase();
}

/** Every target group this cluster creates starts with this (10 characters). */
export function targetGroupNamePrefix(clusterName: string): string {
  return `k8s-${hex(clusterName).slice(0, 5)}-`;
}

/**
 * 32 characters: prefix, 10 of the UID, 11 of a hash of what a target group cannot change (protocol and
 * port, target type). A new NodePort, protocol or target type therefore gets a new group, and the old one is
 * deleted after the switch. IP groups hash as they did before instance targets existed, so their names stay.
 */
export function targetGroupName(
  clusterName: string,
  uid: string,
  protocol: TargetGroupProtocol,
  nodePort: number,
  targetType: TargetType = 'ip',
): string {
  const key = `${uid}/${protocol}/${nodePort}${targetType === 'instance' ? '/instance' : ''}`;
  return `${targetGroupNamePrefix(clusterName)}${compactUid(uid).slice(0, 10)}-${hex(key).slice(0, 11)}`;
}

export const SECURITY_GROUP_PREFIX = 'k8s-slb-';

export function securityGroupName(lbName: string): string {
  return `${SECURITY_GROUP_PREFIX}${lbName}`;
}

/** AWS: 1-32 alphanumerics or hyphens, no leading or trailing hyphen, not "internal-...". */
export function assertLoadBalancerName(name: string): void {
  if (!/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$/.test(name) || name.startsWith('internal-')) {
    throw invalidService(`load balancer name "${name}" is not valid on AWS (1-32 letters, digits or hyphens)`);
  }
}
