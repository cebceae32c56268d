// client-go's workqueue metrics, fed by the real work queue and read the way Prometheus reads them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { WorkQueue } from '../../src/controller/queue.ts';
import { createWorkqueueMetrics } from '../../src/controller/workqueue-metrics.ts';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('adds, depth, queue and work durations, in-progress gauges and retries, with {name="service"}', async () => {
  const registry = new Registry();
  const clock = { t: 0 };
  const queue = new WorkQueue(
    { initialBackoffMs: 1_000, maxBackoffMs: 1_000 },
    createWorkqueueMetrics(registry, 'service', () => clock.t),
  );
  queue.add('a');
  queue.add('a'); // already waiting: not an add
  queue.add('b');
  let text = await registry.metrics();
  assert.equal(sample(text, 'workqueue_adds_total{name="service"}'), 2);
  assert.equal(sample(text, 'workqueue_depth{name="service"}'), 2);

  clock.t = 1_500;
  assert.equal(await queue.get(), 'a');
  queue.add('a'); // added while in work: counted, and waiting again
  clock.t = 4_000;
  text = await registry.metrics();
  assert.equal(sample(text, 'workqueue_depth{name="service"}'), 2);
  assert.equal(sample(text, 'workqueue_adds_total{name="service"}'), 3);
  assert.equal(sample(text, 'workqueue_queue_duration_seconds_count{name="service"}'), 1);
  assert.equal(sample(text, 'workqueue_queue_duration_seconds_sum{name="service"}'), 1.5);
  assert.equal(sample(text, 'workqueue_unfinished_work_seconds{name="service"}'), 2.5);
  assert.equal(sample(text, 'workqueue_longest_running_processor_seconds{name="service"}'), 2.5);

  assert.equal(await queue.get(), 'b');
  clock.t = 5_000;
  text = await registry.metrics();
  assert.equal(sample(text, 'workqueue_unfinished_work_seconds{name="service"}'), 3.5 + 1);
  assert.equal(sample(text, 'workqueue_longest_running_processor_seconds{name="service"}'), 3.5);

  queue.done('a'); // requeued because it was added during the work: not a second add
  queue.done('b');
  queue.addRateLimited('b');
  text = await registry.metrics();
  assert.equal(sample(text, 'workqueue_adds_total{name="service"}'), 3);
  assert.equal(sample(text, 'workqueue_depth{name="service"}'), 1);
  assert.equal(sample(text, 'workqueue_work_duration_seconds_count{name="service"}'), 2);
  assert.equal(sample(text, 'workqueue_work_duration_seconds_sum{name="service"}'), 3.5 + 1);
  assert.equal(sample(text, 'workqueue_unfinished_work_seconds{name="service"}'), 0);
  assert.equal(sample(text, 'workqueue_retries_total{name="service"}'), 1);
  queue.shutDown();
});

test('a key handed straight to a waiting worker is an add with no time in the queue', async () => {
  const registry = new Registry();
  const queue = new WorkQueue(
    { initialBackoffMs: 1, maxBackoffMs: 1 },
    createWorkqueueMetrics(registry, 'service', () => 7),
  );
  const taken = queue.get();
  queue.add('x');
  assert.equal(await taken, 'x');
  const text = await registry.metrics();
  assert.equal(sample(text, 'workqueue_adds_total{name="service"}'), 1);
  assert.equal(sample(text, 'workqueue_depth{name="service"}'), 0);
  assert.equal(sample(text, 'workqueue_queue_duration_seconds_sum{name="service"}'), 0);
  queue.shutDown();
});

test("the controller's observer feeds the project's queue metrics and client-go's together", async () => {
  const registry = new Registry();
  const metrics = createControllerMetrics(registry);
  const queue = new WorkQueue({ initialBackoffMs: 60_000, maxBackoffMs: 60_000 }, metrics.queueObserver);
  queue.add('k');
  queue.addRateLimited('j');
  const text = await registry.metrics();
  assert.equal(sample(text, 'service_lb_queue_depth'), 1);
  assert.equal(sample(text, 'workqueue_depth{name="service"}'), 1);
  assert.equal(sample(text, 'service_lb_queue_retries_total'), 1);
  assert.equal(sample(text, 'workqueue_retries_total{name="service"}'), 1);
  queue.shutDown();
});
