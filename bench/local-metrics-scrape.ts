// What a /metrics scrape costs the controller at 1000 frontends: the text size, the time, and RSS and heap
// after each of five scrapes (run with the bin's flags: MALLOC_ARENA_MAX=2 node --optimize-for-size).
import { registerDataPathMetrics } from '../src/providers/local/metrics.ts';
import type { FrontendStats } from '../src/providers/local/proxy-spec.ts';
import { MetricsRegistry } from '../src/server/metrics-registry.ts';

const FRONTENDS = Number(process.env.BENCH_FRONTENDS ?? 1000);
const stats: FrontendStats[] = Array.from({ length: FRONTENDS }, (_, i) => ({
  key: `bench/svc-${i}`,
  service: `bench/svc-${i}`,
  frontend: `127.99.${i >> 8}.${i & 255}:80/TCP`,
  opened: 3,
  active: 0,
  bytesIn: 100,
  bytesOut: 200,
  rejected: { source_range: 0, no_healthy_target: 0, connect_failed: 0, listener_limit: 0, global_limit: 0 },
}));
const registry = new MetricsRegistry();
// A fresh answer per scrape, as the data path gives.
registerDataPathMetrics(registry, async () => stats.map((s) => ({ ...s, rejected: { ...s.rejected } })));
const memory = () => {
  const m = process.memoryUsage();
  return `RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB, heap used ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB`;
};
console.log(`${FRONTENDS} frontends; before: ${memory()}`);
for (let i = 1; i <= 5; i++) {
  const started = performance.now();
  const text = await registry.metrics();
  console.log(`scrape ${i}: ${(text.length / 1e6).toFixed(2)} MB of text in ${(performance.now() - started).toFixed(0)} ms; ${memory()}`);
  await new Promise((resolve) => setTimeout(resolve, 150));
}
