// The provider readiness check behind /readyz: timeout, caching, one call at a time, and the wiring through the provider wrapper.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { instrumentProvider } from '../../src/controller/instrumented-provider.ts';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createProvider } from '../../src/providers/index.ts';
import { CachedCheck, providerReadiness } from '../../src/server/readiness.ts';
import { providerDeps } from '../fakes/provider-deps.ts';
import { RecordingProvider } from '../fakes/recording-provider.ts';

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

test('before the first answer the check says so; then it serves the answer, prefixed with its name', async () => {
  const c = clock();
  const check = new CachedCheck(async () => ['VPC vpc-1 not found'], {
    name: 'provider aws',
    timeoutMs: 60_000,
    ttlMs: 10_000,
    now: c.now,
  });
  assert.deepEqual(check.problems(), ['provider aws: not checked yet']);
  await check.refresh();
  assert.deepEqual(check.problems(), ['provider aws: VPC vpc-1 not found']);
});

test('an answer is reused until it is ttl old, then one new call is made', async () => {
  const c = clock();
  let calls = 0;
  let problems: string[] = [];
  const check = new CachedCheck(
    async () => {
      calls++;
      return problems;
    },
    { name: 'p', timeoutMs: 60_000, ttlMs: 10_000, now: c.now },
  );
  await check.refresh();
  assert.equal(calls, 1);
  problems = ['broken'];
  for (let i = 0; i < 50; i++) check.problems();
  c.t = 9_999;
  assert.deepEqual(check.problems(), []);
  assert.equal(calls, 1, 'probes within the ttl make no call');
  c.t = 10_000;
  // Stale: this probe still gets the old answer at once, and starts the call whose answer the next probe gets.
  assert.deepEqual(check.problems(), []);
  assert.deepEqual(check.problems(), []);
  await check.refresh();
  assert.equal(calls, 2, 'one call for the stale answer, however many probes asked');
  assert.deepEqual(check.problems(), ['p: broken']);
});

test('a call that does not answer in time is a problem, and no second call starts while it hangs', async () => {
  const c = clock();
  let calls = 0;
  let answer: (problems: string[]) => void = () => {};
  const check = new CachedCheck(
    () => {
      calls++;
      return new Promise<string[]>((resolve) => {
        answer = resolve;
      });
    },
    { name: 'provider azure', timeoutMs: 20, ttlMs: 1_000, now: c.now },
  );
  await check.refresh();
  assert.deepEqual(check.problems(), ['provider azure: no answer within 0.02 s']);
  c.t = 5_000;
  check.problems();
  await check.refresh();
  assert.equal(calls, 1);
  // The late answer replaces the timeout, and the next stale probe may call again.
  answer([]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(check.problems(), []);
  c.t = 10_000;
  check.problems();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 2);
});

test('a check that throws is a problem naming the error', async () => {
  const check = new CachedCheck(
    async () => {
      throw new Error('credentials refused');
    },
    { name: 'provider aws', timeoutMs: 60_000, ttlMs: 10_000 },
  );
  await check.refresh();
  assert.deepEqual(check.problems(), ['provider aws: check failed: credentials refused']);
});

test('providerReadiness goes through the instrumented wrapper, and is absent for a provider without the method', async () => {
  const metrics = createControllerMetrics(new Registry());
  const logger = pino({ level: 'silent' });
  const plain = new RecordingProvider();
  assert.equal(providerReadiness(instrumentProvider(plain, metrics, logger, 1)), undefined);

  const withCheck = Object.assign(new RecordingProvider(), { checkReady: async () => ['subnet nodes not found'] });
  const ready = providerReadiness(instrumentProvider(withCheck, metrics, logger, 1));
  assert.ok(ready);
  await ready.refresh();
  assert.deepEqual(ready.problems(), [`provider ${withCheck.name}: subnet nodes not found`]);
});

test('local: ready without an interface; a configured interface that does not exist is a problem naming it', async () => {
  const plain = await createProvider(parseConfig({}), providerDeps());
  assert.deepEqual(await plain.checkReady?.(), []);
  const config = parseConfig({ provider: { name: 'local', local: { interface: 'slc-missing0' } } });
  const problems = (await (await createProvider(config, providerDeps())).checkReady?.()) ?? [];
  assert.equal(problems.length, 1);
  // Without iproute2 the problem is the missing command instead, which is as true.
  assert.match(problems[0]!, /interface slc-missing0: (no interface named "slc-missing0"|the "ip" command)/);
});
