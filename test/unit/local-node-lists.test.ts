// The external proxy makes equal node lists from separate channel messages one list again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeLists } from '../../src/providers/local/node-lists.ts';
import type { FrontendGroupSpec, NodeBackend } from '../../src/providers/local/proxy-spec.ts';
import { frontendGroup } from '../fakes/frontend-group.ts';

/** The nodes as a freshly parsed message carries them: a new list each time. */
const nodes = (count: number, address = (i: number) => `10.0.0.${i}`, healthy = true): NodeBackend[] =>
  Array.from({ length: count }, (_, i) => ({ node: `n${i}`, address: address(i), healthy }));

function group(key: string, ...lists: NodeBackend[][]): FrontendGroupSpec {
  const frontends = lists.map((backends, i) => ({
    protocol: 'TCP' as const,
    ip: `192.0.2.${i + 1}`,
    port: 80,
    nodePort: 30000 + i,
    backends,
  }));
  return frontendGroup(key, `default/${key}`, frontends);
}

test('load balancers sent one after another with equal nodes get one list; the rest of the spec is kept', () => {
  const lists = new NodeLists();
  const first = lists.share(group('a', nodes(3)));
  const second = lists.share(group('b', nodes(3)));
  assert.equal(second.frontends[0]!.backends, first.frontends[0]!.backends);
  assert.deepEqual(second, group('b', nodes(3)));
});

test('a list that differs in a node, an address or a verdict is not shared', () => {
  const lists = new NodeLists();
  const base = lists.share(group('a', nodes(3))).frontends[0]!.backends;
  const others = [nodes(4), nodes(3, (i) => `10.0.1.${i}`), nodes(3, undefined, false)];
  for (const other of others) {
    const shared = lists.share(group('b', other)).frontends[0]!.backends;
    assert.notEqual(shared, base);
    assert.deepEqual(shared, other);
  }
});

test('dual-stack load balancers keep sharing both families, and a list not seen lately is forgotten', () => {
  const lists = new NodeLists();
  const v6 = (i: number) => `fd00::${i}`;
  const first = lists.share(group('a', nodes(2), nodes(2, v6)));
  const second = lists.share(group('b', nodes(2), nodes(2, v6)));
  assert.equal(second.frontends[0]!.backends, first.frontends[0]!.backends);
  assert.equal(second.frontends[1]!.backends, first.frontends[1]!.backends);
  for (let n = 3; n < 8; n++) lists.share(group(`other-${n}`, nodes(n)));
  assert.notEqual(lists.share(group('c', nodes(2))).frontends[0]!.backends, first.frontends[0]!.backends);
});
