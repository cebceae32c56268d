// `service-lb-controller proxy`'s own endpoints against a real kube-apiserver: /readyz flips once a controller's
// state is applied and stays ready without a controller, /healthz answers, and /metrics counts real traffic.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { ControllerProcess } from './controller-process.ts';
import { localConfig, until, type Reply } from './helpers.ts';
import { createTopology, type Host, type Topology } from './netns/topology.ts';

const NS = 'default';

/** The value of one series in a Prometheus text exposition; undefined when it is not there. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2]?.split(',') ?? [];
    if (wanted.every((pair) => have.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

describe("the proxy's own /metrics, /healthz and /readyz (dataPath: external)", () => {
  let plane: ControlPlane;
  let topo: Topology;
  let client: Host;
  let node: Host;
  let proxy: ControllerProcess;
  let controller: ControllerProcess | undefined;
  let socket: string;
  let urls: { metrics: string; health: string };

  const config = () =>
    localConfig(topo, {
      dataPath: 'external',
      proxySocket: socket,
      proxyServer: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
    });
  const logs = () => `proxy log: ${proxy.logPath}${controller ? `, controller log: ${controller.logPath}` : ''}`;

  const get = async (url: string) => {
    const response = await fetch(url);
    return { status: response.status, body: await response.text() };
  };
  const metrics = async () => (await get(`${urls.metrics}/metrics`)).body;
  const ask = (ip: string, message: string): Promise<Reply> =>
    client.agent.call<Reply>('request', { host: ip, port: 80, message, timeoutMs: 10_000 });

  before(async () => {
    [plane, topo] = await Promise.all([startControlPlane(), createTopology({ clients: ['client'], nodes: ['n1'] })]);
    socket = `/tmp/slb-proxy-ops-${process.pid}/proxy.sock`;
    client = topo.clients.get('client')!;
    node = topo.nodes.get('n1')!;
    await plane.createNode(node.name, { addresses: [{ type: 'InternalIP', address: node.address }] });
    await node.agent.call('health', { port: 10256, ok: true });
    proxy = new ControllerProcess(config(), plane.kubeconfigPath, 'proxy', 'proxy');
    // Port 0: the real addresses are in the proxy's "proxy started" log line.
    urls = await until(
      `the proxy to start (${logs()})`,
      async () => {
        const line = proxy
          .log()
          .split('\n')
          .find((l) => l.includes('"proxy started"'));
        return line && existsSync(socket) ? (JSON.parse(line) as { metrics: string; health: string }) : undefined;
      },
      120_000,
    );
  });

  after(async () => {
    await controller?.dispose();
    await proxy?.dispose();
    await topo?.destroy();
    await plane?.stop();
    if (socket) rmSync(dirname(socket), { recursive: true, force: true });
  });

  test('without a controller yet: alive, not ready, and not connected', async () => {
    assert.deepEqual(await get(`${urls.health}/healthz`), { status: 200, body: 'ok' });
    const ready = await get(`${urls.health}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /no state from a controller yet/);
    const text = await metrics();
    assert.equal(sample(text, 'service_lb_proxy_controller_connected'), 0);
    assert.equal(sample(text, 'service_lb_proxy_state_updates_total', { type: 'snapshot' }), 0);
    assert.equal(sample(text, 'service_lb_proxy_last_update_timestamp_seconds'), 0);
  });

  test('a controller connects: ready once its snapshot is applied, and the channel shows in /metrics', async () => {
    controller = new ControllerProcess(config(), plane.kubeconfigPath, 'ctl');
    await until(
      `the proxy to become ready (${logs()})`,
      async () => ((await get(`${urls.health}/readyz`)).status === 200 ? true : undefined),
      120_000,
    );
    const text = await metrics();
    assert.equal(sample(text, 'service_lb_proxy_controller_connected'), 1);
    assert.ok(sample(text, 'service_lb_proxy_state_updates_total', { type: 'snapshot' })! >= 1);
    assert.ok(sample(text, 'service_lb_proxy_last_update_timestamp_seconds')! > 0);
  });

  test('connections through a VIP move the counters, and a Service change moves the state version', async () => {
    const seqBefore = sample(await metrics(), 'service_lb_proxy_state_seq')!;
    const svc = await plane.core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    });
    await node.agent.call('serve', { port: svc.spec!.ports![0]!.nodePort, protocol: 'TCP' });
    const ip = await until(
      `web to get an EXTERNAL-IP (${logs()})`,
      async () => (await plane.core.readNamespacedService({ name: 'web', namespace: NS })).status?.loadBalancer?.ingress?.[0]?.ip,
    );
    await until(`${ip}:80 to answer (${logs()})`, async () => ((await ask(ip, 'hi')).reply ? true : undefined));
    const frontend = { service: `${NS}/web`, frontend: `${ip}:80/TCP` };
    const before = await metrics();
    assert.ok(sample(before, 'service_lb_proxy_state_seq')! > seqBefore, 'the apply for web moved the state version');
    assert.equal(sample(before, 'service_lb_proxy_load_balancers', { state: 'served' }), 1);

    const requests = 5;
    for (let i = 0; i < requests; i++) assert.match((await ask(ip, `m${i}`)).reply ?? '', new RegExp(` m${i}$`), logs());
    // A scrape reuses the workers' answer for 100 ms, so the counters may show the traffic a scrape later.
    const opened = (text: string) => sample(text, 'service_lb_local_connections_total', frontend)!;
    const afterTraffic = await until(`the proxy to count ${requests} connections (${logs()})`, async () => {
      const text = await metrics();
      return opened(text) - opened(before) >= requests ? text : undefined;
    });
    assert.equal(opened(afterTraffic) - opened(before), requests);
    const bytesIn = (text: string) => sample(text, 'service_lb_local_bytes_total', { ...frontend, direction: 'in' })!;
    assert.ok(bytesIn(afterTraffic) > bytesIn(before), 'bytes from the client were counted');

    // A source range that leaves the client out: its connections are refused and counted by reason.
    const current = await plane.core.readNamespacedService({ name: 'web', namespace: NS });
    current.spec!.loadBalancerSourceRanges = ['192.0.2.0/24'];
    await plane.core.replaceNamespacedService({ name: 'web', namespace: NS, body: current });
    await until(`the source range to refuse the client (${logs()})`, async () => ((await ask(ip, 'no')).error ? true : undefined));
    await until(`a source_range refusal to be counted (${logs()})`, async () =>
      sample(await metrics(), 'service_lb_local_rejected_total', { ...frontend, reason: 'source_range' })! >= 1 ? true : undefined,
    );
  });

  test('the controller is killed: the proxy stays ready, shows it is not connected, and keeps counting', async () => {
    const ip = (await plane.core.readNamespacedService({ name: 'web', namespace: NS })).status!.loadBalancer!.ingress![0]!.ip!;
    const frontend = { service: `${NS}/web`, frontend: `${ip}:80/TCP`, reason: 'source_range' };
    await controller!.kill();
    await until(`the proxy to see the controller gone (${logs()})`, async () =>
      sample(await metrics(), 'service_lb_proxy_controller_connected') === 0 ? true : undefined,
    );
    assert.deepEqual(await get(`${urls.health}/readyz`), { status: 200, body: 'ok' });
    assert.deepEqual(await get(`${urls.health}/healthz`), { status: 200, body: 'ok' });
    const refused = async () => sample(await metrics(), 'service_lb_local_rejected_total', frontend)!;
    const before = await until('the refusals so far to be counted', async () => {
      const first = await refused();
      // Two scrapes further apart than the 100 ms a scrape reuses the workers' answer: the second is fresh.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return (await refused()) === first ? first : undefined;
    });
    assert.ok((await ask(ip, 'still')).error, 'the last state (the source range) is still enforced');
    await until(`the refusal to be counted (${logs()})`, async () => ((await refused()) === before + 1 ? true : undefined));
    assert.equal(await refused(), before + 1);
  });
});
