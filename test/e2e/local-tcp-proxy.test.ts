// One TCP frontend in this process, its node in a network namespace, and connections caught while the
// proxy is still dialling the node: the node's link is blackholed (a neighbour entry pointing nowhere)
// so that the connect stays pending until the test lets it through.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { FrontendSettings } from '../../src/providers/local/proxy-spec.ts';
import { TcpFrontend } from '../../src/providers/local/tcp-proxy.ts';
import { freePort } from '../support/ports.ts';
import { until } from './helpers.ts';
import { createTopology, type Host, type Topology } from './netns/topology.ts';

const run = promisify(execFile);
const NODE_PORT = 30080;

async function connected(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

describe('TCP frontend: connections still dialling their node', () => {
  let topo: Topology;
  let node: Host;
  let link: string;

  /** SYNs to the node go to a MAC that nobody has, so the connect hangs (SYN retransmits). */
  const blackhole = (): Promise<unknown> =>
    run('ip', ['neigh', 'replace', node.address, 'lladdr', '02:00:00:00:00:01', 'dev', link, 'nud', 'permanent']);
  /** The next SYN retransmit resolves the node's real MAC and connects. */
  const restore = (): Promise<unknown> => run('ip', ['neigh', 'del', node.address, 'dev', link]).catch(() => undefined);

  const settings: FrontendSettings = {
    sourceRanges: [],
    affinity: 'None',
    drainGraceMs: 0,
    maxConnectionsPerListener: 0,
    idleTimeoutMs: 0,
  };
  const frontend = async (): Promise<{ tcp: TcpFrontend; port: number }> => {
    const port = await freePort();
    const tcp = new TcpFrontend(
      {
        protocol: 'TCP',
        ip: '127.0.0.1',
        port,
        nodePort: NODE_PORT,
        backends: [{ node: node.name, address: node.address, healthy: true }],
      },
      settings,
    );
    await tcp.listen();
    return { tcp, port };
  };

  before(async () => {
    topo = await createTopology({ clients: [], nodes: ['n1'] });
    node = topo.nodes.get('n1')!;
    await node.agent.call('serve', { port: NODE_PORT });
    const routes = JSON.parse((await run('ip', ['-j', 'route', 'get', node.address])).stdout) as { dev: string }[];
    link = routes[0]!.dev;
  });

  after(async () => {
    await restore();
    await topo?.destroy();
  });

  interface DialInFlight {
    tcp: TcpFrontend;
    port: number;
    client: Socket;
    /** Settles when the client's connection closes. */
    closed: Promise<unknown>;
  }

  /** Runs `body` with one client whose connection the proxy is still dialling, then undoes it all. */
  const withDialInFlight = async (body: (dial: DialInFlight) => Promise<void>): Promise<void> => {
    const { tcp, port } = await frontend();
    try {
      await blackhole();
      const client = await connected(port);
      const closed = new Promise((resolve) => client.once('close', resolve));
      await until('the dial is in flight', async () => (tcp.liveCount === 1 ? true : undefined));
      await body({ tcp, port, client, closed });
    } finally {
      tcp.cut();
      await restore();
    }
  };

  test('a client that leaves before the node accepts is not counted as open once the dial ends', () =>
    withDialInFlight(async ({ tcp, port, client }) => {
      client.resetAndDestroy();
      await restore();
      await until('the dial ends', async () => (tcp.liveCount === 0 ? true : undefined));
      assert.equal(tcp.stats().active, 0);
      assert.equal(tcp.stats().rejected.connect_failed, 0, 'the node was reached, not given up on');

      // And the frontend still proxies.
      const next = await connected(port);
      next.write('hello\n');
      const reply = await new Promise<string>((resolve) => next.once('data', (d: Buffer) => resolve(d.toString())));
      assert.equal(reply, 'n1 hello\n');
      next.destroy();
      await until('the second connection is closed', async () => (tcp.liveCount === 0 && tcp.stats().active === 0 ? true : undefined));
    }));

  test('cutting the frontend also ends a connection still dialling', () =>
    withDialInFlight(async ({ tcp, closed }) => {
      tcp.cut();
      await closed;
      assert.equal(tcp.liveCount, 0);
      assert.equal(tcp.stats().active, 0);
      assert.equal(tcp.stats().rejected.connect_failed, 0, 'closed by the cut, not by the connect timing out');
    }));

  test('a node removed while a connection to it is still dialling drains that connection too', () =>
    withDialInFlight(async ({ tcp, port, closed }) => {
      tcp.update({ protocol: 'TCP', ip: '127.0.0.1', port, nodePort: NODE_PORT, backends: [] }, settings);
      await closed;
      assert.equal(tcp.liveCount, 0);
      assert.equal(tcp.stats().rejected.connect_failed, 0, 'closed by the drain, not by the connect timing out');
    }));
});
