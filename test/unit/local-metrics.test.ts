// The data path's metric families as rendered text, and the registry that serves them after prom-client's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter } from 'prom-client';
import { registerDataPathMetrics, renderDataPathMetrics } from '../../src/providers/local/metrics.ts';
import type { FrontendStats } from '../../src/providers/local/proxy-spec.ts';
import { MetricsRegistry } from '../../src/server/metrics-registry.ts';

const stats = (service: string, frontend: string, rejected: FrontendStats['rejected']): FrontendStats => ({
  key: service,
  service,
  frontend,
  opened: 7,
  active: 2,
  bytesIn: 100,
  bytesOut: 250,
  rejected,
});

test('each family once, with HELP and TYPE, a sample per frontend, and label values escaped', () => {
  const text = renderDataPathMetrics([
    stats('default/web', '10.0.0.1:80/TCP', { source_range: 0, connect_failed: 3 }),
    stats('odd/"quoted"\\back\nline', '[fd00::1]:53/UDP', { flow_limit: 1, source_range: undefined }),
  ]);
  const lines = text.trimEnd().split('\n');
  for (const [family, type] of [
    ['service_lb_local_connections_total', 'counter'],
    ['service_lb_local_active_connections', 'gauge'],
    ['service_lb_local_bytes_total', 'counter'],
    ['service_lb_local_rejected_total', 'counter'],
  ]) {
    assert.equal(lines.filter((l) => l.startsWith(`# TYPE ${family} `)).length, 1, family);
    assert.ok(lines.includes(`# TYPE ${family} ${type}`), family);
  }
  assert.ok(lines.includes('service_lb_local_connections_total{service="default/web",frontend="10.0.0.1:80/TCP"} 7'));
  assert.ok(lines.includes('service_lb_local_active_connections{service="default/web",frontend="10.0.0.1:80/TCP"} 2'));
  assert.ok(lines.includes('service_lb_local_bytes_total{service="default/web",frontend="10.0.0.1:80/TCP",direction="out"} 250'));
  assert.ok(lines.includes('service_lb_local_rejected_total{service="default/web",frontend="10.0.0.1:80/TCP",reason="source_range"} 0'));
  const odd = 'service="odd/\\"quoted\\"\\\\back\\nline",frontend="[fd00::1]:53/UDP"';
  assert.ok(lines.includes(`service_lb_local_rejected_total{${odd},reason="flow_limit"} 1`), text);
  assert.equal(lines.filter((l) => l.includes('reason="source_range"')).length, 1, 'an undefined reason has no sample');
  // Every sample line is one line: nothing in a label value broke it.
  for (const line of lines) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^\n]*\} \d+)$/);
});

test("the registry serves prom-client's families and the rendered ones, asking the data path once per scrape", async () => {
  const registry = new MetricsRegistry();
  new Counter({ name: 'plain_total', help: 'a prom-client counter', registers: [registry] }).inc(4);
  let asked = 0;
  registerDataPathMetrics(registry, async () => {
    asked++;
    return [stats('default/web', '10.0.0.1:80/TCP', {})];
  });
  const text = await registry.metrics();
  assert.match(text, /^plain_total 4$/m);
  assert.match(text, /^service_lb_local_connections_total\{service="default\/web",frontend="10\.0\.0\.1:80\/TCP"\} 7$/m);
  assert.equal(asked, 1);
  assert.ok(text.endsWith('\n'));
});
