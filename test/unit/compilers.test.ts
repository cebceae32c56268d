// Which `run` restarts without V8's optimizing compilers: every provider but the local one serving its data path in-process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartFlags, wantsOptimizingCompilers } from '../../src/compilers.ts';
import { parseConfig } from '../../src/config/load.ts';

const local = { name: 'local' as const, local: { addressPools: [{ name: 'a', addresses: ['192.0.2.0/30'] }] } };

test('the local provider with its data path in this process keeps the optimizing compilers', () => {
  const config = parseConfig({ provider: local });
  assert.equal(wantsOptimizingCompilers(config), true);
  assert.equal(restartFlags(config, ['--optimize-for-size']), undefined);
});

test('the other providers, and the local one with an external data path, restart without them, keeping the other flags', () => {
  const configs = [
    parseConfig({ provider: { ...local, local: { ...local.local, dataPath: 'external' } } }),
    parseConfig({ provider: { name: 'module', module: './provider.js' } }),
    parseConfig({ provider: { name: 'aws', aws: { region: 'eu-west-1', vpcId: 'vpc-0123456789abcdef0' } } }),
  ];
  for (const config of configs) {
    assert.equal(wantsOptimizingCompilers(config), false, config.provider.name);
    assert.deepEqual(restartFlags(config, ['--optimize-for-size']), ['--optimize-for-size', '--no-turbofan', '--no-maglev']);
  }
});

test('flags that already name a compiler are left alone: the restart happens once, and an operator can keep them on', () => {
  const config = parseConfig({ provider: { name: 'module', module: './provider.js' } });
  assert.equal(restartFlags(config, ['--optimize-for-size', '--no-turbofan', '--no-maglev']), undefined);
  assert.equal(restartFlags(config, ['--maglev']), undefined);
  assert.equal(restartFlags(config, ['--turbofan']), undefined);
  assert.deepEqual(restartFlags(config, ['--max-semi-space-size=2']), ['--max-semi-space-size=2', '--no-turbofan', '--no-maglev']);
});
