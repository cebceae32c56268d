// The per-resource batching writer: coalescing, 412 re-apply, batch splitting, no write when nothing changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BatchWriter, ConflictRetriesExhausted, type WriterIO } from '../../src/providers/azure/writer.ts';

interface Doc {
  etag?: string;
  items?: string[];
}

/** An in-memory ARM resource with ETags; `script` decides the fate of each write. */
function store(script: (next: Doc, n: number) => 'ok' | 'conflict' | 'rejected' = () => 'ok') {
  let doc: Doc | undefined;
  let version = 0;
  const log = { reads: 0, writes: 0, deletes: 0 };
  const io: WriterIO<Doc> = {
    read: async () => {
      log.reads++;
      return doc && structuredClone(doc);
    },
    write: async (next, etag) => {
      await new Promise((r) => setTimeout(r, 5));
      const fate = script(next, log.writes++);
      if (fate === 'conflict' || etag !== doc?.etag) throw Object.assign(new Error('412'), { kind: 'conflict' });
      if (fate === 'rejected') throw Object.assign(new Error('400'), { kind: 'rejected' });
      doc = { ...structuredClone(next), etag: String(++version) };
      return structuredClone(doc);
    },
    remove: async () => {
      log.deletes++;
      doc = undefined;
    },
    empty: () => ({ items: [] }),
    isEmpty: (d) => (d.items ?? []).length === 0,
    classify: (err) => ((err as { kind?: string }).kind as 'conflict' | 'rejected' | undefined) ?? 'failed',
  };
  return { io, log, get: () => doc };
}

const add = (item: string) => (d: Doc) => {
  d.items = [...new Set([...(d.items ?? []), item])].sort();
};

describe('azure batching writer', () => {
  test('concurrent edits coalesce into one read and one write after the first', async () => {
    const s = store();
    const w = new BatchWriter(s.io, { maxBatch: Infinity, maxConflictRetries: 3 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => w.submit(add(`s${String(i).padStart(2, '0')}`))));
    assert.equal(s.get()!.items!.length, 20);
    assert.equal(s.log.writes, 2, 'the first edit goes alone, the 19 that queued meanwhile go together');
  });

  test('no change, no write; empty resource is deleted', async () => {
    const s = store();
    const w = new BatchWriter(s.io, { maxBatch: Infinity, maxConflictRetries: 3 });
    await w.submit(add('a'));
    await w.submit(add('a'));
    assert.equal(s.log.writes, 1);
    await w.submit((d) => {
      d.items = [];
    });
    assert.equal(s.log.deletes, 1);
    assert.equal(s.get(), undefined);
  });

  test('412 re-reads and re-applies; endless 412s give up retryably', async () => {
    const s = store((_, n) => (n < 2 ? 'conflict' : 'ok'));
    const w = new BatchWriter(s.io, { maxBatch: Infinity, maxConflictRetries: 3 });
    await w.submit(add('a'));
    assert.deepEqual(s.get()!.items, ['a']);
    assert.equal(s.log.reads, 3);
    const never = store(() => 'conflict');
    const w2 = new BatchWriter(never.io, { maxBatch: Infinity, maxConflictRetries: 2 });
    await assert.rejects(w2.submit(add('a')), ConflictRetriesExhausted);
  });

  test('a rejected batch is split until the bad edit fails alone', async () => {
    const s = store((next) => (next.items!.includes('bad') ? 'rejected' : 'ok'));
    const w = new BatchWriter(s.io, { maxBatch: Infinity, maxConflictRetries: 3 });
    const first = w.submit(add('first'));
    const rest = ['a', 'b', 'bad', 'c', 'd', 'e'].map((x) => w.submit(add(x)));
    await first;
    const results = await Promise.allSettled(rest);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.deepEqual(s.get()!.items, ['a', 'b', 'c', 'd', 'e', 'first']);
  });

  test('an edit that throws fails alone without touching the others', async () => {
    const s = store();
    const w = new BatchWriter(s.io, { maxBatch: Infinity, maxConflictRetries: 3 });
    const results = await Promise.allSettled([
      w.submit(add('a')),
      w.submit((d) => {
        d.items!.push('half');
        throw new Error('no room');
      }),
      w.submit(add('b')),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(s.get()!.items, ['a', 'b']);
  });

  test('maxBatch 1 writes once per edit', async () => {
    const s = store();
    const w = new BatchWriter(s.io, { maxBatch: 1, maxConflictRetries: 3 });
    await Promise.all(['a', 'b', 'c'].map((x) => w.submit(add(x))));
    assert.equal(s.log.writes, 3);
  });
});
