// The informer's restart backoff: doubling to a cap with jitter, and starting over after a healthy watch.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { KubeConfig, type V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../../src/kube/client.ts';
import { ResilientInformer, RestartBackoff } from '../../src/kube/informer.ts';

test('restart delays double from the initial delay to the cap; jitter only shortens them; reset starts over', () => {
  const none = new RestartBackoff(1_000, 30_000, () => 0);
  assert.deepEqual(
    Array.from({ length: 7 }, () => none.next()),
    [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000],
  );
  none.reset();
  assert.equal(none.next(), 1_000);
  const most = new RestartBackoff(1_000, 30_000, () => 0.999_999);
  assert.deepEqual(
    Array.from({ length: 7 }, () => most.next()),
    [750, 1_500, 3_000, 6_000, 12_000, 22_500, 22_500],
  );
});

/**
 * A fake API server: the list answers, each watch request takes the next step of the script. The informer
 * logs each delay it chose, so the sequence is read from its log rather than timed.
 */
test('an informer backs off while watches fail, and starts over after one delivered an event or stayed up', async () => {
  type Step = 'fail' | 'event-then-cut' | 'up-then-cut';
  const script: Step[] = ['fail', 'fail', 'fail', 'fail', 'fail', 'event-then-cut', 'fail', 'up-then-cut', 'up-then-cut', 'fail'];
  let now = 0;
  let clockReads = 0;
  let open: ServerResponse | undefined;
  let watches = 0;
  const server = createServer((req, res) => {
    if (!req.url?.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'NodeList', metadata: { resourceVersion: '1' }, items: [] }));
      return;
    }
    const step = script[watches++] ?? 'fail';
    if (step === 'fail') {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (step === 'event-then-cut') {
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'n1', resourceVersion: '2' } } })}\n`, () =>
        res.socket?.destroy(),
      );
      return;
    }
    res.flushHeaders();
    open = res;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const delays: number[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { msg: string; delayMs?: number };
        if (entry.msg === 'watch failed; restarting') delays.push(entry.delayMs!);
      }
      callback();
    },
  });
  const client = new KubeClient(kubeConfig);
  const informer = new ResilientInformer<V1Node>(client, '/api/v1/nodes', {}, pino({ level: 'warn' }, logs), {
    restartDelayMs: 1,
    maxRestartDelayMs: 8,
    healthyAfterMs: 60_000,
    random: () => 0,
    // Read once per failure and once per watch that came up: counting the reads tells the test when the
    // informer has seen a watch come up, with no timing involved.
    now: () => {
      clockReads++;
      return now;
    },
  });
  await informer.start();
  // Conditions are "at least": the informer goes on to its next step without waiting for the test, so a
  // loaded machine may poll only after a count has moved past an exact value.
  const until = async (what: () => boolean) => {
    while (!what()) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  // Five failures, then a watch that delivers an event before it is cut: the next delay starts over.
  await until(() => delays.length >= 6);
  // A failure (2 ms), then a watch that stays up a minute (on the informer's clock) before it is cut:
  // seven failures and two watches up so far.
  await until(() => clockReads >= 9);
  now += 60_000;
  open!.socket?.destroy();
  // Then a watch cut at once, without an event: not healthy, so the backoff goes on from there.
  await until(() => clockReads >= 11);
  open!.socket?.destroy();
  await until(() => delays.length >= 10);
  await informer.stop();
  await client.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // The script ends in failures, so more delays may follow the ten it describes.
  assert.deepEqual(delays.slice(0, 10), [1, 2, 4, 8, 8, 1, 2, 1, 2, 4]);
});
