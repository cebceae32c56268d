// The proxy workers as the provider runs them (real threads, real sockets on loopback): a worker that
// fails is contained, and one that dies is replaced and given its balancers again.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import type { FrontendGroupSpec } from '../../src/providers/local/proxy-spec.ts';
import { ProxyWorkers } from '../../src/providers/local/proxy-workers.ts';
import { freePort } from '../support/ports.ts';
import { until } from './helpers.ts';
import { frontendGroup } from '../fakes/frontend-group.ts';

interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function capturingLogger(): { logger: pino.Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

const NO_LIMITS = { maxConnections: 0, maxBufferedBytes: 2 ** 40 };

function spec(key: string, port: number): FrontendGroupSpec {
  return frontendGroup(key, `default/${key}`, [{ protocol: 'TCP', ip: '127.0.0.1', port, nodePort: 30000, backends: [] }], {
    udpIdleMs: 1_000,
  });
}

/**
 * True when something accepts a TCP connection on 127.0.0.1:port. A frontend with no backends accepts
 * and resets at once, which may reach the client before its connect is reported.
 */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNRESET'));
  });
}

/** The thread in a slot, for the tests that must kill one. */
function workerIn(workers: ProxyWorkers, index: number): Worker {
  return (workers as unknown as { slots: { worker: Worker }[] }).slots[index]!.worker;
}

test('an apply that throws in the worker comes back as an error, and the worker carries on', async () => {
  const { logger, records } = capturingLogger();
  const workers = new ProxyWorkers(1, logger, NO_LIMITS, () => []);
  try {
    const broken = { ...spec('broken', 1), frontends: null } as unknown as FrontendGroupSpec;
    const errors = await workers.apply(broken);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^cannot serve broken: /);
    await workers.remove('broken');

    const port = await freePort();
    assert.deepEqual(await workers.apply(spec('good', port)), []);
    assert.equal(await listening(port), true);
    assert.deepEqual(
      (await workers.stats()).map((s) => s.frontend),
      [`127.0.0.1:${port}/TCP`],
    );
    assert.deepEqual(
      records.filter((r) => r.msg.startsWith('proxy worker')),
      [],
    );
  } finally {
    await workers.shutdown(0);
  }
});

test('a worker that dies is replaced after a growing delay, serves its balancers again, and logs what it cannot bind', async () => {
  const { logger, records } = capturingLogger();
  // What the provider serves: a replacement worker is given it.
  const served: FrontendGroupSpec[] = [];
  const workers = new ProxyWorkers(1, logger, NO_LIMITS, () => served);
  let blocker: Server | undefined;
  try {
    const port = await freePort();
    served.push(spec('web', port));
    assert.deepEqual(await workers.apply(served[0]!), []);

    // First death: the replacement binds the port again.
    await workerIn(workers, 0).terminate();
    assert.deepEqual(await workers.stats(), [], 'a slot waiting for its replacement answers at once');
    // What the proxy's /healthz reports meanwhile, and no more once the replacement answers.
    assert.deepEqual(await workers.problems(2_000), ['proxy worker 0 exited and is being replaced']);
    await until('the replacement serves the port', async () =>
      (await workers.stats()).length === 1 && (await listening(port)) ? true : undefined,
    );
    assert.deepEqual(await workers.problems(2_000), []);

    // Second death soon after: the delay doubles, and a port taken meanwhile is logged, not lost.
    await workerIn(workers, 0).terminate();
    blocker = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => blocker!.once('error', reject).listen(port, '127.0.0.1', resolve));
    const refused = await until('the replay failure is logged', async () =>
      records.find((r) => r.msg === 'replacement proxy worker cannot serve the load balancer'),
    );
    assert.equal(refused.service, 'default/web');
    assert.deepEqual(refused.errors, [`cannot listen on 127.0.0.1:${port}/TCP: the port is in use by another program`]);

    const exits = records.filter((r) => r.msg === 'proxy worker exited; starting a new one');
    assert.deepEqual(
      exits.map((r) => r.delayMs),
      [100, 200],
    );

    // The spec is still wanted: the next apply binds once the port is free.
    await new Promise((resolve) => blocker!.close(resolve));
    blocker = undefined;
    assert.deepEqual(await workers.apply(spec('web', port)), []);
    assert.equal(await listening(port), true);
  } finally {
    blocker?.close();
    await workers.shutdown(0);
  }
});

test("a worker's engine takes the limits and the group's settings: engine and listener limits, idle timeout", async () => {
  const { logger } = capturingLogger();
  const workers = new ProxyWorkers(1, logger, { maxConnections: 3, maxBufferedBytes: 1024 * 1024 }, () => []);
  const node = createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
  const nodePort = (node.address() as AddressInfo).port;
  const backends = [{ node: 'n1', address: '127.0.0.1', healthy: true }];
  const clients: Socket[] = [];
  const open = async (port: number, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      clients.push(socket);
      // A refused one may be reset before its connect is reported.
      await new Promise((resolve) => socket.once('connect', resolve).once('error', resolve));
    }
  };
  const rejected = async (port: number): Promise<Record<string, number | undefined>> =>
    (await workers.stats()).find((s) => s.frontend === `127.0.0.1:${port}/TCP`)!.rejected;
  try {
    const [a, b] = [await freePort(), await freePort()];
    const limited = { ...spec('a', a), maxConnectionsPerListener: 2, idleTimeoutMs: 1_000 };
    assert.deepEqual(await workers.apply({ ...limited, frontends: [{ ...limited.frontends[0]!, nodePort, backends }] }), []);
    const plain = spec('b', b);
    assert.deepEqual(await workers.apply({ ...plain, frontends: [{ ...plain.frontends[0]!, nodePort, backends }] }), []);

    await open(a, 3);
    await until('the third connection to a is refused', async () => ((await rejected(a)).listener_limit === 1 ? true : undefined));
    await open(b, 3);
    await until('the engine limit refuses two on b', async () => ((await rejected(b)).global_limit === 2 ? true : undefined));
    // a's two connections say nothing: the idle timeout closes them, and b has room again.
    await until('the idle connections on a are closed', async () =>
      (await workers.stats()).find((s) => s.frontend === `127.0.0.1:${a}/TCP`)!.active === 0 ? true : undefined,
    );
    await open(b, 1);
    assert.equal((await rejected(b)).global_limit, 2);
  } finally {
    for (const socket of clients) socket.destroy();
    node.close();
    await workers.shutdown(0);
  }
});

test('with no workers the data path runs on this thread: it carries TCP and UDP, counts, and a failing apply stays an error', async () => {
  const { logger } = capturingLogger();
  const workers = new ProxyWorkers(0, logger, NO_LIMITS, () => []);
  const tcpNode = createServer((socket) => socket.on('error', () => {}).pipe(socket));
  await new Promise<void>((resolve) => tcpNode.listen(0, '127.0.0.1', resolve));
  const udpNode = createSocket('udp4').on('message', (data, from) => udpNode.send(data, from.port, from.address));
  await new Promise<void>((resolve) => udpNode.bind(0, '127.0.0.1', resolve));
  const client = createSocket('udp4');
  try {
    const [tcpPort, udpPort] = [await freePort(), await freePort()];
    const base = spec('both', tcpPort);
    const backends = [{ node: 'n1', address: '127.0.0.1', healthy: true }];
    const frontends: FrontendGroupSpec['frontends'] = [
      { protocol: 'TCP', ip: '127.0.0.1', port: tcpPort, nodePort: (tcpNode.address() as AddressInfo).port, backends },
      { protocol: 'UDP', ip: '127.0.0.1', port: udpPort, nodePort: (udpNode.address() as AddressInfo).port, backends },
    ];
    assert.deepEqual(await workers.apply({ ...base, frontends }), []);

    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: tcpPort }, () => socket.end('over tcp'));
      let data = '';
      socket
        .on('data', (chunk) => (data += chunk))
        .on('end', () => resolve(data))
        .on('error', reject);
    });
    assert.equal(echoed, 'over tcp');
    const reply = new Promise<string>((resolve) => client.once('message', (data) => resolve(data.toString())));
    client.send('over udp', udpPort, '127.0.0.1');
    assert.equal(await reply, 'over udp');
    const stats = await workers.stats();
    assert.equal(stats.find((s) => s.frontend === `127.0.0.1:${tcpPort}/TCP`)?.opened, 1);
    assert.equal(stats.find((s) => s.frontend === `127.0.0.1:${udpPort}/UDP`)?.opened, 1);

    const broken = { ...spec('broken', await freePort()), frontends: null } as unknown as FrontendGroupSpec;
    const errors = await workers.apply(broken);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^cannot serve broken: /);
    assert.deepEqual(await workers.problems(1_000), []);

    await workers.remove('both');
    assert.equal(await listening(tcpPort), false);
  } finally {
    client.close();
    udpNode.close();
    tcpNode.close();
    await workers.shutdown(0);
  }
});
