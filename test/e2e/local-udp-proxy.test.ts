// One UDP frontend in this process, on loopback: a removed port drains like a removed node. Flows in
// flight keep their replies for the grace period; new clients get nothing.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { sourceFilter } from '../../src/providers/local/source-ranges.ts';
import { UdpFrontend } from '../../src/providers/local/udp-proxy.ts';
import { until } from './helpers.ts';

async function bound(socket: Socket): Promise<number> {
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket.address().port;
}

/** Sends one datagram from `client` and waits up to timeoutMs for the answer. */
function ask(client: Socket, port: number, message: string, timeoutMs = 300): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      resolve(undefined);
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer);
      resolve(msg.toString());
    };
    client.once('message', onMessage);
    client.send(message, port, '127.0.0.1');
  });
}

test('a removed UDP port keeps its flows for the grace period, takes no new ones, then closes', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (msg, rinfo) => echo.send(`node ${msg.toString()}`, rinfo.port, rinfo.address));
  const nodePort = await bound(echo);
  const probe = createSocket('udp4');
  const port = await bound(probe);
  probe.close();

  const udp = new UdpFrontend(
    { protocol: 'UDP', ip: '127.0.0.1', port, nodePort, backends: [{ node: 'n1', address: '127.0.0.1', healthy: true }] },
    { filter: sourceFilter([]), idleMs: 60_000, maxFlows: 0 },
    'None',
  );
  await udp.listen();
  const early = createSocket('udp4');
  const late = createSocket('udp4');
  await Promise.all([bound(early), bound(late)]);
  try {
    assert.equal(await ask(early, port, 'one'), 'node one');

    udp.close(1_500);
    assert.equal(await ask(early, port, 'two'), 'node two', 'a flow in flight carries on');
    assert.equal(await ask(late, port, 'hello'), undefined, 'a new client gets nothing');
    assert.equal(udp.liveCount, 1);

    await until('the grace runs out', async () => (udp.liveCount === 0 ? true : undefined), 5_000);
    assert.equal(await ask(early, port, 'three'), undefined, 'the flow is over');
  } finally {
    udp.cut();
    for (const socket of [echo, early, late]) socket.close();
  }
});
