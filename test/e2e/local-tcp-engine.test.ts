// The native TCP engine behind TcpFrontend, on loopback: what it must do byte for byte (FIN passed on,
// backpressure, no buffering beyond the sockets), which node it picks (the same as the TypeScript hash
// the UDP path uses), and what it refuses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pickForClient } from '../../src/providers/local/node-picker.ts';
import type { FrontendSettings, NodeBackend, PlannedFrontend } from '../../src/providers/local/proxy-spec.ts';
import { TcpFrontend } from '../../src/providers/local/tcp-proxy.ts';
import { freePort } from '../support/ports.ts';
import { until } from './helpers.ts';

const plain: FrontendSettings = { sourceRanges: [], affinity: 'None', drainGraceMs: 0, maxConnectionsPerListener: 0, idleTimeoutMs: 0 };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Node k's address: a loopback address of its own, as every node serves a NodePort on the same port. */
const nodeAddress = (k: number): string => `127.0.1.${k}`;

/** The servers as nodes 1, 2, ... on one port, which is returned. */
async function onOnePort(servers: Server[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    const bound: Server[] = [];
    try {
      for (const [i, server] of servers.entries()) {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, nodeAddress(i + 1), () => {
            server.off('error', reject);
            resolve();
          });
        });
        bound.push(server);
      }
      return port;
    } catch (err) {
      // Free on 127.0.0.1 a moment ago, taken on another address since: another port.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await Promise.all(bound.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  }
}

/** A node that answers every connection with its name, then FIN, in one write. */
function namedNode(name: string): Server {
  return createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${name}\n`);
  });
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

function backend(name: string, address: string, healthy = true): NodeBackend {
  return { node: name, address, healthy };
}

/** The one node that a single-node test serves, on 127.0.0.1. */
const only = (name: string): NodeBackend[] => [backend(name, '127.0.0.1')];

/** What a frontend on 127.0.0.1:port serves: backends on nodePort. */
function planned(port: number, nodePort: number, backends: readonly NodeBackend[]): PlannedFrontend {
  return { protocol: 'TCP', ip: '127.0.0.1', port, nodePort, backends };
}

async function frontendFor(
  backends: readonly NodeBackend[],
  nodePort: number,
  settings = plain,
): Promise<{ tcp: TcpFrontend; port: number }> {
  const port = await freePort();
  const tcp = new TcpFrontend(planned(port, nodePort, backends), settings);
  await tcp.listen();
  return { tcp, port };
}

describe('native TCP engine on loopback', () => {
  const names = ['n1', 'n2', 'n3'];
  const servers = names.map(namedNode);
  /** The NodePort of n1, n2 and n3. */
  let nodePort = 0;
  const open: TcpFrontend[] = [];

  before(async () => {
    nodePort = await onOnePort(servers);
  });

  after(async () => {
    for (const tcp of open) tcp.cut();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  const frontend = async (
    backends: readonly NodeBackend[],
    port = nodePort,
    settings = plain,
  ): Promise<{ tcp: TcpFrontend; port: number }> => {
    const made = await frontendFor(backends, port, settings);
    open.push(made.tcp);
    return made;
  };
  const node = (name: string): NodeBackend => backend(name, nodeAddress(names.indexOf(name) + 1));

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
    const { tcp, port } = await frontend(only('echo'), await listen(echo));
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
    const { tcp, port } = await frontend(only('sink'), await listen(sink));
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
    const { tcp, port } = await frontend(only('source'), await listen(source));
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
    const { tcp, port } = await frontend(only('late'), await listen(late));
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
    const { tcp, port } = await frontend(only('source'), await listen(source));
    try {
      const client = connect({ host: '127.0.0.1', port });
      const ending = new Promise<string>((resolve) => {
        client.on('end', () => resolve('end'));
        client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      await new Promise((resolve) => client.once('data', resolve));
      tcp.update(planned(port, nodePort, []), plain);
      assert.equal(await ending, 'ECONNRESET');
      client.destroy();
    } finally {
      await new Promise((resolve) => source.close(resolve));
    }
  });

  test('ClientIP affinity picks the node the TypeScript hash picks, for every client address', async () => {
    const backends = ['n1', 'n2', 'n3'].map(node);
    const { port } = await frontend(backends, nodePort, { ...plain, affinity: 'ClientIP' });
    for (let i = 1; i <= 12; i++) {
      const client = `127.0.0.${i}`;
      const expected = pickForClient(backends, client, (b) => b.node)!.node;
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
    tcp.update(planned(port, nodePort, [node('n3')]), plain);
    assert.equal(await exchange(port), 'n3\n');
  });

  test('a node that refuses costs another attempt, not the connection; all refusing resets it', async () => {
    // Nothing listens there.
    const dead = backend('dead', nodeAddress(9));
    const { tcp, port } = await frontend([dead, node('n2')]);
    for (let i = 0; i < 10; i++) assert.equal(await exchange(port), 'n2\n');
    assert.equal(tcp.stats().rejected.connect_failed, 0);

    tcp.update(planned(port, nodePort, [dead]), plain);
    assert.equal(await exchange(port), 'error ECONNRESET');
    await until('the failure is counted', async () => (tcp.stats().rejected.connect_failed === 1 ? true : undefined));
  });

  test('no healthy node and a source outside the ranges are reset and counted', async () => {
    const { tcp, port } = await frontend([{ ...node('n1'), healthy: false }]);
    assert.equal(await exchange(port), 'error ECONNRESET');
    assert.equal(tcp.stats().rejected.no_healthy_target, 1);

    tcp.update(planned(port, nodePort, [node('n1')]), { ...plain, sourceRanges: ['10.0.0.0/8', '127.0.0.2/32'] });
    assert.equal(await exchange(port, '127.0.0.1'), 'error ECONNRESET');
    assert.equal(await exchange(port, '127.0.0.2'), 'n1\n');
    assert.equal(tcp.stats().rejected.source_range, 1);
  });

  test('frontends given one node list each reach the nodes on their own NodePort', async () => {
    // The engine reads a list once for every frontend it is given to: the port must not be read with it.
    const others = names.map((name) => namedNode(`${name} on the other port`));
    const otherPort = await onOnePort(others);
    try {
      const shared = Object.freeze([node('n1'), node('n2')]);
      const first = await frontend(shared, nodePort);
      const second = await frontend(shared, otherPort);
      assert.match(await exchange(first.port), /^n[12]\n$/);
      assert.match(await exchange(second.port), /^n[12] on the other port\n$/);
      first.tcp.update(planned(first.port, nodePort, [node('n3')]), plain);
      assert.equal(await exchange(first.port), 'n3\n');
      assert.match(await exchange(second.port), /^n[12] on the other port\n$/);
    } finally {
      await Promise.all(others.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });

  test('a node address that is no IP address is refused, and the listener closed', async () => {
    const port = await freePort();
    const tcp = new TcpFrontend(planned(port, nodePort, [backend('n1', 'node-1.example')]), plain);
    await assert.rejects(tcp.listen(), /a node address is not an IP address/);
    assert.equal(await exchange(port), 'error ECONNREFUSED');
  });

  test('a port held without reusePort is refused with its errno', async () => {
    const holder = createServer();
    const port = await listen(holder);
    try {
      const tcp = new TcpFrontend(planned(port, nodePort, []), plain);
      await assert.rejects(tcp.listen(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});

test('an update that reorders the nodes or adds one keeps the connections to the nodes that stay; a node that leaves is cut', async () => {
  const echo = (): Server => createServer((socket) => socket.on('error', () => {}).pipe(socket));
  const servers = [echo(), echo(), echo()];
  const nodePort = await onOnePort(servers);
  const [a, b, c] = ['a', 'b', 'c'].map((name, i) => backend(name, nodeAddress(i + 1))) as [NodeBackend, NodeBackend, NodeBackend];
  const { tcp, port } = await frontendFor([a, b], nodePort);
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

    tcp.update(planned(port, nodePort, [c, b, a]), plain);
    for (const [i, { socket }] of held.entries()) assert.equal(await roundTrip(socket, `after ${i}`), `after ${i}`);
    assert.equal(tcp.liveCount, 4);

    tcp.update(planned(port, nodePort, [c]), plain);
    await Promise.all(held.map((h) => h.closed));
    await until('the cut connections are gone', async () => (tcp.liveCount === 0 ? true : undefined));
  } finally {
    for (const { socket } of held) socket.destroy();
    tcp.cut();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
});
