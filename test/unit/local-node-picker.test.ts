// Node picking for new connections and flows: ClientIP affinity by rendezvous hashing, and round robin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickForClient, RoundRobin } from '../../src/providers/local/node-picker.ts';

const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
const id = (n: string): string => n;
const clients = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);

test('ClientIP affinity: a client always gets the same node, whatever the order of the list', () => {
  for (const client of clients.slice(0, 50)) {
    const first = pickForClient(nodes, client, id);
    assert.equal(pickForClient([...nodes].reverse(), client, id), first);
  }
});

test('ClientIP affinity spreads clients over all nodes', () => {
  const counts = new Map<string, number>();
  for (const client of clients) {
    const node = pickForClient(nodes, client, id)!;
    counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  assert.equal(counts.size, 4);
  for (const n of counts.values()) assert.ok(n > 2000 / 4 / 2, `uneven spread: ${[...counts.values()]}`);
});

test('ClientIP affinity: when a node leaves, only its clients move', () => {
  const before = new Map(clients.map((c) => [c, pickForClient(nodes, c, id)]));
  const remaining = nodes.filter((n) => n !== 'node-b');
  let moved = 0;
  for (const client of clients) {
    const after = pickForClient(remaining, client, id);
    if (before.get(client) === 'node-b') moved++;
    else assert.equal(after, before.get(client));
  }
  assert.ok(moved > 0);
});

test('ClientIP affinity with no backend picks nothing', () => {
  assert.equal(pickForClient([], '10.0.0.1', id), undefined);
});

test('round robin visits every backend in turn', () => {
  const rr = new RoundRobin();
  assert.deepEqual(
    Array.from({ length: 8 }, () => rr.pick(nodes)),
    [...nodes, ...nodes],
  );
  assert.equal(rr.pick([]), undefined);
});
