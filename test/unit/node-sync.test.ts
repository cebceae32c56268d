// When node changes are synced: the first at once, a burst after it folded into one round at the window's end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeSyncSchedule } from '../../src/controller/controller.ts';

test('a change after a quiet spell goes at once and opens a window; changes within it wait for its end', () => {
  let quietAt = 0;
  const at = (now: number) => {
    const next = nodeSyncSchedule(now, quietAt, 200);
    quietAt = next.quietAt;
    return next.waitMs;
  };
  assert.equal(at(1_000), 0);
  assert.equal(at(1_050), 150);
  assert.equal(at(1_199), 1);
  assert.equal(at(1_200), 0, 'the window is over: the next change goes at once');
  assert.equal(at(1_300), 100);
});
