// The local data path's limits: defaults derived from the descriptor limit, what is configured wins, and each worker's share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localProviderConfigSchema } from '../../src/providers/local/config.ts';
import { dataPathLimits, fdLimit, workerShare } from '../../src/providers/local/limits.ts';

const defaults = localProviderConfigSchema.parse({});

test('defaults leave a tenth of the descriptors (at least 1024) to the rest, two per connection, a quarter per listener', () => {
  assert.deepEqual(dataPathLimits(defaults, 20_000), {
    maxConnections: 9_000,
    maxConnectionsPerListener: 2_250,
    udpMaxFlowsPerListener: 2_250,
    maxBufferedBytes: 32 * 1024 * 1024,
  });
  assert.equal(dataPathLimits(defaults, 4_096).maxConnections, 1_536);
  // A small limit keeps half for the rest rather than nothing for connections.
  assert.equal(dataPathLimits(defaults, 1_024).maxConnections, 256);
  assert.equal(dataPathLimits(defaults, 1_048_576).maxConnections, 471_859);
});

test('configured limits win; the per-listener defaults follow a configured total', () => {
  const config = localProviderConfigSchema.parse({ maxConnections: 1_000, maxBufferedBytes: 0 });
  assert.deepEqual(dataPathLimits(config, 20_000), {
    maxConnections: 1_000,
    maxConnectionsPerListener: 250,
    udpMaxFlowsPerListener: 250,
    maxBufferedBytes: 0,
  });
  const all = localProviderConfigSchema.parse({ maxConnectionsPerListener: 10, udpMaxFlowsPerListener: 3 });
  assert.equal(dataPathLimits(all, 20_000).maxConnectionsPerListener, 10);
  assert.equal(dataPathLimits(all, 20_000).udpMaxFlowsPerListener, 3);
});

test('each worker enforces its share, rounded up', () => {
  assert.deepEqual(workerShare(dataPathLimits(defaults, 20_000), 4), {
    maxConnections: 2_250,
    maxConnectionsPerListener: 563,
    udpMaxFlowsPerListener: 563,
    maxBufferedBytes: 8 * 1024 * 1024,
  });
});

test('the descriptor limit is read from the process', () => {
  const limit = fdLimit();
  assert.ok(Number.isInteger(limit) && limit >= 64 && limit <= 1 << 20, String(limit));
});

test('idleTimeoutSeconds defaults to an hour and is bounded; limits are positive integers', () => {
  assert.equal(defaults.idleTimeoutSeconds, 3_600);
  for (const bad of [
    { idleTimeoutSeconds: 0 },
    { idleTimeoutSeconds: 86_401 },
    { maxConnections: 0 },
    { maxConnectionsPerListener: 1.5 },
    { udpMaxFlowsPerListener: -1 },
    { maxBufferedBytes: -1 },
  ]) {
    assert.equal(localProviderConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
