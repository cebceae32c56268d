// OwnWrites: which Service updates are the echo of the controller's own writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnWrites } from '../../src/controller/own-writes.ts';

test('an update from the base version to the written one is an echo, once', () => {
  const writes = new OwnWrites();
  writes.record('ns/a', '10', '11');
  writes.record('ns/a', '11', '12');
  assert.equal(writes.isEcho('ns/a', '10', '11'), true);
  assert.equal(writes.isEcho('ns/a', '10', '11'), false, 'each write is matched once');
  assert.equal(writes.isEcho('ns/a', '11', '12'), true);
});

test('an update that folds in someone else’s change is not an echo', () => {
  const writes = new OwnWrites();
  writes.record('ns/a', '10', '12');
  // A re-list delivered 9 -> 12: the change at 10 (not ours) is part of it.
  assert.equal(writes.isEcho('ns/a', '9', '12'), false);
  assert.equal(writes.isEcho('ns/b', '10', '12'), false, 'another Service');
  writes.forget('ns/a');
  assert.equal(writes.isEcho('ns/a', '10', '12'), false, 'forgotten with the Service');
});

test('writes whose echo never comes are forgotten beyond a few per Service', () => {
  const writes = new OwnWrites();
  for (let v = 1; v <= 20; v++) writes.record('ns/a', String(v), String(v + 1));
  assert.equal(writes.isEcho('ns/a', '1', '2'), false);
  assert.equal(writes.isEcho('ns/a', '20', '21'), true);
});
