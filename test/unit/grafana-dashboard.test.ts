// deploy/grafana/service-lb-controller.json: valid JSON, and every metric it queries is one the controller exports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createControllerMetrics } from '../../src/controller/metrics.ts';

const file = new URL('../../deploy/grafana/service-lb-controller.json', import.meta.url);

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ definition?: string }> };
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or values. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?/g)].filter((m) => !m[2] && !KEYWORDS.has(m[1]!)).map((m) => m[1]!);
}

/** Every series name the app's metric setup exports (histograms as _bucket, _sum and _count). */
async function exportedNames(): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  createControllerMetrics(registry);
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
    else names.add(m.name);
  }
  return names;
}

test('the dashboard is valid JSON and queries only metrics the controller exports', async () => {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition.replace(/^label_values\((\w+),.*$/, '$1')] : [])),
  ];
  const queried = new Set(exprs.flatMap(metricNames));
  const exported = await exportedNames();
  assert.deepEqual(
    [...queried].filter((name) => !exported.has(name)),
    [],
  );
  // What operators asked for: syncs, queue, provider calls, API requests by code, leader, memory.
  for (const name of [
    'service_lb_sync_duration_seconds_count',
    'workqueue_depth',
    'workqueue_queue_duration_seconds_bucket',
    'service_lb_provider_calls_total',
    'rest_client_requests_total',
    'leader_election_master_status',
    'process_resident_memory_bytes',
  ]) {
    assert.ok(queried.has(name), `the dashboard does not show ${name}`);
  }
});

test('metricNames skips functions, label matchers, grouping labels and numbers', () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.95, sum by (le, verb) (rate(rest_client_request_duration_seconds_bucket{job=~"a|b"}[5m]))) / 1e-9'),
    ['rest_client_request_duration_seconds_bucket'],
  );
});
