// The shared token bucket on a fake clock: burst, spacing, queueing, back-off after throttling.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateBudget, type Clock } from '../../src/providers/rate-budget.ts';

/** A clock that records every sleep; it moves only when a sleep returns, unless frozen. */
function fakeClock(frozen = false): Clock & { sleeps: number[]; advance(ms: number): void } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      if (!frozen) now += ms;
    },
  };
}

describe('rate budget', () => {
  test('a burst of one second passes at once, then calls are spaced at the rate', async () => {
    const clock = fakeClock();
    const budget = new RateBudget(10, clock);
    for (let i = 0; i < 10; i++) await budget.acquire();
    assert.deepEqual(clock.sleeps, []);
    await budget.acquire();
    await budget.acquire();
    assert.deepEqual(clock.sleeps, [100, 100]);
  });

  test('concurrent callers queue up: each waits for its own token', async () => {
    const clock = fakeClock(true);
    const budget = new RateBudget(2, clock);
    await budget.acquire();
    await budget.acquire();
    // All three reserve at the same instant, so each waits one interval longer than the one before.
    await Promise.all([budget.acquire(), budget.acquire(), budget.acquire()]);
    assert.deepEqual(clock.sleeps, [500, 1000, 1500]);
  });

  test('throttling from AWS pauses everyone for about a second of budget', async () => {
    const clock = fakeClock();
    const budget = new RateBudget(5, clock);
    budget.backOff();
    budget.backOff();
    await budget.acquire();
    // One second of debt (not two: throttles together do not stack) plus this call's own token, at 5/s.
    assert.deepEqual(clock.sleeps, [1200]);
  });

  test('tokens refill with time, up to the burst', async () => {
    const clock = fakeClock();
    const budget = new RateBudget(4, clock);
    for (let i = 0; i < 4; i++) await budget.acquire();
    clock.advance(10_000);
    for (let i = 0; i < 4; i++) await budget.acquire();
    assert.deepEqual(clock.sleeps, []);
    await budget.acquire();
    assert.deepEqual(clock.sleeps, [250]);
  });

  test('a burst of its own, then the steady rate (an hourly write budget)', async () => {
    let now = 0;
    const slept: number[] = [];
    const budget = new RateBudget(1, { now: () => now, sleep: async (ms) => void slept.push(ms) }, 2);
    await budget.acquire();
    await budget.acquire();
    assert.deepEqual(slept, []);
    await budget.acquire();
    assert.deepEqual(slept, [1000]);
    now += 5000;
    await budget.acquire();
    assert.deepEqual(slept, [1000]);
  });
});
