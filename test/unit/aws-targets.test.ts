import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ipv4InCidr, isIPv4Cidr, isIPv6Cidr } from '../../src/providers/aws/cidr.ts';
import { pickSubnetPerZone } from '../../src/providers/aws/network.ts';
import { chunk, diffTargets, selectTargetIps, targetRefs } from '../../src/providers/aws/targets.ts';
import { node } from '../fakes/aws-service.ts';

describe('aws targets', () => {
  test('CIDR checks', () => {
    assert.ok(ipv4InCidr('10.0.255.1', '10.0.0.0/16'));
    assert.ok(!ipv4InCidr('10.1.0.1', '10.0.0.0/16'));
    assert.ok(ipv4InCidr('1.2.3.4', '0.0.0.0/0'));
    assert.ok(ipv4InCidr('192.168.1.7', '192.168.1.7/32'));
    assert.ok(!ipv4InCidr('192.168.1.8', '192.168.1.7/32'));
    assert.ok(!ipv4InCidr('fd00::1', '10.0.0.0/8'));
    assert.ok(isIPv4Cidr('10.0.0.0/8') && !isIPv4Cidr('10.0.0.0/33') && !isIPv4Cidr('10.0.0.0') && !isIPv4Cidr('300.0.0.0/8'));
    assert.ok(isIPv6Cidr('2001:db8::/32') && !isIPv6Cidr('2001:db8::') && !isIPv6Cidr('10.0.0.0/8'));
  });

  test('one IP per node by preference, deduplicated and sorted', () => {
    const nodes = [node('b', '10.0.0.2', '203.0.113.2'), node('a', '10.0.0.1'), node('dup', '10.0.0.1')];
    assert.deepEqual(selectTargetIps(nodes, ['InternalIP']), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(selectTargetIps(nodes, ['ExternalIP', 'InternalIP']), ['10.0.0.1', '203.0.113.2']);
    assert.deepEqual(selectTargetIps([{ nodeName: 'x', addresses: [{ type: 'Hostname', address: 'x' }] }], ['InternalIP']), []);
  });

  test('targets outside the VPC get zone "all"', () => {
    assert.deepEqual(targetRefs(['10.0.0.1', '172.16.0.1'], 30080, ['10.0.0.0/16']), [
      { id: '10.0.0.1', port: 30080 },
      { id: '172.16.0.1', port: 30080, availabilityZone: 'all' },
    ]);
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
      [subnet('subnet-3', 'us-east-1b'), subnet('subnet-2', 'us-east-1a'), subnet('subnet-9', 'us-east-1a', { 'kubernetes.io/cluster/test': 'shared' }), subnet('subnet-1', 'us-east-1b')],
      'test',
    );
    assert.deepEqual(picked, ['subnet-9', 'subnet-1']);
  });
});
