// The controller-to-proxy channel: version checks, the socket's mode, a refused or accepted hello, and the
// readiness and status the proxy derives from it; and `service-lb-controller proxy` refusing a config not for it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/logger.ts';
import { incompatible, receive } from '../../src/providers/local/proxy-channel.ts';
import { ProxyServer } from '../../src/providers/local/proxy-server.ts';
import { frontendGroup } from '../fakes/frontend-group.ts';
import { freePort } from '../support/ports.ts';

test('a peer of the same major version is compatible, whatever its minor', () => {
  assert.equal(incompatible('1.0'), undefined);
  assert.equal(incompatible('1.7'), undefined);
});

test('another major version, or no version, is refused with a reason', () => {
  assert.match(incompatible('2.0') ?? '', /protocol version 2\.0 is not supported \(this side speaks 1\.0\)/);
  assert.match(incompatible(undefined) ?? '', /is not "major\.minor"/);
  assert.match(incompatible('1') ?? '', /is not "major\.minor"/);
});

describe('the proxy end of the channel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slb-channel-'));
  const socketPath = join(dir, 'run', 'proxy.sock');
  const server = new ProxyServer({
    socketPath,
    workers: 1,
    limits: { maxConnections: 100, maxBufferedBytes: 1 << 20 },
    interface: undefined,
    logger: createLogger('silent'),
  });

  before(() => server.listen());
  after(async () => {
    await server.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends lines, and gathers the answers until `count` came or the proxy closed the connection. */
  async function converse(lines: object[], count: number): Promise<Record<string, unknown>[]> {
    const socket: Socket = connect(socketPath);
    const answers: Record<string, unknown>[] = [];
    return new Promise((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => resolve(answers));
      receive(socket, (message) => {
        answers.push(message);
        if (answers.length === count) socket.end();
      });
      for (const line of lines) socket.write(`${JSON.stringify(line)}\n`);
    });
  }

  test('the socket is readable and writable by its owner only', () => {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
  });

  test('a controller of another major version gets an error naming both versions, and is disconnected', async () => {
    const answers = await converse([{ type: 'hello', version: '2.0' }], 2);
    assert.equal(answers.length, 1);
    assert.equal(answers[0]!.type, 'error');
    assert.match(String(answers[0]!.message), /2\.0 is not supported \(this side speaks 1\.0\)/);
  });

  test('a message before the hello is refused', async () => {
    const answers = await converse([{ type: 'stats', seq: 1 }], 2);
    assert.deepEqual(answers, [{ type: 'error', message: 'the first message must be a hello' }]);
  });

  test('before any snapshot: alive, not ready, and it says what it waits for', async () => {
    assert.equal(await server.liveness(), undefined);
    assert.deepEqual(server.readiness(), [`no state from a controller yet (waiting on ${socketPath})`]);
    assert.equal(server.status().updates.snapshot, 0);
    assert.equal(server.status().lastUpdateMs, undefined);
  });

  test('after the hello, a snapshot and a stats request are answered in order', async () => {
    const answers = await converse(
      [
        { type: 'hello', version: '1.0' },
        { type: 'snapshot', seq: 1, groups: [], keep: [] },
        { type: 'stats', seq: 2 },
      ],
      3,
    );
    assert.deepEqual(answers, [
      { type: 'hello', version: '1.0' },
      { type: 'ack', seq: 1, errors: [] },
      { type: 'stats', seq: 2, stats: [] },
    ]);
    // An empty snapshot is a state too: serving nothing is what it was told.
    assert.deepEqual(server.readiness(), []);
    const status = server.status();
    assert.deepEqual(status.updates, { snapshot: 1, apply: 0, remove: 0 });
    assert.equal(status.stateSeq, 1, 'a stats request is not a state change');
    assert.equal(typeof status.lastUpdateMs, 'number');
  });

  test('a load balancer it cannot serve in full makes it unready, naming it, until the spec is removed', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const spec = frontendGroup('uid-1', 'default/web', [{ protocol: 'TCP', ip: '127.0.0.1', port, nodePort: 30080, backends: [] }]);
    try {
      const answers = await converse(
        [
          { type: 'hello', version: '1.0' },
          { type: 'snapshot', seq: 1, groups: [], keep: [] },
          { type: 'apply', seq: 2, spec },
        ],
        3,
      );
      assert.match(String((answers[2]!.errors as string[])[0]), /port is in use/);
      const [problem, ...more] = server.readiness();
      assert.match(
        problem ?? '',
        new RegExp(`^load balancer default/web: cannot listen on 127\\.0\\.0\\.1:${port}/TCP: the port is in use`),
      );
      assert.deepEqual(more, []);
      assert.deepEqual(server.status().unserved.length, 1);
      await converse(
        [
          { type: 'hello', version: '1.0' },
          { type: 'snapshot', seq: 1, groups: [spec], keep: [] },
          { type: 'remove', seq: 2, key: spec.key },
        ],
        3,
      );
      assert.deepEqual(server.readiness(), []);
      assert.deepEqual(server.status().updates, { snapshot: 3, apply: 1, remove: 1 });
      assert.equal(server.status().loadBalancers, 0);
    } finally {
      blocker.close();
    }
  });

  test('applies in a row are acknowledged one by one, in order: a malformed one fails alone, the last of a key wins', async () => {
    const [first, second, other] = [await freePort(), await freePort(), await freePort()];
    const web = (port: number) =>
      frontendGroup('uid-web', 'default/web', [{ protocol: 'TCP', ip: '127.0.0.1', port, nodePort: 30080, backends: [] }]);
    const api = frontendGroup('uid-api', 'default/api', [{ protocol: 'TCP', ip: '127.0.0.1', port: other, nodePort: 30081, backends: [] }]);
    const before = server.status().updates.apply;
    const answers = await converse(
      [
        { type: 'hello', version: '1.0' },
        { type: 'snapshot', seq: 1, groups: [], keep: [] },
        // Written together, so that they arrive together and are applied as one.
        { type: 'apply', seq: 2, spec: web(first) },
        { type: 'apply', seq: 3, spec: null },
        { type: 'apply', seq: 4, spec: api },
        { type: 'apply', seq: 5, spec: web(second) },
        { type: 'stats', seq: 6 },
      ],
      7,
    );
    assert.deepEqual(
      answers.slice(1, 6).map((a) => [a.type, a.seq, (a.errors as string[]).length]),
      [
        ['ack', 1, 0],
        ['ack', 2, 0],
        ['ack', 3, 1],
        ['ack', 4, 0],
        ['ack', 5, 0],
      ],
    );
    assert.match(String((answers[3]!.errors as string[])[0]), /null/);
    assert.equal(server.status().updates.apply - before, 3);
    assert.equal(server.status().stateSeq, 5);
    assert.equal(server.status().loadBalancers, 2);
    const served = (answers[6]!.stats as { frontend: string }[]).map((f) => f.frontend).sort();
    assert.deepEqual(served, [`127.0.0.1:${second}/TCP`, `127.0.0.1:${other}/TCP`].sort());
    await converse(
      [
        { type: 'hello', version: '1.0' },
        { type: 'snapshot', seq: 1, groups: [], keep: [] },
      ],
      2,
    );
    assert.equal(server.status().loadBalancers, 0);
  });
});

test('the proxy command refuses a config whose data path is in process (exit 2, naming the field)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slb-proxy-config-'));
  try {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, 'provider:\n  name: local\n');
    const run = spawnSync(process.execPath, ['src/cli.ts', 'proxy', '--config', config, '--socket', join(dir, 'p.sock')], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /provider\.local\.dataPath: the proxy serves a controller with provider\.name local and dataPath external/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
