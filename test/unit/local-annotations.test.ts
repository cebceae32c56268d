// The local provider's annotations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddressOptions } from '../../src/providers/local/annotations.ts';

const IPS = 'service-lb-controller.io/load-balancer-ips';
const POOL = 'service-lb-controller.io/address-pool';
const SHARE = 'service-lb-controller.io/allow-shared-ip';

test('no annotations and no spec address: nothing requested', () => {
  assert.deepEqual(parseAddressOptions({}, []), { ok: true, value: { pool: undefined, sharingKey: undefined, requestedIPs: [] } });
});

test('spec.loadBalancerIP and the annotation give one canonical address per family', () => {
  const spec = parseAddressOptions({}, ['10.0.0.7']);
  assert.deepEqual(spec.ok && spec.value.requestedIPs, [{ family: 'IPv4', ip: '10.0.0.7' }]);
  const dual = parseAddressOptions({ [IPS]: '10.0.0.7, FD00::0:7' }, []);
  assert.deepEqual(dual.ok && dual.value.requestedIPs, [
    { family: 'IPv4', ip: '10.0.0.7' },
    { family: 'IPv6', ip: 'fd00::7' },
  ]);
  const agree = parseAddressOptions({ [IPS]: '10.0.0.7,fd00::7' }, ['10.0.0.7']);
  assert.equal(agree.ok, true);
});

test('bad annotations are refused with a message that names them', () => {
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{ [IPS]: 'ten' }, [], /load-balancer-ips: "ten" is not an IP address/],
    [{ [IPS]: '10.0.0.1,10.0.0.2' }, [], /more than one IPv4 address/],
    [{ [IPS]: '10.0.0.1,,' }, [], /expected one address, or two/],
    [{ [IPS]: '10.0.0.1' }, ['10.0.0.2'], /spec.loadBalancerIP 10.0.0.2 disagrees/],
    [{ [POOL]: ' ' }, [], /address-pool is empty/],
    [{ [SHARE]: '' }, [], /allow-shared-ip is empty/],
    [{}, ['not-an-ip'], /spec.loadBalancerIP: "not-an-ip"/],
  ];
  for (const [annotations, spec, message] of cases) {
    const result = parseAddressOptions(annotations, spec);
    assert.equal(result.ok, false, JSON.stringify(annotations));
    assert.match(result.ok ? '' : result.message, message);
  }
});

test('pool and sharing key are read trimmed', () => {
  const result = parseAddressOptions({ [POOL]: ' edge ', [SHARE]: 'dns' }, []);
  assert.deepEqual(result.ok && [result.value.pool, result.value.sharingKey], ['edge', 'dns']);
});
