// The provider wrapper: every call counted, no more than controller.workers of them in flight, the rest waiting in order.
import assert from 'node:assert/strict';
import { setImmediate as flush } from 'node:timers/promises';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { instrumentProvider } from '../../src/controller/instrumented-provider.ts';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import type { LoadBalancerIdentity } from '../../src/providers/provider.ts';
import { RecordingProvider } from '../fakes/recording-provider.ts';

const identity = (name: string): LoadBalancerIdentity => ({
  namespace: 'ns',
  name,
  uid: `uid-${name}`,
  clusterName: 'test',
  lbName: `a${name}`,
});

/** A provider whose get() calls wait until the test lets each one finish. */
class GatedProvider extends RecordingProvider {
  readonly started: string[] = [];
  readonly gates = new Map<string, () => void>();

  override async get(id: LoadBalancerIdentity) {
    this.started.push(id.name);
    await new Promise<void>((resolve) => this.gates.set(id.name, resolve));
    return undefined;
  }

  async finish(name: string): Promise<void> {
    this.gates.get(name)!();
    for (let i = 0; i < 3; i++) await flush();
  }
}

test('at most maxInFlight provider calls run at once; the others start in the order they were made', async () => {
  const registry = new Registry();
  const inner = new GatedProvider();
  const provider = instrumentProvider(inner, createControllerMetrics(registry), pino({ level: 'silent' }), 2);

  const calls = ['a', 'b', 'c', 'd'].map((name) => provider.get(identity(name)));
  await flush();
  assert.deepEqual(inner.started, ['a', 'b'], 'c and d wait for a free slot');
  assert.match(await registry.metrics(), /^service_lb_provider_calls_waiting 2$/m);

  await inner.finish('b');
  assert.deepEqual(inner.started, ['a', 'b', 'c']);
  await inner.finish('a');
  assert.deepEqual(inner.started, ['a', 'b', 'c', 'd']);
  await inner.finish('c');
  await inner.finish('d');
  await Promise.all(calls);

  const text = await registry.metrics();
  assert.match(text, /^service_lb_provider_calls_waiting 0$/m);
  assert.match(text, /service_lb_provider_calls_total\{[^}]*operation="get"[^}]*outcome="success"[^}]*\} 4/);
});

test('a failed call frees its slot', async () => {
  const inner = new RecordingProvider();
  inner.inject(() => new Error('cloud says no'));
  const provider = instrumentProvider(inner, createControllerMetrics(new Registry()), pino({ level: 'silent' }), 1);
  await assert.rejects(provider.delete(identity('a')), /cloud says no/);
  await assert.rejects(provider.delete(identity('b')), /cloud says no/);
  assert.equal(inner.calls.length, 2);
});
