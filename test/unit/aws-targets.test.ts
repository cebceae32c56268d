// Node IP selection, VPC classification of targets, target diffs and chunks, subnet discovery.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pickSubnetPerZone } from '../../src/providers/aws/network.ts';
import { chunk, diffTargets, selectTargetIps, targetRefs } from '../../src/providers/aws/targets.ts';
import { node } from '../fakes/aws-service.ts';

describe('aws targets', () => {
  test('one IP per node by preference, deduplicated and sorted', () => {
    const nodes = [node('b', '10.0.0.2', '203.0.113.2'), node('a', '10.0.0.1'), node('dup', '10.0.0.1')];
    assert.deepEqual(selectTargetIps(nodes, ['InternalIP']), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(selectTargetIps(nodes, ['ExternalIP', 'InternalIP']), ['10.0.0.1', '203.0.113.2']);
    assert.deepEqual(selectTargetIps([{ nodeName: 'x', addresses: [{ type: 'Hostname', address: 'x' }] }], ['InternalIP']), []);
  });

  test('only IPv4 addresses become targets (IPv6 and malformed ones are skipped)', () => {
    const nodes = [node('v6', 'fd00::1'), node('zero', '010.0.0.1'), node('bad', '10.0.0.256'), node('ok', '10.0.0.3')];
    assert.deepEqual(selectTargetIps(nodes, ['InternalIP']), ['10.0.0.3']);
  });

  test('targets outside the VPC get zone "all"', () => {
    assert.deepEqual(targetRefs(['10.0.0.1', '172.16.0.1'], 30080, ['10.0.0.0/16']), [
      { id: '10.0.0.1', port: 30080 },
      { id: '172.16.0.1', port: 30080, availabilityZone: 'all' },
    ]);
  });

  test('VPC classification: every CIDR block of the VPC counts, prefix edges are exact', () => {
    const vpc = ['10.0.0.0/16', '100.64.0.0/10', '192.168.1.7/32'];
    const zone = (ip: string) => targetRefs([ip], 1, vpc)[0]!.availabilityZone ?? 'vpc';
    assert.equal(zone('10.0.255.1'), 'vpc');
    assert.equal(zone('10.1.0.1'), 'all');
    assert.equal(zone('100.127.255.255'), 'vpc');
    assert.equal(zone('100.128.0.0'), 'all');
    assert.equal(zone('192.168.1.7'), 'vpc');
    assert.equal(zone('192.168.1.8'), 'all');
    assert.equal(targetRefs(['10.0.0.1'], 1, [])[0]!.availabilityZone, 'all');
  });

  test('diff and chunks', () => {
    const t = (id: string) => ({ id, port: 1 });
    assert.deepEqual(diffTargets([t('a'), t('b')], [t('b'), t('c')]), { deregister: [t('a')], register: [t('c')] });
    assert.deepEqual(diffTargets([{ id: 'a', port: 2 }], [t('a')]), { deregister: [{ id: 'a', port: 2 }], register: [t('a')] });
    assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.equal(chunk(Array.from({ length: 250 }, (_, i) => i)).length, 3);
  });

  test('subnet discovery picks one subnet per zone, cluster-tagged first, stable by ID', () => {
    const subnet = (id: string, zone: string, tags: Record<string, string> = {}) => ({
      SubnetId: id,
      AvailabilityZone: zone,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    });
    const picked = pickSubnetPerZone(
      [
        subnet('subnet-3', 'us-east-1b'),
        subnet('subnet-2', 'us-east-1a'),
        subnet('subnet-9', 'us-east-1a', { 'kubernetes.io/cluster/test': 'shared' }),
        subnet('subnet-1', 'us-east-1b'),
      ],
      'test',
    );
    assert.deepEqual(picked, ['subnet-9', 'subnet-1']);
  });
});
