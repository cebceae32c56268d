// dataPath external against a real kube-apiserver: the controller and `service-lb-controller proxy` as two
// processes. A SIGKILL of the controller drops no connection, and the proxy keeps accepting new ones.
import assert from 'node:assert/strict';
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { ControllerProcess } from './controller-process.ts';
import { localConfig, until, type Reply } from './helpers.ts';
import { createTopology, type Host, type Topology } from './netns/topology.ts';

const NS = 'default';
/** Connections held open across the kill and the restart. */
const HELD = 20;
/** New connections tried while no controller runs. */
const FRESH = 50;

describe('the data path outlives the controller (dataPath: external)', () => {
  let plane: ControlPlane;
  let topo: Topology;
  let client: Host;
  let nodes: Host[];
  let proxy: ControllerProcess;
  const proxies: ControllerProcess[] = [];
  const controllers: ControllerProcess[] = [];
  let socket: string;

  const config = () =>
    localConfig(topo, {
      dataPath: 'external',
      proxySocket: socket,
      proxyServer: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
    });

  const controller = () => controllers.at(-1)!;
  const logs = () => `controller log: ${controller().logPath}, proxy log: ${proxy.logPath}`;

  before(async () => {
    [plane, topo] = await Promise.all([startControlPlane(), createTopology({ clients: ['client'], nodes: ['n1', 'n2'] })]);
    socket = `/tmp/slb-proxy-${process.pid}/proxy.sock`;
    client = topo.clients.get('client')!;
    nodes = [...topo.nodes.values()];
    for (const node of nodes) {
      await plane.createNode(node.name, { addresses: [{ type: 'InternalIP', address: node.address }] });
      await node.agent.call('health', { port: 10256, ok: true });
    }
    proxy = new ControllerProcess(config(), plane.kubeconfigPath, 'proxy', 'proxy');
    proxies.push(proxy);
    await until(`the proxy socket (proxy log: ${proxy.logPath})`, async () => (existsSync(socket) ? true : undefined), 120_000);
    controllers.push(new ControllerProcess(config(), plane.kubeconfigPath, 'ctl'));
  });

  after(async () => {
    for (const c of [...controllers, ...proxies]) await c?.dispose();
    await topo?.destroy();
    await plane?.stop();
    if (socket) rmSync(dirname(socket), { recursive: true, force: true });
  });

  // Generous: on a loaded machine 50 requests at once may queue; a refused one fails at once anyway.
  const ask = (ip: string, port: number, message: string): Promise<Reply> =>
    client.agent.call<Reply>('request', { host: ip, port, message, timeoutMs: 10_000 });

  async function ingressIP(name: string): Promise<string> {
    return until(
      `${name} to get an EXTERNAL-IP (${logs()})`,
      async () => (await plane.core.readNamespacedService({ name, namespace: NS })).status?.loadBalancer?.ingress?.[0]?.ip,
    );
  }

  /** Talks on every held connection; returns the keys whose connection did not answer. */
  async function dropped(keys: string[], message: string): Promise<string[]> {
    const replies = await Promise.all(keys.map((key) => client.agent.call<Reply>('talk', { key, message })));
    return keys.filter((key, i) => !replies[i]!.reply?.endsWith(` ${message}`));
  }

  test('the socket is private to the proxy user', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
  });

  test('a SIGKILL of the controller drops no connection; a restarted one takes over', async () => {
    const svc = await plane.core.createNamespacedService({
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
    });
    for (const node of nodes) await node.agent.call('serve', { port: svc.spec!.ports![0]!.nodePort, protocol: 'TCP' });
    const ip = await ingressIP('web');
    await until(`${ip}:80 to answer (${logs()})`, async () => ((await ask(ip, 80, 'hi')).reply ? true : undefined));
    assert.ok((await topo.vipAddresses()).includes(ip), 'the proxy put the VIP on the interface');

    const keys = Array.from({ length: HELD }, (_, i) => `held${i}`);
    for (const key of keys) assert.equal((await client.agent.call<Reply>('open', { key, host: ip, port: 80 })).reply, 'open');
    assert.deepEqual(await dropped(keys, 'before'), []);

    await controller().kill();
    // Bytes keep flowing on every held connection, and new connections are served, with no controller.
    const lost = new Set<string>();
    for (let round = 0; round < 3; round++) for (const key of await dropped(keys, `down${round}`)) lost.add(key);
    const fresh = await Promise.all(Array.from({ length: FRESH }, (_, i) => ask(ip, 80, `new${i}`)));
    const refused = fresh.filter((r, i) => r.reply?.endsWith(` new${i}`) !== true);
    console.log(`controller down: ${lost.size}/${HELD} held connections dropped, ${FRESH - refused.length}/${FRESH} new ones served`);
    assert.deepEqual([...lost], [], 'held connections dropped while the controller was down');
    assert.deepEqual(refused, [], 'new connections failed while the controller was down');

    controllers.push(new ControllerProcess(config(), plane.kubeconfigPath, 'ctl2'));
    await until(
      `the restarted controller to reconnect (${logs()})`,
      async () => (/data path proxy connected/.test(controller().log()) ? true : undefined),
      120_000,
    );
    const snapshots = proxy
      .log()
      .split('\n')
      .filter((line) => line.includes('applied the controller snapshot'))
      .map((line) => JSON.parse(line) as { removed: string[]; kept: number });
    assert.equal(snapshots.length, 2, logs());
    assert.deepEqual(snapshots[1]!.removed, [], 'the restarted controller made the proxy close a listener');
    assert.deepEqual(await dropped(keys, 'reconnected'), []);
    assert.match((await ask(ip, 80, 'again')).reply ?? '', / again$/);
    // State converges: a change made through the new controller reaches the proxy.
    const current = await plane.core.readNamespacedService({ name: 'web', namespace: NS });
    current.spec!.ports!.push({ name: 'alt', port: 8080, protocol: 'TCP' });
    const changed = await plane.core.replaceNamespacedService({ name: 'web', namespace: NS, body: current });
    const altNodePort = changed.spec!.ports!.find((p) => p.port === 8080)!.nodePort;
    for (const node of nodes) await node.agent.call('serve', { port: altNodePort, protocol: 'TCP' });
    await until(`${ip}:8080 to answer (${logs()})`, async () => ((await ask(ip, 8080, 'alt')).reply ? true : undefined));
    assert.equal(await ingressIP('web'), ip, 'the address stays');
    const afterRestart = await dropped(keys, 'after');
    console.log(`controller restarted: ${afterRestart.length}/${HELD} held connections dropped`);
    assert.deepEqual(afterRestart, [], 'held connections dropped by the reconnect');
    for (const key of keys) await client.agent.call('close', { key });
  });

  test('a restarted proxy gets everything back from the connected controller', async () => {
    const ip = await ingressIP('web');
    await proxy.kill();
    proxy = new ControllerProcess(config(), plane.kubeconfigPath, 'proxy2', 'proxy');
    proxies.push(proxy);
    await until(
      `the new proxy to serve ${ip}:80 and :8080 (${logs()})`,
      async () => ((await ask(ip, 80, 'a')).reply && (await ask(ip, 8080, 'b')).reply ? true : undefined),
      120_000,
    );
  });

  test('deleting the Service through the new controller removes its listeners and VIP from the proxy', async () => {
    const ip = await ingressIP('web');
    await plane.core.deleteNamespacedService({ name: 'web', namespace: NS });
    await until(`${ip} to leave the interface (${logs()})`, async () => (!(await topo.vipAddresses()).includes(ip) ? true : undefined));
    assert.ok((await ask(ip, 80, 'x')).error, 'nothing answers on the deleted VIP');
  });
});
