// The HTTP endpoints, served for real on loopback.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { startServers, type RunningServers } from '../../src/server/servers.ts';

const logger = pino({ level: 'silent' });

function fixture() {
  const registry = new Registry();
  new Counter({ name: 'service_controller_test_total', help: 'test counter', registers: [registry] }).inc(3);
  const state = { healthy: undefined as string | undefined, notReady: [] as string[] };
  return { registry, state };
}

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

async function call(url: string, method = 'GET'): Promise<Reply> {
  const response = await fetch(url, { method });
  return { status: response.status, type: response.headers.get('content-type') ?? undefined, body: await response.text() };
}

describe('separate metrics and health servers on port 0', () => {
  const { registry, state } = fixture();
  let servers: RunningServers;
  after(() => servers.close());

  test('start and report their real ports', async () => {
    servers = await startServers({
      metricsAddress: '127.0.0.1:0',
      // Another loopback address: the same "host:0" twice would mean one shared server.
      healthAddress: '127.0.0.2:0',
      registry,
      healthz: () => state.healthy,
      readyz: () => state.notReady,
      logger,
    });
    assert.match(servers.metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    assert.match(servers.healthUrl, /^http:\/\/127\.0\.0\.2:[1-9]\d*$/);
    assert.notEqual(servers.metricsUrl, servers.healthUrl);
  });

  test('/metrics serves the registry in the Prometheus text format', async () => {
    const reply = await call(`${servers.metricsUrl}/metrics`);
    assert.equal(reply.status, 200);
    assert.equal(reply.type, registry.contentType);
    assert.match(reply.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(reply.body, /^service_controller_test_total 3$/m);
  });

  test('/healthz and /readyz answer 200 "ok" while their checks pass', async () => {
    assert.deepEqual(await call(`${servers.healthUrl}/healthz`), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
    assert.deepEqual(await call(`${servers.healthUrl}/readyz`), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
    assert.equal((await call(`${servers.healthUrl}/readyz?verbose`)).body, 'readyz check passed\n');
  });

  test('/readyz answers 503 with every reason, /healthz stays 200', async () => {
    state.notReady = ['informers not synced: services', 'leader election: lease not observed yet'];
    const reply = await call(`${servers.healthUrl}/readyz?verbose`);
    assert.equal(reply.status, 503);
    assert.equal(reply.body, '[-]informers not synced: services\n[-]leader election: lease not observed yet\nreadyz check failed\n');
    assert.equal((await call(`${servers.healthUrl}/healthz`)).status, 200);
    state.notReady = [];
  });

  test('/healthz answers 503 with the reason, and a throwing check counts as failing', async () => {
    state.healthy = 'watch on services silent for 10m';
    const reply = await call(`${servers.healthUrl}/healthz`);
    assert.equal(reply.status, 503);
    assert.match(reply.body, /\[-\]watch on services silent for 10m/);
    state.healthy = undefined;

    const throwing = await startServers({
      metricsAddress: '127.0.0.1:0',
      healthAddress: '127.0.0.1:0',
      registry,
      healthz: () => {
        throw new Error('boom');
      },
      readyz: () => [],
      logger,
    });
    try {
      const broken = await call(`${throwing.healthUrl}/healthz`);
      assert.equal(broken.status, 503);
      assert.match(broken.body, /check threw: boom/);
    } finally {
      await throwing.close();
    }
  });

  test('each path lives only on its own server; other methods are refused', async () => {
    assert.equal((await call(`${servers.healthUrl}/metrics`)).status, 404);
    assert.equal((await call(`${servers.metricsUrl}/healthz`)).status, 404);
    assert.equal((await call(`${servers.metricsUrl}/nope`)).status, 404);
    assert.equal((await call(`${servers.healthUrl}/healthz`, 'POST')).status, 405);
    const head = await call(`${servers.metricsUrl}/metrics`, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

test('one address for both: a single server serves every path', async () => {
  const { registry } = fixture();
  const servers = await startServers({
    metricsAddress: '127.0.0.1:0',
    healthAddress: '127.0.0.1:0',
    registry,
    healthz: () => undefined,
    readyz: () => [],
    logger,
  });
  try {
    assert.equal(servers.metricsUrl, servers.healthUrl);
    for (const path of ['/metrics', '/healthz', '/readyz']) assert.equal((await call(`${servers.metricsUrl}${path}`)).status, 200, path);
  } finally {
    await servers.close();
  }
});

test('":port" binds every interface and is reachable on loopback', async () => {
  const { registry } = fixture();
  const servers = await startServers({
    metricsAddress: ':0',
    healthAddress: '127.0.0.1:0',
    registry,
    healthz: () => undefined,
    readyz: () => [],
    logger,
  });
  try {
    assert.match(servers.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await call(`${servers.metricsUrl}/metrics`)).status, 200);
  } finally {
    await servers.close();
  }
});

test('a port already in use fails the start naming the field, leaving nothing listening', async () => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as AddressInfo;
  const { registry } = fixture();
  try {
    await assert.rejects(
      startServers({
        metricsAddress: '127.0.0.1:0',
        healthAddress: `127.0.0.1:${port}`,
        registry,
        healthz: () => undefined,
        readyz: () => [],
        logger,
      }),
      (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, new RegExp(`^server\\.healthAddress: cannot listen on "127\\.0\\.0\\.1:${port}": .*EADDRINUSE`));
        return true;
      },
    );
  } finally {
    blocker.close();
  }
});

test('close() returns even while a client is in the middle of a request', { timeout: 30_000 }, async () => {
  const { registry } = fixture();
  const servers = await startServers({
    metricsAddress: '127.0.0.1:0',
    healthAddress: '127.0.0.1:0',
    registry,
    healthz: () => undefined,
    readyz: () => [],
    logger,
  });
  const { hostname, port } = new URL(servers.metricsUrl);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  // Headers never finished: the connection is active, not idle, so server.close() alone would wait for it.
  socket.write('GET /metrics HTTP/1.1\r\nHost: test\r\n');
  socket.on('error', () => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  await servers.close();
  await once(socket, 'close');
});
