// docs/ stays true: every event reason the controller and its providers can emit is explained in docs/troubleshooting.md.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Reasons as the code writes them: literally after the event type (`record(svc, 'Warning', 'Reason', ...)`),
 * or in a `reason: 'Reason'` field that a provider hands to events.record later (Azure's annotation warnings).
 */
function eventReasons(): Set<string> {
  const reasons = new Set<string>();
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/'(?:Warning|Normal)',\s*'([A-Za-z]+)'/g)) reasons.add(m[1]!);
    for (const m of text.matchAll(/\breason:\s*'([A-Z][A-Za-z]+)'/g)) reasons.add(m[1]!);
  }
  return reasons;
}

test('docs/troubleshooting.md explains every event reason found in src/', () => {
  const reasons = eventReasons();
  // The upstream eight alone: fewer means the scan above no longer sees how the code records events.
  assert.ok(reasons.size >= 8, `found only ${[...reasons].join(', ')}`);
  const page = readFileSync(join(root, 'docs/troubleshooting.md'), 'utf8');
  const missing = [...reasons].filter((reason) => !page.includes(`\`${reason}\``)).sort();
  assert.deepEqual(missing, [], 'reasons emitted by the code but not in docs/troubleshooting.md');
});
