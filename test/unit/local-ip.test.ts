// The local provider's address arithmetic: addresses as numbers, pool entries as ranges.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIP, isLoopback, parseIP, parsePoolEntry } from '../../src/providers/local/ip.ts';

test('addresses round-trip through numbers to their canonical text', () => {
  for (const [text, canonical] of [
    ['10.0.0.1', '10.0.0.1'],
    ['FD00:0:0::0001', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ]) {
    assert.equal(formatIP(parseIP(text!)!), canonical, text);
  }
  assert.equal(parseIP('10.0.0.256'), undefined);
  assert.equal(parseIP('fe80::1%eth0'), undefined);
  assert.equal(parseIP('nope'), undefined);
});

test('addresses are numbers: the next address carries over octets', () => {
  const ip = parseIP('10.0.0.255')!;
  assert.equal(formatIP({ family: 'IPv4', value: ip.value + 1n }), '10.0.1.0');
  const v6 = parseIP('fd00::ffff')!;
  assert.equal(formatIP({ family: 'IPv6', value: v6.value + 1n }), 'fd00::1:0');
});

test('CIDR pool entries cover their block, whatever host bits are set', () => {
  const cidr = parsePoolEntry('192.168.1.77/32')!;
  assert.equal(formatIP({ family: 'IPv4', value: cidr.first }), '192.168.1.77');
  const block = parsePoolEntry('fd00::1:77/120')!;
  assert.equal(formatIP({ family: 'IPv6', value: block.first }), 'fd00::1:0');
  assert.equal(block.last - block.first, 255n);
  assert.equal(parsePoolEntry('10.0.0.0/33'), undefined);
  assert.equal(parsePoolEntry('fd00::/129'), undefined);
});

test('pool entries: IPv4 CIDRs leave out network and broadcast, ranges are literal', () => {
  const v4 = parsePoolEntry('127.0.100.0/24')!;
  assert.equal(formatIP({ family: 'IPv4', value: v4.first }), '127.0.100.1');
  assert.equal(formatIP({ family: 'IPv4', value: v4.last }), '127.0.100.254');
  const single = parsePoolEntry('10.0.0.5/32')!;
  assert.equal(single.first, single.last);
  const range = parsePoolEntry('10.0.0.10 - 10.0.0.20')!;
  assert.equal(range.last - range.first, 10n);
  const v6 = parsePoolEntry('fd00::/126')!;
  assert.equal(v6.last - v6.first, 3n);
  assert.equal(parsePoolEntry('10.0.0.20-10.0.0.10'), undefined, 'backwards');
  assert.equal(parsePoolEntry('10.0.0.1-fd00::1'), undefined, 'mixed families');
});

test('loopback: all of 127/8 and ::1', () => {
  assert.equal(isLoopback(parseIP('127.0.100.3')!), true);
  assert.equal(isLoopback(parseIP('::1')!), true);
  assert.equal(isLoopback(parseIP('10.0.0.1')!), false);
  assert.equal(isLoopback(parseIP('fd00::1')!), false);
});
