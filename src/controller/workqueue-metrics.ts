// client-go's workqueue metrics (workqueue_*{name}), so dashboards and alerts written for Kubernetes controllers work unchanged.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueObserver } from './queue.ts';

/** client-go's buckets for both latencies: prometheus.ExponentialBuckets(10e-9, 10, 10). */
const BUCKETS = Array.from({ length: 10 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

/**
 * Meanings as in client-go: depth counts keys added and not yet taken (a key added while in work included),
 * queue duration runs from the add to a worker taking the key, and the two in-progress gauges are computed
 * at scrape time rather than on client-go's 500 ms tick.
 */
export function createWorkqueueMetrics(registry: Registry, name: string, now: () => number = () => performance.now()): QueueObserver {
  const registers = [registry];
  const labels = { name };
  const addedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'],
    registers,
    collect() {
      this.set(labels, addedAt.size);
    },
  });
  const adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: ['name'],
    registers,
  });
  const queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested.',
    labelNames: ['name'],
    buckets: BUCKETS,
    registers,
  });
  const workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes.',
    labelNames: ['name'],
    buckets: BUCKETS,
    registers,
  });
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help: "How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads.",
    labelNames: ['name'],
    registers,
    collect() {
      const t = now();
      let total = 0;
      for (const started of startedAt.values()) total += t - started;
      this.set(labels, total / 1000);
    },
  });
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
    labelNames: ['name'],
    registers,
    collect() {
      const t = now();
      let longest = 0;
      for (const started of startedAt.values()) longest = Math.max(longest, t - started);
      this.set(labels, longest / 1000);
    },
  });
  const retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name'],
    registers,
  });
  // Zero series from the start, so rate() and dashboards see the queue before its first add.
  adds.inc(labels, 0);
  retries.inc(labels, 0);
  queueDuration.zero(labels);
  workDuration.zero(labels);

  return {
    onAdd(key) {
      adds.inc(labels);
      if (!addedAt.has(key)) addedAt.set(key, now());
    },
    onStart(key) {
      const added = addedAt.get(key);
      if (added !== undefined) queueDuration.observe(labels, (now() - added) / 1000);
      addedAt.delete(key);
      startedAt.set(key, now());
    },
    onDone(key) {
      const started = startedAt.get(key);
      if (started !== undefined) workDuration.observe(labels, (now() - started) / 1000);
      startedAt.delete(key);
    },
    onRetry() {
      retries.inc(labels);
    },
  };
}
