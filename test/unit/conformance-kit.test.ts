// The conformance kit catches a provider that breaks the contract, and names the rules it breaks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('the kit fails exactly the tests of the rules a provider breaks', () => {
  const fixture = new URL('../fakes/broken-provider-conformance.ts', import.meta.url).pathname;
  // Without NODE_TEST_CONTEXT the child is a test run of its own, not a subprocess reporting to this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const result = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fixture], { encoding: 'utf8', timeout: 60_000, env });
  assert.equal(result.status, 1, 'the run fails');
  const outcomes = new Map(
    [...result.stdout.matchAll(/^ {4}(ok|not ok) \d+ - (.+)$/gm)].map(([, outcome, name]) => [name!.trim(), outcome === 'ok']),
  );
  assert.deepEqual(Object.fromEntries(outcomes), {
    'ensure returns an ingress with an address, and get returns the same': true,
    'ensure is idempotent: the same ingress and still one load balancer': false,
    'updateTargets after a node change keeps the ingress': false,
    'get returns undefined for a load balancer never created, and after delete': true,
    'delete is idempotent: twice, and on an identity never created': false,
    'listOwned lists what ensure created, with its identity, and not after delete': true,
    'a port change and a new UDP listener are applied and published': true,
    'a restarted provider, handed what status says, still knows its load balancers and keeps their addresses': false,
  });
});
