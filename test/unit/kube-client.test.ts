// The API client: the client-side token bucket (on a fake clock), Retry-After on 429, watches exempt from the limit, and TLS connection reuse.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeClient } from '../../src/kube/client.ts';
import { TokenBucket, type Clock } from '../../src/kube/rate-limiter.ts';
import { generateClusterPki } from '../harness/certs.ts';

/** Time moves only when a sleeper is woken by advance(): nothing here depends on the machine's speed. */
function fakeClock() {
  let now = 0;
  const sleepers: Array<{ at: number; wake: () => void }> = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms) => new Promise<void>((resolve) => sleepers.push({ at: now + ms, wake: resolve })),
  };
  return {
    clock,
    sleeping: () => sleepers.map((s) => s.at - now),
    advance(ms: number) {
      now += ms;
      for (const s of sleepers.filter((x) => x.at <= now)) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.wake();
      }
    },
  };
}

describe('token bucket', () => {
  test('a burst goes at once; beyond it callers wait 1/qps each, in order', async () => {
    const fake = fakeClock();
    const bucket = new TokenBucket(10, 3, fake.clock);
    assert.deepEqual(await Promise.all([bucket.take(), bucket.take(), bucket.take()]), [0, 0, 0]);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => bucket.take().then(() => order.push(n)));
    assert.deepEqual(fake.sleeping(), [100, 200, 300]);
    fake.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, [1]);
    fake.advance(200);
    await Promise.all(waiting);
    assert.deepEqual(order, [1, 2, 3]);
  });

  test('tokens refill with time, never beyond the burst', async () => {
    const fake = fakeClock();
    const bucket = new TokenBucket(10, 2, fake.clock);
    await bucket.take();
    await bucket.take();
    fake.advance(60_000);
    assert.deepEqual(await Promise.all([bucket.take(), bucket.take()]), [0, 0]);
    void bucket.take();
    assert.deepEqual(fake.sleeping(), [100]);
  });

  test('a caller that gives up returns its token', async () => {
    const waits: number[] = [];
    const clock: Clock = {
      now: () => 0,
      sleep: (ms, signal) => {
        waits.push(ms);
        return signal
          ? new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
          : Promise.resolve();
      },
    };
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    const aborter = new AbortController();
    const gaveUp = bucket.take(aborter.signal);
    aborter.abort(new Error('stop'));
    await assert.rejects(gaveUp, /stop/);
    await bucket.take();
    // Had the token been kept, the next caller would have had to wait two seconds.
    assert.deepEqual(waits, [1000, 1000]);
  });
});

describe('KubeClient against a local server', () => {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    if (req.url?.startsWith('/api/v1/namespaces/busy/')) {
      res.writeHead(429, { 'retry-after': '7', 'content-type': 'text/plain' });
      res.end('Too many requests, please try again later.');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'NodeList', metadata: { resourceVersion: '1' }, items: [] }));
  });
  let kubeConfig: KubeConfig;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("429 with Retry-After (seconds) keeps the delay on the error (retryAfterMs), for the controller's requeue", async () => {
    const client = new KubeClient(kubeConfig);
    const err = await client.request('GET', '/api/v1/namespaces/busy/services/web').catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.status, 429);
    assert.equal(err.retryAfterMs, 7000);
    await client.close();
  });

  test('every request waits for a token; the counts reach the server only as fast as the bucket allows', async () => {
    const fake = fakeClock();
    const client = new KubeClient(kubeConfig, () => {}, { rateLimit: { qps: 5, burst: 2, clock: fake.clock } });
    const before = seen.length;
    const requests = Array.from({ length: 4 }, () => client.request('GET', '/api/v1/nodes'));
    while (seen.length - before < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Nothing moves the fake clock, so only the burst can have been sent, however long we look.
    assert.equal(seen.length - before, 2);
    assert.deepEqual(fake.sleeping(), [200, 400]);
    fake.advance(400);
    await Promise.all(requests);
    assert.equal(seen.length - before, 4);
    await client.close();
  });
});

describe('KubeClient over TLS with a client certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slc-kube-client-'));
  const pki = generateClusterPki(dir);
  let connections = 0;
  const clients: string[] = [];
  const server = createHttpsServer(
    {
      ca: pki.caCertPem,
      cert: readFileSync(pki.servingCertPath),
      key: readFileSync(pki.servingKeyPath),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      clients.push((req.socket as TLSSocket).getPeerCertificate().subject.CN as string);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"NodeList","items":[]}');
    },
  );
  server.on('secureConnection', () => connections++);
  // Idle connections stay open however slowly the test runs.
  server.keepAliveTimeout = 60_000;
  let kubeConfig: KubeConfig;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caData: Buffer.from(pki.caCertPem).toString('base64'),
        },
      ],
      users: [
        {
          name: 'u',
          certData: Buffer.from(pki.adminCertPem).toString('base64'),
          keyData: Buffer.from(pki.adminKeyPem).toString('base64'),
        },
      ],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('requests reuse the connections they opened, each presenting the client certificate', async () => {
    const client = new KubeClient(kubeConfig);
    for (let i = 0; i < 10; i++) await client.request('GET', '/api/v1/nodes');
    assert.equal(connections, 1);
    // Four at once open at most four connections; four more after them find those free.
    await Promise.all(Array.from({ length: 4 }, () => client.request('GET', '/api/v1/nodes')));
    const opened = connections;
    assert.ok(opened >= 1 && opened <= 4, `${opened} connections`);
    await Promise.all(Array.from({ length: 4 }, () => client.request('GET', '/api/v1/namespaces/a/services')));
    assert.equal(connections, opened);
    assert.deepEqual(new Set(clients), new Set(['test-admin']));
    assert.equal(clients.length, 18);
    await client.close();
  });
});
