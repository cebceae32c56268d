// Health check verdicts and thresholds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextHealth, type HealthState } from '../../src/providers/local/health.ts';

const settings = { unhealthyThreshold: 2, healthyThreshold: 3 };

function run(results: boolean[]): (boolean | undefined)[] {
  let state: HealthState = { healthy: undefined, streak: 0 };
  return results.map((ok) => (state = nextHealth(state, ok, settings)).healthy);
}

test('the first result decides at once', () => {
  assert.deepEqual(run([true]), [true]);
  assert.deepEqual(run([false]), [false]);
});

test('a healthy node turns unhealthy only after unhealthyThreshold failures in a row', () => {
  assert.deepEqual(run([true, false, true, false, false]), [true, true, true, true, false]);
});

test('an unhealthy node comes back only after healthyThreshold successes in a row', () => {
  assert.deepEqual(run([false, true, true, false, true, true, true]), [false, false, false, false, false, false, true]);
});
