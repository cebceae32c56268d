// Which Leases in kube-system are taken for another service controller's (a cloud-controller-manager).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import { suspectLeases } from '../../src/kube/other-service-controllers.ts';

const lease = (name: string, holderIdentity = ''): V1Lease => ({ metadata: { name, namespace: 'kube-system' }, spec: { holderIdentity } });
const own = { namespace: 'kube-system', name: 'service-lb-controller' };

test('the upstream default name, vendor-prefixed names and kube-vip are suspects', () => {
  assert.deepEqual(
    suspectLeases(
      [
        lease('cloud-controller-manager', 'ip-10-0-0-1_ab'),
        lease('hcloud-cloud-controller-manager'),
        lease('kube-vip-cloud-controller', 'node-1'),
      ],
      own,
    ).map((s) => s.name),
    ['cloud-controller-manager', 'hcloud-cloud-controller-manager', 'kube-vip-cloud-controller'],
  );
});

test('a renamed Lease is recognised by its holder; the control plane and our own Lease are not', () => {
  assert.deepEqual(
    suspectLeases(
      [
        lease('ccm-lock', 'aws-cloud-controller-manager-7d9f_1c2e'),
        lease('kube-controller-manager', 'master-1_0b7a'),
        lease('kube-scheduler', 'master-1_9e1f'),
        lease('service-lb-controller', 'cloud-controller-node_1'),
      ],
      own,
    ),
    [{ name: 'ccm-lock', holder: 'aws-cloud-controller-manager-7d9f_1c2e' }],
  );
});
