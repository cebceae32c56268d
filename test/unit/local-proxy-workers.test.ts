// Proxy worker supervision: respawn backoff and answer timeouts.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { answerWithin, nextRespawn } from '../../src/providers/local/proxy-workers.ts';

test('a worker that keeps dying is replaced after 100 ms, doubling up to 10 s', () => {
  let quickExits = 0;
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    const next = nextRespawn(quickExits, 50);
    delays.push(next.delayMs);
    quickExits = next.quickExits;
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000]);
});

test('a worker that stayed up a while is replaced quickly again, whatever came before it', () => {
  assert.deepEqual(nextRespawn(7, 30_000), { delayMs: 100, quickExits: 1 });
  assert.deepEqual(nextRespawn(7, 29_999), { delayMs: 10_000, quickExits: 8 });
});

test('an answer that comes in time is the answer', async () => {
  assert.equal(await answerWithin(Promise.resolve('counters'), 2_000, () => 'late'), 'counters');
});

test('with no answer, the fallback comes after the timeout, not before', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  let late = 0;
  let settled: string | undefined;
  const answer = answerWithin(new Promise<string>(() => {}), 2_000, () => {
    late++;
    return 'nothing';
  });
  void answer.then((v) => (settled = v));
  mock.timers.tick(1_999);
  await Promise.resolve();
  assert.equal(settled, undefined);
  mock.timers.tick(1);
  assert.equal(await answer, 'nothing');
  assert.equal(late, 1);
});
