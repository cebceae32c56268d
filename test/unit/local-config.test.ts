// The local provider configuration: defaults and the errors a bad pool gets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localProviderConfigSchema } from '../../src/providers/local/config.ts';

test('defaults: one loopback pool that needs no setup', () => {
  const config = localProviderConfigSchema.parse({});
  assert.deepEqual(config.addressPools, [{ name: 'default', addresses: ['127.0.100.0/24'], autoAssign: true }]);
  assert.equal(config.workers, 0);
  assert.deepEqual(config.nodeAddressPreference, ['InternalIP']);
});

test('bad pool entries, duplicate names and overlaps name the field', () => {
  const result = localProviderConfigSchema.safeParse({
    addressPools: [
      { name: 'a', addresses: ['10.0.0.0/24', '10.0.0.300'] },
      { name: 'a', addresses: ['10.0.0.128-10.0.0.130'] },
    ],
  });
  assert.equal(result.success, false);
  const issues = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.ok(
    issues.some((i) => i.startsWith('addressPools.0.addresses.1: "10.0.0.300" is neither')),
    issues.join('\n'),
  );
  assert.ok(
    issues.some((i) => i.startsWith('addressPools.1.name: duplicate pool name')),
    issues.join('\n'),
  );
  assert.ok(
    issues.some((i) => i.includes('"10.0.0.0/24" (a) overlaps "10.0.0.128-10.0.0.130" (a)')),
    issues.join('\n'),
  );
});
