// The work queue: dedupe, per-key exclusivity, backoff and shutdown.
import assert from 'node:assert/strict';
import { setImmediate as flush } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { runWorkers, WorkQueue, type QueueObserver } from '../../src/controller/queue.ts';

// Backoff as upstream: 5 s doubling to 300 s.
function newQueue(t: TestContext, observer: QueueObserver = {}): WorkQueue {
  // Date too: addAfter orders pending delays by Date.now(), which must move with the mocked clock.
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  return new WorkQueue({ initialBackoffMs: 5_000, maxBackoffMs: 300_000 }, observer);
}

/** Takes every key queued right now, marking each done, in order. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.depth > 0) {
    const key = await queue.get();
    assert.ok(key !== undefined);
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

/** A get() whose result can be inspected without awaiting it. */
function pendingGet(queue: WorkQueue): { settled: () => boolean; value: () => string | undefined } {
  let settled = false;
  let value: string | undefined;
  void queue.get().then((key) => {
    settled = true;
    value = key;
  });
  return { settled: () => settled, value: () => value };
}

test('a key added many times waits in the queue once, in first-added order', async (t) => {
  const queue = newQueue(t);
  for (const key of ['a', 'b', 'a', 'c', 'b', 'a']) queue.add(key);
  assert.equal(queue.depth, 3);
  assert.deepEqual(await drain(queue), ['a', 'b', 'c']);
  assert.equal(queue.depth, 0);
});

test('a key being processed is not handed out again; re-adding it queues it once after done()', async (t) => {
  const queue = newQueue(t);
  queue.add('a');
  assert.equal(await queue.get(), 'a');
  queue.add('a');
  queue.add('a');
  assert.equal(queue.depth, 0, 'not queued while processing');
  const second = pendingGet(queue);
  await flush();
  assert.equal(second.settled(), false, 'a second worker must not get the key in process');
  queue.done('a');
  await flush();
  assert.equal(second.value(), 'a');
  queue.done('a');
  assert.equal(queue.depth, 0, 'the two adds during processing collapse into one');
});

test('done() without a re-add does not queue the key again', async (t) => {
  const queue = newQueue(t);
  queue.add('a');
  const key = await queue.get();
  queue.done(key!);
  assert.equal(queue.depth, 0);
  const next = pendingGet(queue);
  await flush();
  assert.equal(next.settled(), false);
});

test('other keys are handed out while one is being processed', async (t) => {
  const queue = newQueue(t);
  queue.add('a');
  queue.add('b');
  assert.equal(await queue.get(), 'a');
  queue.add('a');
  assert.equal(await queue.get(), 'b');
  queue.done('b');
  queue.done('a');
  assert.deepEqual(await drain(queue), ['a']);
});

test('a getter waiting on an empty queue receives the next added key', async (t) => {
  const queue = newQueue(t);
  const waiting = pendingGet(queue);
  await flush();
  assert.equal(waiting.settled(), false);
  queue.add('a');
  await flush();
  assert.equal(waiting.value(), 'a');
  // Handed straight to the waiter, so it counts as in process: a re-add waits for done().
  queue.add('a');
  assert.equal(queue.depth, 0);
  queue.done('a');
  assert.equal(queue.depth, 1);
});

test('addAfter queues the key only once the delay has passed', async (t) => {
  const queue = newQueue(t);
  queue.addAfter('a', 1_000);
  assert.equal(queue.depth, 0);
  t.mock.timers.tick(999);
  assert.equal(queue.depth, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(await drain(queue), ['a']);
});

test('addAfter with no delay queues the key at once', async (t) => {
  const queue = newQueue(t);
  queue.addAfter('a', 0);
  assert.equal(queue.depth, 1);
});

test('addAfter: a shorter delay replaces a pending longer one', async (t) => {
  const queue = newQueue(t);
  queue.addAfter('a', 1_000);
  queue.addAfter('a', 300);
  t.mock.timers.tick(300);
  assert.deepEqual(await drain(queue), ['a']);
  t.mock.timers.tick(1_000);
  assert.equal(queue.depth, 0, 'the longer delay was cancelled');
});

test('addAfter: a longer delay does not postpone a pending shorter one', async (t) => {
  const queue = newQueue(t);
  queue.addAfter('a', 500);
  t.mock.timers.tick(400);
  // Due at 600 > 500: the pending one wins.
  queue.addAfter('a', 200);
  t.mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['a']);
  t.mock.timers.tick(10_000);
  assert.equal(queue.depth, 0, 'queued once only');
});

test('addAfter delays of different keys are independent', async (t) => {
  const queue = newQueue(t);
  queue.addAfter('a', 200);
  queue.addAfter('b', 100);
  t.mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['b']);
  t.mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['a']);
});

test('addRateLimited backs off 5s, 10s, 20s ... capped at the maximum, each requeue after exactly that delay', async (t) => {
  const retries: Array<[string, number]> = [];
  const queue = newQueue(t, { onRetry: (key, delay) => retries.push([key, delay]) });
  const expected = [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000];
  for (const [i, delay] of expected.entries()) {
    assert.equal(queue.addRateLimited('a'), delay);
    assert.equal(queue.failureCount('a'), i + 1);
    t.mock.timers.tick(delay - 1);
    assert.equal(queue.depth, 0, `not before ${delay} ms`);
    t.mock.timers.tick(1);
    assert.deepEqual(await drain(queue), ['a'], `requeued at ${delay} ms`);
  }
  assert.deepEqual(
    retries,
    expected.map((d) => ['a', d]),
  );
});

// As the controller's process(): the first failed sync of a Service adds our finalizer, and the informer
// re-adds the key while it is still being processed. That immediate re-run is the first retry; the
// delays after it must still be 5 s, 10 s, 20 s, not 10 s, 20 s, 40 s.
test('a failure while the key changed is not counted: the delays seen are 5s, 10s, 20s', async (t) => {
  const queue = newQueue(t);
  const runs: number[] = [];
  const delays: number[] = [];
  const workers = runWorkers(queue, 1, async (key) => {
    runs.push(Date.now());
    if (runs.length === 1) queue.add(key);
    delays.push(queue.addRateLimited(key));
  });
  queue.add('a');
  await flush();
  for (const delay of [5_000, 10_000, 20_000]) {
    t.mock.timers.tick(delay - 1);
    await flush();
    const before = runs.length;
    t.mock.timers.tick(1);
    await flush();
    assert.equal(runs.length, before + 1, `one run after ${delay} ms`);
  }
  queue.shutDown();
  await workers;
  assert.deepEqual(runs, [0, 0, 5_000, 15_000, 35_000]);
  assert.deepEqual(delays, [0, 5_000, 10_000, 20_000, 40_000]);
  assert.equal(queue.failureCount('a'), 4);
});

test('backoff is per key', (t) => {
  const queue = newQueue(t);
  queue.addRateLimited('a');
  queue.addRateLimited('a');
  assert.equal(queue.addRateLimited('b'), 5_000);
  assert.equal(queue.failureCount('a'), 2);
  assert.equal(queue.failureCount('b'), 1);
});

test('forget() resets the backoff to the initial delay', (t) => {
  const queue = newQueue(t);
  queue.addRateLimited('a');
  queue.addRateLimited('a');
  queue.addRateLimited('a');
  queue.forget('a');
  assert.equal(queue.failureCount('a'), 0);
  assert.equal(queue.addRateLimited('a'), 5_000);
});

test('addAfterRetry requeues after exactly the delay and leaves the backoff as it was', async (t) => {
  const retries: Array<[string, number]> = [];
  const queue = newQueue(t, { onRetry: (key, delay) => retries.push([key, delay]) });
  queue.addRateLimited('a');
  t.mock.timers.tick(5_000);
  await drain(queue);
  queue.addRateLimited('a');
  t.mock.timers.tick(10_000);
  await drain(queue);
  assert.equal(queue.failureCount('a'), 2);

  queue.addAfterRetry('a', 7_000);
  assert.equal(queue.failureCount('a'), 2, 'failure count unchanged');
  t.mock.timers.tick(6_999);
  assert.equal(queue.depth, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(await drain(queue), ['a']);
  assert.deepEqual(retries.at(-1), ['a', 7_000]);
  // The next plain failure continues the sequence where it was: the third delay.
  assert.equal(queue.addRateLimited('a'), 20_000);
});

test('addAfterRetry is not capped by the maximum backoff', async (t) => {
  const queue = newQueue(t);
  queue.addAfterRetry('a', 600_000);
  t.mock.timers.tick(599_999);
  assert.equal(queue.depth, 0);
  t.mock.timers.tick(1);
  assert.equal(queue.depth, 1);
});

test('a delayed key that comes due while it is being processed is queued after done()', async (t) => {
  const queue = newQueue(t);
  queue.add('a');
  assert.equal(await queue.get(), 'a');
  queue.addAfter('a', 100);
  t.mock.timers.tick(100);
  assert.equal(queue.depth, 0);
  queue.done('a');
  assert.deepEqual(await drain(queue), ['a']);
});

test('shutDown releases waiting getters, ignores later adds and cancels pending delays', async (t) => {
  const queue = newQueue(t);
  const first = pendingGet(queue);
  const second = pendingGet(queue);
  queue.addAfter('late', 1_000);
  await flush();
  assert.equal(first.settled(), false);
  queue.shutDown();
  await flush();
  assert.equal(queue.isShuttingDown, true);
  assert.deepEqual([first.settled(), first.value(), second.settled(), second.value()], [true, undefined, true, undefined]);
  queue.add('a');
  queue.addAfter('b', 10);
  queue.addRateLimited('c');
  t.mock.timers.tick(1_000_000);
  assert.equal(queue.depth, 0);
  assert.equal(await queue.get(), undefined);
});

test('depth changes are reported to the observer', async (t) => {
  const depths: number[] = [];
  const queue = newQueue(t, { onDepthChange: (d) => depths.push(d) });
  queue.add('a');
  queue.add('b');
  queue.add('a');
  await queue.get();
  assert.deepEqual(depths, [1, 2, 1]);
});

test('runWorkers: workers run different keys in parallel, never one key twice at once', async (t) => {
  const queue = newQueue(t);
  const running = new Set<string>();
  let maxParallel = 0;
  const processed: string[] = [];
  const gates = new Map<string, () => void>();
  const handle = async (key: string): Promise<void> => {
    assert.equal(running.has(key), false, `${key} handed to two workers at once`);
    running.add(key);
    maxParallel = Math.max(maxParallel, running.size);
    processed.push(key);
    await new Promise<void>((resolve) => gates.set(key, resolve));
    running.delete(key);
  };
  const done = runWorkers(queue, 3, handle);

  queue.add('a');
  await flush();
  queue.add('a');
  queue.add('b');
  await flush();
  assert.deepEqual(processed, ['a', 'b'], 'b runs while a is in process; the re-added a waits');
  assert.equal(maxParallel, 2);

  gates.get('a')!();
  await flush();
  await flush();
  assert.deepEqual(processed, ['a', 'b', 'a'], 'a runs again after its first run finished');
  gates.get('b')!();
  gates.get('a')!();
  await flush();
  await flush();
  assert.deepEqual(processed, ['a', 'b', 'a']);

  queue.shutDown();
  await done;
});

test('runWorkers calls done() when a handler fails, so the key can be processed again', async (t) => {
  const queue = newQueue(t);
  const seen: string[] = [];
  const done = runWorkers(queue, 1, async (key) => {
    seen.push(key);
    if (seen.length === 1) {
      queue.add(key);
      throw new Error('boom');
    }
  });
  // What a failing handler does to its worker loop is the caller's concern (the controller's handler never
  // throws); here only the release of the key matters.
  const failed = done.catch((err: unknown) => err);
  queue.add('a');
  assert.match(String(await failed), /boom/);
  // The key re-added during the failed run was released by done() and queued again.
  assert.deepEqual(await drain(queue), ['a']);
});

test('whenIdle resolves once nothing is queued or processed, or after the longest wait', async (t) => {
  const queue = newQueue(t);
  let idle = false;
  await queue.whenIdle(1_000);
  queue.add('a');
  queue.add('b');
  void queue.whenIdle(60_000).then(() => (idle = true));
  const a = await queue.get();
  queue.done(a!);
  await flush();
  assert.equal(idle, false, 'b still waits');
  const b = await queue.get();
  await flush();
  assert.equal(idle, false, 'b is being processed');
  queue.done(b!);
  await flush();
  assert.equal(idle, true);

  let late = false;
  queue.add('c');
  void queue.whenIdle(1_000).then(() => (late = true));
  t.mock.timers.tick(999);
  await flush();
  assert.equal(late, false);
  t.mock.timers.tick(1);
  await flush();
  assert.equal(late, true, 'a queue that stays busy does not hold the waiter past its longest wait');
});
