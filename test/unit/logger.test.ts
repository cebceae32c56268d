// The process logger: level names, ISO timestamps, the text format, redaction, and one `provider` key per line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger, formatTextLine } from '../../src/logger.ts';
import { createProvider } from '../../src/providers/index.ts';
import { providerDeps } from '../fakes/provider-deps.ts';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(line) } };
}

test('JSON lines carry the level name and an ISO timestamp', () => {
  const { lines, destination } = capture();
  createLogger('info', 'json', destination).warn({ service: 'shop/web' }, 'hello');
  const record = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(record.level, 'warn');
  assert.match(String(record.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(record.msg, 'hello');
  assert.equal(record.service, 'shop/web');
});

test('credentials are redacted in both formats', () => {
  for (const format of ['json', 'text'] as const) {
    const { lines, destination } = capture();
    createLogger('info', format, destination).info({ aws: { secretAccessKey: 'hunter2' } }, 'config');
    assert.doesNotMatch(lines[0]!, /hunter2/);
    assert.match(lines[0]!, /\[redacted\]/);
  }
});

test('the text format: time, padded level, message, then the other fields as key=value', () => {
  const { lines, destination } = capture();
  const logger = createLogger('debug', 'text', destination).child({ provider: 'aws' });
  logger.info({ service: 'shop/web', durationMs: 12, note: 'two words', ports: [80, 443] }, 'load balancer ensured');
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  load balancer ensured provider=aws service=shop\/web durationMs=12 note="two words" ports=\[80,443\]\n$/,
  );
});

test('the text format passes a line that is not JSON through unchanged', () => {
  assert.equal(formatTextLine('not json'), 'not json\n');
});

test('a provider log line carries the provider key once', async () => {
  const { lines, destination } = capture();
  const logger = createLogger('info', 'json', destination);
  const config = parseConfig({ provider: { name: 'local' } });
  // As the app builds it: the provider's logger is a child of the process logger that names the provider.
  const provider = await createProvider(config, providerDeps({ logger: logger.child({ provider: config.provider.name }) }));
  await provider.start([]);
  await provider.stop();
  const line = lines.find((l) => JSON.parse(l).msg === 'local provider started');
  assert.ok(line, `no start line among ${lines.length} lines`);
  // JSON.parse keeps only the last of duplicate keys, so count them in the raw text.
  assert.equal(line.match(/"provider":/g)?.length, 1, line);
  assert.equal(JSON.parse(line).provider, 'local');
});
