// src/net/cidr.ts: the one IP and CIDR parser of the core and the providers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIP, cidrContains, cleanCidrs, parseCidr } from '../../src/net/cidr.ts';

test('addresses have one canonical text', () => {
  assert.equal(canonicalIP('FD00:0:0::0001'), 'fd00::1');
  assert.equal(canonicalIP('1:0:3:4:5:6:7:8'), '1:0:3:4:5:6:7:8', 'a single zero group is not compressed');
  assert.equal(canonicalIP('010.0.0.1'), undefined, 'leading zeros are refused, as Go does');
  assert.equal(canonicalIP('fe80::1%eth0'), undefined);
});

test('CIDRs: a prefix in range for the family, no bare address', () => {
  assert.equal(parseCidr('2001:DB8::/32')?.text, '2001:db8::/32');
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(parseCidr('10.0.0.0'), undefined);
  assert.equal(parseCidr('10.0.0.0/08'), undefined);
  assert.equal(cidrContains(parseCidr('10.0.0.0/8')!, '::ffff:10.1.2.3'), true);
});

test('cleanCidrs trims, drops empties and duplicates, and reports what is not a CIDR', () => {
  assert.deepEqual(cleanCidrs([' 10.0.0.0/8', '', '10.0.0.0/8 ', 'fd00:0::/64', 'x/1', '10.0.0.1']), {
    ranges: ['10.0.0.0/8', 'fd00::/64'],
    invalid: ['x/1', '10.0.0.1'],
  });
});
