// The kubeconfig and in-cluster loaders: which server, TLS material and credentials a request gets.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { loadInClusterKubeConfig, loadKubeConfigFile } from '../../src/kube/kubeconfig.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(dir: string, user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'b',
      contexts: [
        { name: 'a', context: { cluster: 'other', user: 'other' } },
        { name: 'b', context: { cluster: 'c', user: 'u' } },
      ],
      clusters: [
        { name: 'other', cluster: { server: 'https://wrong:1' } },
        { name: 'c', cluster: { server: 'https://api.example:6443', 'certificate-authority-data': b64('CA'), ...cluster } },
      ],
      users: [
        { name: 'other', user: { token: 'wrong' } },
        { name: 'u', user },
      ],
    }),
  );
  return file;
}

async function applied(access: { applyToHTTPSOptions(o: RequestOptions): Promise<void> }): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await access.applyToHTTPSOptions(options);
  return options;
}

test('the current context picks the cluster and the user: inline certificates and a token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  const kc = loadKubeConfigFile(
    kubeconfig(
      dir,
      { token: 'secret', 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      { 'tls-server-name': 'kubernetes' },
    ),
  );
  assert.deepEqual(kc.getCurrentCluster(), { server: 'https://api.example:6443' });
  const options = await applied(kc);
  assert.equal(String(options.ca), 'CA');
  assert.equal(String(options.cert), 'CERT');
  assert.equal(String(options.key), 'KEY');
  assert.equal(options.servername, 'kubernetes');
  assert.equal(options.rejectUnauthorized, undefined, 'verification stays on unless the file turns it off');
  assert.deepEqual(options.headers, { Authorization: 'Bearer secret' });
});

test('files are read relative to the kubeconfig; basic auth and insecure-skip-tls-verify pass through', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  writeFileSync(join(dir, 'client.crt'), 'CERTFILE');
  writeFileSync(join(dir, 'client.key'), 'KEYFILE');
  const kc = loadKubeConfigFile(
    kubeconfig(
      dir,
      { 'client-certificate': 'client.crt', 'client-key': 'client.key', username: 'admin', password: 'pw' },
      { 'certificate-authority-data': undefined, 'insecure-skip-tls-verify': true },
    ),
  );
  const options = await applied(kc);
  assert.equal(String(options.cert), 'CERTFILE');
  assert.equal(String(options.key), 'KEYFILE');
  assert.equal(options.ca, undefined);
  assert.equal(options.rejectUnauthorized, false);
  assert.deepEqual(kc.getCurrentUser(), { username: 'admin', password: 'pw' });
});

test('a token file is read again once it may have rotated', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  writeFileSync(join(dir, 'token'), 'one\n');
  t.mock.timers.enable({ apis: ['Date'], now: 0 });
  const kc = loadKubeConfigFile(kubeconfig(dir, { tokenFile: 'token' }));
  assert.deepEqual((await applied(kc)).headers, { Authorization: 'Bearer one' });
  writeFileSync(join(dir, 'token'), 'two\n');
  assert.deepEqual((await applied(kc)).headers, { Authorization: 'Bearer one' }, 'cached within the minute');
  t.mock.timers.tick(60_000);
  assert.deepEqual((await applied(kc)).headers, { Authorization: 'Bearer two' });
});

test('a missing context is an error that names it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  const file = join(dir, 'config');
  writeFileSync(file, stringify({ 'current-context': 'nope', contexts: [], clusters: [], users: [] }));
  assert.throws(() => loadKubeConfigFile(file), /no context named "nope"/);
});

test('in cluster: the service host and port, the service account CA and token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sa-'));
  writeFileSync(join(dir, 'ca.crt'), 'SACA');
  writeFileSync(join(dir, 'token'), 'satoken');
  t.after(() => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
  });
  process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  const kc = loadInClusterKubeConfig(dir);
  assert.deepEqual(kc.getCurrentCluster(), { server: 'https://[fd00::1]:443' });
  const options = await applied(kc);
  assert.equal(String(options.ca), 'SACA');
  assert.deepEqual(options.headers, { Authorization: 'Bearer satoken' });
});

test('in cluster without the service environment is a clear error', () => {
  delete process.env.KUBERNETES_SERVICE_HOST;
  assert.throws(() => loadInClusterKubeConfig('/nonexistent'), /not running in a cluster/);
});
