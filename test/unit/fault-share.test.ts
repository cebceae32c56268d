// The fakes' random faults hold the share they were asked for, call after call, and replay from their seed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../fakes/azure-arm/faults.ts';
import { shareGate } from '../fakes/fault-share.ts';

function run(rate: number, seed: number, calls: number): boolean[] {
  const fail = shareGate(rate, seededRandom(seed));
  return Array.from({ length: calls }, () => fail());
}

test('the share of failed calls never falls below the rate and stays less than three calls above it', () => {
  for (const rate of [0.1, 0.3, 0.5]) {
    for (const seed of [1, 2026, 77]) {
      let failed = 0;
      run(rate, seed, 1_000).forEach((f, i) => {
        if (f) failed += 1;
        const calls = i + 1;
        assert.ok(failed >= rate * calls, `rate ${rate}, seed ${seed}: ${failed} of ${calls}`);
        assert.ok(failed < rate * calls + 3, `rate ${rate}, seed ${seed}: ${failed} of ${calls}`);
      });
    }
  }
});

test('which calls fail is drawn from the seed: replayed by the same seed, different with another', () => {
  assert.deepEqual(run(0.3, 2026, 300), run(0.3, 2026, 300));
  assert.notDeepEqual(run(0.3, 2026, 300), run(0.3, 2027, 300));
});
