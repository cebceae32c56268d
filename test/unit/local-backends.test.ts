// Backend choice in the UDP data path: health, retries, draining.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Backends, type Closable } from '../../src/providers/local/backends.ts';
import type { BackendSpec } from '../../src/providers/local/proxy-spec.ts';

const spec = (node: string, healthy = true): BackendSpec => ({ node, address: `10.0.0.${node.slice(1)}`, port: 30000, healthy });

function connection(log: string[], name: string): Closable {
  return { close: () => log.push(name) };
}

test('only healthy backends get new connections', () => {
  const backends = new Backends([spec('n1'), spec('n2', false), spec('n3')], 'None');
  const picked = new Set(Array.from({ length: 6 }, () => backends.pick('10.9.9.9', [])!.spec.node));
  assert.deepEqual([...picked].sort(), ['n1', 'n3']);
});

test('a failed attempt is not retried on the same backend', () => {
  const backends = new Backends([spec('n1'), spec('n2')], 'ClientIP');
  const first = backends.pick('10.9.9.9', [])!;
  const second = backends.pick('10.9.9.9', [first])!;
  assert.notEqual(second.spec.node, first.spec.node);
  assert.equal(backends.pick('10.9.9.9', [first, second]), undefined);
});

test('a backend that turns unhealthy keeps its connections; a removed one drains within the grace', (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  const log: string[] = [];
  const backends = new Backends([spec('n1'), spec('n2')], 'None');
  for (const backend of [backends.pick('c', [])!, backends.pick('c', [])!]) backend.live.add(connection(log, `on-${backend.spec.node}`));

  backends.update([spec('n1', false), spec('n2')], 1_000);
  mock.timers.tick(5_000);
  assert.deepEqual(log, [], 'unhealthy: in-flight connections are not cut');
  assert.equal(backends.size, 1);

  backends.update([spec('n1', false)], 1_000);
  mock.timers.tick(999);
  assert.deepEqual(log, [], 'removed: nothing is cut before the grace ends');
  mock.timers.tick(1);
  assert.deepEqual(log, ['on-n2']);
});
