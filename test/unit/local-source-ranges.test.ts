// The local data path's source filter, on the clean ranges the core hands over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sourceFilter } from '../../src/providers/local/source-ranges.ts';

test('no ranges: everyone may connect', () => {
  assert.equal(sourceFilter([]).allows('203.0.113.9'), true);
});

test('ranges allow their own clients and refuse all others', () => {
  const filter = sourceFilter(['10.1.0.0/16', '192.0.2.7/32', 'fd00:1::/64']);
  assert.equal(filter.allows('10.1.200.3'), true);
  assert.equal(filter.allows('10.2.0.1'), false);
  assert.equal(filter.allows('192.0.2.7'), true);
  assert.equal(filter.allows('192.0.2.8'), false);
  assert.equal(filter.allows('fd00:1::99'), true);
  assert.equal(filter.allows('fd00:2::1'), false);
  assert.equal(filter.allows('::ffff:10.1.0.5'), true, 'IPv4-mapped clients match IPv4 ranges');
  assert.equal(filter.allows('::ffff:10.9.0.5'), false);
});

test('a range that is not a CIDR is refused rather than ignored', () => {
  assert.throws(() => sourceFilter(['10.0.0.0/8', 'x/1']), /"x\/1" is not a CIDR/);
});
