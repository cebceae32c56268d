// A frontend's counters as metrics read them: connections opened summed over the nodes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counters, totalsOf } from '../../src/providers/local/frontend-stats.ts';

test('totals sum the per-node opened counts and copy the rest', () => {
  const counters = new Counters();
  counters.open('a');
  counters.open('b');
  counters.open('a');
  counters.bytesIn = 10;
  counters.rejected.source_range = 2;
  assert.deepEqual(totalsOf(counters), {
    opened: 3,
    active: 3,
    bytesIn: 10,
    bytesOut: 0,
    rejected: { source_range: 2, no_healthy_target: 0, connect_failed: 0, flow_limit: 0 },
  });
});
