// Listen address parsing and probe answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localUrl, parseListenAddress } from '../../src/server/address.ts';
import { probeResponse } from '../../src/server/health.ts';

test('parseListenAddress accepts ":port", "host:port" and "[v6]:port"', () => {
  assert.deepEqual(parseListenAddress(':8080'), { host: undefined, port: 8080 });
  assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseListenAddress('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseListenAddress('[::]:10258'), { host: '::', port: 10258 });
  assert.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
});

test('parseListenAddress rejects what it cannot bind', () => {
  for (const bad of ['8080', '::1:9000', 'host:', 'host:70000', '[::1]', ':port', 'a b:1']) {
    assert.throws(() => parseListenAddress(bad), /invalid listen address/, bad);
  }
});

test('localUrl brackets IPv6 and maps wildcard binds to loopback', () => {
  assert.equal(localUrl('127.0.0.1', 80), 'http://127.0.0.1:80');
  assert.equal(localUrl('::1', 9000), 'http://[::1]:9000');
  assert.equal(localUrl('::', 8080), 'http://127.0.0.1:8080');
  assert.equal(localUrl('0.0.0.0', 8080), 'http://127.0.0.1:8080');
});

test('probeResponse: 200 "ok" when nothing fails, 503 listing every failure otherwise', () => {
  assert.deepEqual(probeResponse('readyz', [], false), { status: 200, body: 'ok' });
  assert.deepEqual(probeResponse('readyz', [], true), { status: 200, body: 'readyz check passed\n' });
  assert.deepEqual(probeResponse('readyz', ['informers not synced', 'leader\nunknown'], false), {
    status: 503,
    body: '[-]informers not synced\n[-]leader unknown\nreadyz check failed\n',
  });
});
