// The native TCP engine behind TcpFrontend, on loopback: what it must do byte for byte (FIN passed on,
// backpressure, no buffering beyond the sockets), which node it picks (the same as the TypeScript hash
// the UDP path uses), and what it refuses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pickForClient } from '../../src/providers/local/node-picker.ts';
import type { BackendSpec, FrontendSettings } from '../../src/providers/local/proxy-spec.ts';
import { TcpFrontend } from '../../src/providers/local/tcp-proxy.ts';
import { freePort } from '../support/ports.ts';
import { until } from './helpers.ts';

const plain: FrontendSettings = { sourceRanges: [], affinity: 'None', drainGraceMs: 0, maxConnectionsPerListener: 0, idleTimeoutMs: 0 };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A node that answers every connection with its name, then FIN, in one write. */
async function namedNode(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${name}\n`);
  });
  return { server, port: await listen(server) };
}

/** A node that sends to every connection, as fast as it is read, until the connection ends. */
function streamingNode(chunkSize: number): Server {
  const chunk = Buffer.alloc(chunkSize, 7);
  return createServer((socket) => {
    socket.on('error', () => {});
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  });
}

/** Connects, optionally from a given local address, and reads until FIN; an error is the result. */
function exchange(port: number, localAddress?: string, send?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true });
    let text = '';
    socket.on('connect', () => (send === undefined ? undefined : socket.end(send)));
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('end', () => {
      socket.destroy();
      resolve(text);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
  });
}

function backend(name: string, port: number, healthy = true): BackendSpec {
  return { id: name, node: name, address: '127.0.0.1', port, healthy };
}

async function frontendFor(backends: BackendSpec[], settings = plain): Promise<{ tcp: TcpFrontend; port: number }> {
  const port = await freePort();
  const tcp = new TcpFrontend({ protocol: 'TCP', ip: '127.0.0.1', port, backends }, settings);
  await tcp.listen();
  return { tcp, port };
}

describe('native TCP engine on loopback', () => {
  const nodes = new Map<string, { server: Server; port: number }>();
  const open: TcpFrontend[] = [];

  before(async () => {
    for (const name of ['n1', 'n2', 'n3']) nodes.set(name, await namedNode(name));
  });

  after(async () => {
    for (const tcp of open) tcp.cut();
    await Promise.all([...nodes.values()].map(({ server }) => new Promise((resolve) => server.close(resolve))));
  });

  const frontend = async (backends: BackendSpec[], settings = plain): Promise<{ tcp: TcpFrontend; port: number }> => {
    const made = await frontendFor(backends, settings);
    open.push(made.tcp);
    return made;
  };
  const node = (name: string): BackendSpec => backend(name, nodes.get(name)!.port);

  test('a reply and its FIN in one segment reach the client, connection after connection', async () => {
    const { tcp, port } = await frontend([node('n1')]);
    for (let i = 0; i < 200; i++) assert.equal(await exchange(port), 'n1\n', `connection ${i}`);
    await until('every connection is closed', async () => (tcp.liveCount === 0 ? true : undefined));
    const stats = tcp.stats();
    assert.equal(stats.opened.n1, 200);
    assert.equal(stats.active, 0);
    assert.equal(stats.bytesOut, 600);
  });

  test('half-close both ways: the client FIN reaches the node, which still answers', async () => {
    const echo = createServer({ allowHalfOpen: true }, (socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => socket.end(`got ${text.length} bytes then FIN`));
    });
    const { tcp, port } = await frontend([backend('echo', await listen(echo))]);
    try {
      assert.equal(await exchange(port, undefined, 'x'.repeat(100_000)), 'got 100000 bytes then FIN');
      await until('the connection is closed', async () => (tcp.liveCount === 0 ? true : undefined));
    } finally {
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  test('backpressure: a node that stops reading stops the client, and nothing is lost', async () => {
    const total = 64 * 1024 * 1024;
    let nodeSocket: Socket | undefined;
    const received = createHash('sha256');
    let receivedBytes = 0;
    let ended!: () => void;
    const done = new Promise<void>((resolve) => (ended = resolve));
    const sink = createServer({ allowHalfOpen: true }, (socket) => {
      nodeSocket = socket;
      socket.pause();
      socket.on('data', (d: Buffer) => {
        received.update(d);
        receivedBytes += d.length;
      });
      socket.on('end', () => {
        socket.end();
        ended();
      });
    });
    const { tcp, port } = await frontend([backend('sink', await listen(sink))]);
    try {
      const sent = createHash('sha256');
      const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      client.on('error', () => {});
      let left = total;
      let seq = 0;
      const write = (): void => {
        while (left > 0) {
          const chunk = Buffer.alloc(Math.min(left, 65536), seq++ % 251);
          left -= chunk.length;
          sent.update(chunk);
          if (!client.write(chunk)) return void client.once('drain', write);
        }
        client.end();
      };
      client.on('connect', write);
      // While the node reads nothing, what the proxy takes from the client is bounded by the socket
      // buffers (a few MB), not by what the client wants to send.
      await until('the client is held back', async () =>
        nodeSocket && client.writableLength > 0 && tcp.stats().bytesIn > 0 ? true : undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      const taken = tcp.stats().bytesIn;
      assert.ok(taken < 24 * 1024 * 1024, `the proxy took ${taken} bytes from the client while the node read nothing`);
      assert.ok(left > 0, 'the client was not held back');
      nodeSocket!.resume();
      await done;
      assert.equal(receivedBytes, total);
      assert.equal(received.digest('hex'), sent.digest('hex'));
      client.destroy();
    } finally {
      await new Promise((resolve) => sink.close(resolve));
    }
  });

  test('clients that reset in the middle of a large download end cleanly, one after another', async () => {
    const source = streamingNode(1024 * 1024);
    const { tcp, port } = await frontend([backend('source', await listen(source))]);
    try {
      for (let i = 0; i < 150; i++) {
        await new Promise<void>((resolve) => {
          const client = connect({ host: '127.0.0.1', port });
          const limit = 1_000_000 + ((i * 7_919_993) % 8_000_000);
          let got = 0;
          client.on('data', (d: Buffer) => {
            got += d.length;
            if (got > limit) client.resetAndDestroy();
          });
          client.on('error', () => {});
          client.on('close', () => resolve());
        });
      }
      await until('every connection is closed', async () => (tcp.liveCount === 0 ? true : undefined));
      assert.equal(tcp.stats().active, 0);
    } finally {
      await new Promise((resolve) => source.close(resolve));
    }
  });

  test('a client gone after its FIN: the reset it answers with ends the connection to the node too', async () => {
    let nodeSocket: Socket | undefined;
    // The node answers the FIN once and then waits: only the proxy passing on the client's reset ends it.
    const late = createServer({ allowHalfOpen: true }, (socket) => {
      nodeSocket = socket;
      socket.on('end', () => socket.write('late reply'));
    });
    const { tcp, port } = await frontend([backend('late', await listen(late))]);
    try {
      const client = connect({ host: '127.0.0.1', port });
      client.on('error', () => {});
      await new Promise((resolve) => client.once('connect', resolve));
      client.destroy();
      await until('the proxy ends the connection', async () => (nodeSocket && tcp.liveCount === 0 ? true : undefined));
      // Node does not poll a socket whose reading is over, so the reset shows on the next write.
      const failed = new Promise<string>((resolve) =>
        nodeSocket!.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)),
      );
      nodeSocket!.write('anyone there?');
      assert.match(await failed, /^(ECONNRESET|EPIPE)$/);
    } finally {
      await new Promise((resolve) => late.close(resolve));
    }
  });

  test('a stream cut by a drain ends in a reset, not in a FIN that looks complete', async () => {
    const source = streamingNode(64 * 1024);
    const { tcp, port } = await frontend([backend('source', await listen(source))]);
    try {
      const client = connect({ host: '127.0.0.1', port });
      const ending = new Promise<string>((resolve) => {
        client.on('end', () => resolve('end'));
        client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      await new Promise((resolve) => client.once('data', resolve));
      tcp.update({ protocol: 'TCP', ip: '127.0.0.1', port, backends: [] }, plain);
      assert.equal(await ending, 'ECONNRESET');
      client.destroy();
    } finally {
      await new Promise((resolve) => source.close(resolve));
    }
  });

  test('ClientIP affinity picks the node the TypeScript hash picks, for every client address', async () => {
    const backends = ['n1', 'n2', 'n3'].map(node);
    const { port } = await frontend(backends, { ...plain, affinity: 'ClientIP' });
    for (let i = 1; i <= 12; i++) {
      const client = `127.0.0.${i}`;
      const expected = pickForClient(backends, client, (b) => b.id)!.node;
      for (let j = 0; j < 3; j++) assert.equal(await exchange(port, client), `${expected}\n`, `client ${client}`);
    }
  });

  test('round robin spreads connections; unhealthy nodes get none', async () => {
    const { tcp, port } = await frontend([node('n1'), node('n2'), { ...node('n3'), healthy: false }]);
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const name = (await exchange(port)).trim();
      seen.set(name, (seen.get(name) ?? 0) + 1);
    }
    assert.deepEqual([...seen.entries()].sort(), [
      ['n1', 15],
      ['n2', 15],
    ]);
    tcp.update({ protocol: 'TCP', ip: '127.0.0.1', port, backends: [node('n3')] }, plain);
    assert.equal(await exchange(port), 'n3\n');
  });

  test('a node that refuses costs another attempt, not the connection; all refusing resets it', async () => {
    const dead = await freePort();
    const { tcp, port } = await frontend([backend('dead', dead), node('n2')]);
    for (let i = 0; i < 10; i++) assert.equal(await exchange(port), 'n2\n');
    assert.equal(tcp.stats().rejected.connect_failed, 0);

    tcp.update({ protocol: 'TCP', ip: '127.0.0.1', port, backends: [backend('dead', dead)] }, plain);
    assert.equal(await exchange(port), 'error ECONNRESET');
    await until('the failure is counted', async () => (tcp.stats().rejected.connect_failed === 1 ? true : undefined));
  });

  test('no healthy node and a source outside the ranges are reset and counted', async () => {
    const { tcp, port } = await frontend([{ ...node('n1'), healthy: false }]);
    assert.equal(await exchange(port), 'error ECONNRESET');
    assert.equal(tcp.stats().rejected.no_healthy_target, 1);

    tcp.update(
      { protocol: 'TCP', ip: '127.0.0.1', port, backends: [node('n1')] },
      { ...plain, sourceRanges: ['10.0.0.0/8', '127.0.0.2/32'] },
    );
    assert.equal(await exchange(port, '127.0.0.1'), 'error ECONNRESET');
    assert.equal(await exchange(port, '127.0.0.2'), 'n1\n');
    assert.equal(tcp.stats().rejected.source_range, 1);
  });

  test('a port held without reusePort is refused with its errno', async () => {
    const holder = createServer();
    const port = await listen(holder);
    try {
      const tcp = new TcpFrontend({ protocol: 'TCP', ip: '127.0.0.1', port, backends: [] }, plain);
      await assert.rejects(tcp.listen(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

test('an update that reorders the nodes or adds one keeps the connections to the nodes that stay; a node that leaves is cut', async () => {
  const echo = (): Server => createServer((socket) => socket.on('error', () => {}).pipe(socket));
  const servers = { a: echo(), b: echo(), c: echo() };
  const ports = { a: await listen(servers.a), b: await listen(servers.b), c: await listen(servers.c) };
  const { tcp, port } = await frontendFor([backend('a', ports.a), backend('b', ports.b)]);
  const held: { socket: Socket; closed: Promise<void> }[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      held.push({ socket, closed: new Promise((resolve) => socket.once('close', () => resolve())) });
      await new Promise((resolve) => socket.once('connect', resolve));
    }
    const roundTrip = (socket: Socket, text: string): Promise<string> =>
      new Promise((resolve) => {
        socket.once('data', (d: Buffer) => resolve(d.toString()));
        socket.write(text);
      });
    for (const [i, { socket }] of held.entries()) assert.equal(await roundTrip(socket, `before ${i}`), `before ${i}`);

    tcp.update(
      { protocol: 'TCP', ip: '127.0.0.1', port, backends: [backend('c', ports.c), backend('b', ports.b), backend('a', ports.a)] },
      plain,
    );
    for (const [i, { socket }] of held.entries()) assert.equal(await roundTrip(socket, `after ${i}`), `after ${i}`);
    assert.equal(tcp.liveCount, 4);

    tcp.update({ protocol: 'TCP', ip: '127.0.0.1', port, backends: [backend('c', ports.c)] }, plain);
    await Promise.all(held.map((h) => h.closed));
    await until('the cut connections are gone', async () => (tcp.liveCount === 0 ? true : undefined));
  } finally {
    for (const { socket } of held) socket.destroy();
    tcp.cut();
    await Promise.all(Object.values(servers).map((s) => new Promise((resolve) => s.close(resolve))));
  }
});
