// Hostile clients against the local data path on loopback: connection floods and half-open clients
// bounded per listener and per engine, slow readers bounded by the buffer budget, idle connections
// closed, UDP floods from many sources bounded by the flow limit. Other listeners keep serving throughout.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import { dataPathLimits, fdLimit } from '../../src/providers/local/limits.ts';
import type { FrontendSettings, NodeBackend } from '../../src/providers/local/proxy-spec.ts';
import { sourceFilter } from '../../src/providers/local/source-ranges.ts';
import { engineUsage, setEngineLimits, TcpFrontend } from '../../src/providers/local/tcp-proxy.ts';
import { UdpFrontend } from '../../src/providers/local/udp-proxy.ts';
import { freePort } from '../support/ports.ts';
import { until } from './helpers.ts';

const plain: FrontendSettings = { sourceRanges: [], affinity: 'None', drainGraceMs: 0, maxConnectionsPerListener: 0, idleTimeoutMs: 0 };
const NO_LIMITS = { maxConnections: 0, maxBufferedBytes: 2 ** 40 };

async function listen(server: Server): Promise<number> {
  // Node's default backlog (511) would drop the SYNs of a flood the proxy passes on while this thread is busy.
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<unknown> {
  return new Promise((resolve) => server.close(resolve));
}

/** A node that echoes, and keeps its sockets so that a test can end them. */
async function echoNode(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  return { server, port: await listen(server), sockets };
}

const loopbackNode = (name: string): NodeBackend => ({ node: name, address: '127.0.0.1', healthy: true });

/** A frontend whose one node serves on nodePort. */
async function frontend(name: string, nodePort: number, settings: FrontendSettings): Promise<{ tcp: TcpFrontend; port: number }> {
  const port = await freePort();
  const tcp = new TcpFrontend({ protocol: 'TCP', ip: '127.0.0.1', port, nodePort, backends: [loopbackNode(name)] }, settings);
  await tcp.listen();
  return { tcp, port };
}

/** One round trip on a new connection: what came back, or the error code. */
function roundTrip(port: number, message = 'ping'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(10_000, () => socket.destroy(new Error('ETIMEDOUT')));
    socket.on('connect', () => socket.write(message));
    socket.on('data', (d: Buffer) => {
      socket.destroy();
      resolve(d.toString());
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    socket.on('close', () => resolve('closed'));
  });
}

/** Opens count connections that send nothing; each settles when connected or failed. */
async function openIdle(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port });
          sockets.push(socket);
          socket.on('connect', () => resolve());
          socket.on('error', () => resolve());
        }),
    ),
  );
  return sockets;
}

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

describe('hostile clients on the local data path', () => {
  const opened: TcpFrontend[] = [];
  const clients: Socket[] = [];
  let node: Awaited<ReturnType<typeof echoNode>>;

  before(async () => {
    node = await echoNode();
  });

  afterEach(async () => {
    for (const socket of clients.splice(0)) socket.destroy();
    for (const tcp of opened.splice(0)) tcp.cut();
    for (const socket of node.sockets) socket.destroy();
    setEngineLimits(NO_LIMITS);
  });

  after(() => closeServer(node.server));

  const serve = async (settings: FrontendSettings): Promise<{ tcp: TcpFrontend; port: number }> => {
    const made = await frontend('n1', node.port, settings);
    opened.push(made.tcp);
    return made;
  };

  test('a flood on one listener stops at its limit, is counted, and another listener keeps serving', async () => {
    setEngineLimits(NO_LIMITS);
    const flooded = await serve({ ...plain, maxConnectionsPerListener: 50 });
    const other = await serve({ ...plain, maxConnectionsPerListener: 50 });
    clients.push(...(await openIdle(flooded.port, 300)));
    await until('every connection past the limit is refused', async () =>
      flooded.tcp.stats().rejected.listener_limit === 250 ? true : undefined,
    );
    assert.equal(flooded.tcp.liveCount, 50);
    for (let i = 0; i < 20; i++) assert.equal(await roundTrip(other.port, `m${i}`), `m${i}`);
    assert.equal(other.tcp.stats().rejected.listener_limit, 0);

    // The flood resets everything it holds: the listener frees up and serves again.
    for (const socket of clients.splice(0)) socket.resetAndDestroy();
    await until('the reset connections are gone', async () => (flooded.tcp.liveCount === 0 ? true : undefined));
    assert.equal(await roundTrip(flooded.port), 'ping');
  });

  test('the engine-wide limit refuses on every listener, counted as global_limit, until connections close', async () => {
    await until('the engine is empty', async () => (engineUsage().connections === 0 ? true : undefined));
    setEngineLimits({ maxConnections: 40, maxBufferedBytes: 2 ** 40 });
    const a = await serve(plain);
    const b = await serve(plain);
    clients.push(...(await openIdle(a.port, 100)));
    await until('the flood fills the engine', async () => (a.tcp.stats().rejected.global_limit === 60 ? true : undefined));
    assert.equal(engineUsage().connections, 40);
    assert.match(await roundTrip(b.port), /^error (ECONNRESET|EPIPE)$/);
    assert.equal(b.tcp.stats().rejected.global_limit, 1);

    for (const socket of clients.splice(0)) socket.destroy();
    await until('the engine is empty', async () => (engineUsage().connections === 0 ? true : undefined));
    assert.equal(await roundTrip(b.port), 'ping');
  });

  test('slow readers: buffered bytes stay within the budget, and every byte arrives once they read', async () => {
    const budget = 256 * 1024;
    setEngineLimits({ maxConnections: 0, maxBufferedBytes: budget });
    const perConnection = 4 * 1024 * 1024;
    const connections = 16;
    // A node that sends perConnection bytes of a counting pattern, then FIN.
    const source = createServer((socket) => {
      socket.on('error', () => {});
      let sent = 0;
      const write = (): void => {
        while (sent < perConnection) {
          const chunk = Buffer.alloc(64 * 1024);
          for (let i = 0; i < chunk.length; i++) chunk[i] = (sent + i) % 251;
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', write);
        }
        socket.end();
      };
      write();
    });
    const sourcePort = await listen(source);
    const { tcp, port } = await frontend('source', sourcePort, plain);
    opened.push(tcp);
    try {
      const readers = Array.from({ length: connections }, () => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.pause();
        clients.push(socket);
        return socket;
      });
      // Each stalled connection would keep up to 64 KiB, 1 MiB in all; the budget lets a quarter of it in.
      let most = 0;
      await until(
        'the buffer budget is used up',
        async () => {
          most = Math.max(most, engineUsage().bufferedBytes);
          return engineUsage().bufferedBytes > budget / 2 ? true : undefined;
        },
        60_000,
      );
      for (let i = 0; i < 20; i++) {
        most = Math.max(most, engineUsage().bufferedBytes);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(most <= budget, `the engine held ${most} bytes, over its budget of ${budget}`);
      assert.ok(tcp.stats().bytesOut < connections * perConnection, 'the readers were not held back');

      const results = await Promise.all(
        readers.map(
          (socket) =>
            new Promise<{ bytes: number; intact: boolean }>((resolve) => {
              let bytes = 0;
              let intact = true;
              socket.on('data', (d: Buffer) => {
                for (let i = 0; i < d.length && intact; i++) intact = d[i] === (bytes + i) % 251;
                bytes += d.length;
              });
              socket.on('end', () => resolve({ bytes, intact }));
              socket.on('error', () => resolve({ bytes, intact: false }));
              socket.resume();
            }),
        ),
      );
      for (const r of results) assert.deepEqual(r, { bytes: perConnection, intact: true });
      await until('nothing is buffered any more', async () => (engineUsage().bufferedBytes === 0 ? true : undefined));
    } finally {
      await closeServer(source);
    }
  });

  test('a connection with no bytes either way for the idle timeout is closed; a busy one is not', async () => {
    const timeoutMs = 3_000;
    const { tcp, port } = await serve({ ...plain, idleTimeoutMs: timeoutMs });
    const idle = connect({ host: '127.0.0.1', port });
    const busy = connect({ host: '127.0.0.1', port });
    const silent = connect({ host: '127.0.0.1', port });
    clients.push(idle, busy, silent);
    const closed = (socket: Socket): Promise<void> =>
      new Promise((resolve) => {
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
    const idleClosed = closed(idle);
    const silentClosed = closed(silent);
    // The engine runs on its own thread, so a stalled test process (a loaded machine) really leaves the
    // busy client silent: its close is a failure only when it came without such a gap.
    let lastWriteAt = Date.now();
    let busyClosedAfterGapMs: number | undefined;
    void closed(busy).then(() => (busyClosedAfterGapMs = Date.now() - lastWriteAt));
    let echoed = 0;
    busy.on('data', (d: Buffer) => (echoed += d.length));
    idle.write('hello');
    await new Promise((resolve) => idle.once('data', resolve));
    // The busy client sends every 100 ms; the idle one said hello once; the silent one never spoke.
    const ticker = setInterval(() => {
      busy.write('x');
      lastWriteAt = Date.now();
    }, 100);
    try {
      await Promise.all([idleClosed, silentClosed]);
      if (busyClosedAfterGapMs !== undefined) {
        assert.ok(
          busyClosedAfterGapMs >= timeoutMs,
          `a connection with traffic was closed ${busyClosedAfterGapMs} ms after its last write`,
        );
      } else {
        assert.ok(echoed > 0);
        assert.equal(tcp.liveCount, 1);
      }
    } finally {
      clearInterval(ticker);
    }
  });

  test('10,000 clients that connect and send nothing: bounded by the default limits, the process stays up, another listener serves', async (t: TestContext) => {
    const limits = dataPathLimits({ maxBufferedBytes: 32 * 1024 * 1024 }, fdLimit());
    setEngineLimits({ maxConnections: limits.maxConnections, maxBufferedBytes: limits.maxBufferedBytes });
    const settings = { ...plain, maxConnectionsPerListener: limits.maxConnectionsPerListener };
    const flooded = await serve(settings);
    const other = await serve(settings);
    const count = 10_000;
    const before = { rss: process.memoryUsage().rss, fds: fdCount() };
    // The clients live in a child process: with two descriptors per proxied connection here, one
    // process could not hold both ends of 10,000 under a 20,000-descriptor limit.
    const flood = spawn(
      process.execPath,
      [
        '-e',
        `const net = require('node:net');
         const [port, count] = process.argv.slice(1).map(Number);
         const sockets = [];
         (async () => {
           for (let i = 0; i < count; i += 500) {
             await Promise.all(Array.from({ length: Math.min(500, count - i) }, () => new Promise((resolve) => {
               const s = net.connect({ host: '127.0.0.1', port });
               sockets.push(s);
               s.on('connect', resolve);
               s.on('error', resolve);
             })));
           }
           process.stdout.write('done\\n');
         })();
         setInterval(() => {}, 1000);`,
        String(flooded.port),
        String(count),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => flood.once('exit', resolve));
    try {
      await until('the flood is sent', async () => (String(flood.stdout.read() ?? '').includes('done') ? true : undefined), 300_000);
      const held = Math.min(count, limits.maxConnectionsPerListener);
      await until(
        'every connection is held or refused',
        async () => (flooded.tcp.liveCount + (flooded.tcp.stats().rejected.listener_limit ?? 0) === count ? true : undefined),
        120_000,
      );
      const during = { rss: process.memoryUsage().rss, fds: fdCount() };
      assert.equal(flooded.tcp.liveCount, held);
      for (let i = 0; i < 20; i++) assert.equal(await roundTrip(other.port, `m${i}`), `m${i}`);
      t.diagnostic(
        `fd limit ${fdLimit()}: per-listener limit ${limits.maxConnectionsPerListener}, engine limit ${limits.maxConnections}; ` +
          `held ${held}, refused ${count - held}`,
      );
      t.diagnostic(
        `test process (engine + node + test): before ${mib(before.rss)} RSS, ${before.fds} fds; ` +
          `with the flood ${mib(during.rss)} RSS, ${during.fds} fds`,
      );
      flood.kill('SIGKILL');
      await exited;
      await until('the flood is gone', async () => (flooded.tcp.liveCount === 0 ? true : undefined), 60_000);
      const afterwards = { rss: process.memoryUsage().rss, fds: fdCount() };
      t.diagnostic(`after the flood: ${mib(afterwards.rss)} RSS, ${afterwards.fds} fds`);
      assert.equal(await roundTrip(flooded.port), 'ping');
    } finally {
      flood.kill('SIGKILL');
    }
  });
});

describe('UDP flood from many sources', () => {
  let echo: UdpSocket;
  let udp: UdpFrontend | undefined;
  const sources: UdpSocket[] = [];

  before(async () => {
    echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
  });

  after(() => {
    udp?.cut();
    for (const socket of [echo, ...sources]) socket.close();
  });

  test('sources past the flow limit are dropped and counted; flows in place keep their replies', async () => {
    const port = await freePort();
    const maxFlows = 20;
    udp = new UdpFrontend(
      { protocol: 'UDP', ip: '127.0.0.1', port, nodePort: echo.address().port, backends: [loopbackNode('n1')] },
      { filter: sourceFilter([]), idleMs: 60_000, maxFlows },
      'None',
    );
    await udp.listen();
    const replies = new Map<UdpSocket, number>();
    for (let i = 0; i < 200; i++) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      replies.set(socket, 0);
      socket.on('message', () => replies.set(socket, replies.get(socket)! + 1));
      sources.push(socket);
    }
    // The first maxFlows sources open their flows before the flood.
    for (const socket of sources.slice(0, maxFlows)) {
      socket.send('hello', port, '127.0.0.1');
      await until('the flow answers', async () => (replies.get(socket)! > 0 ? true : undefined));
    }
    for (let round = 0; round < 3; round++) for (const socket of sources.slice(maxFlows)) socket.send('flood', port, '127.0.0.1');
    // Loopback may drop a datagram under load, so at least one per flooding source, not all three.
    await until('the flooding datagrams are dropped and counted', async () =>
      udp!.stats().rejected.flow_limit! >= sources.length - maxFlows ? true : undefined,
    );
    assert.equal(udp.liveCount, maxFlows);
    for (const socket of sources.slice(maxFlows)) assert.equal(replies.get(socket), 0);
    const first = sources[0]!;
    first.send('again', port, '127.0.0.1');
    await until('a flow in place still answers', async () => (replies.get(first)! === 2 ? true : undefined));
  });
});
