// The controller CLI with the local provider against a real kube-apiserver, with real traffic from a
// client namespace to node namespaces: what a user sees through the Kubernetes API.
import type { V1Service } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { ControllerProcess } from './controller-process.ts';
import { localConfig, until, type Reply } from './helpers.ts';
import { createTopology, type Host, type Topology } from './netns/topology.ts';

const NS = 'default';
const DRAIN_SECONDS = 60;

describe('controller with the local provider', () => {
  let plane: ControlPlane;
  let topo: Topology;
  let client: Host;
  let nodes: Host[];
  let controller: ControllerProcess;
  const retired: ControllerProcess[] = [];

  // Without leader election: a restart is a process replaced in place (see the restart test).
  const config = () => localConfig(topo, { drainGraceSeconds: DRAIN_SECONDS });

  before(async () => {
    [plane, topo] = await Promise.all([startControlPlane(), createTopology({ clients: ['client'], nodes: ['n1', 'n2'] })]);
    client = topo.clients.get('client')!;
    nodes = [...topo.nodes.values()];
    for (const node of nodes) {
      await plane.createNode(node.name, { addresses: [{ type: 'InternalIP', address: node.address }] });
      // kube-proxy's /healthz, which judges each node for externalTrafficPolicy Cluster.
      await node.agent.call('health', { port: 10256, ok: true });
    }
    controller = new ControllerProcess(config(), plane.kubeconfigPath, 'ctl');
  });

  after(async () => {
    for (const c of [controller, ...retired]) await c?.dispose();
    await topo?.destroy();
    await plane?.stop();
  });

  /** Creates a LoadBalancer Service and makes every node serve its NodePorts, as kube-proxy would. */
  async function service(name: string, ports: number[], extra: { loadBalancerIP?: string } = {}): Promise<V1Service> {
    const svc = await plane.core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name },
        spec: { type: 'LoadBalancer', ports: ports.map((port) => ({ name: `p${port}`, port, protocol: 'TCP' })), ...extra },
      },
    });
    for (const p of svc.spec!.ports!) for (const node of nodes) await node.agent.call('serve', { port: p.nodePort, protocol: 'TCP' });
    return svc;
  }

  const ingressIP = (name: string): Promise<string> =>
    until(
      `${name} to get an EXTERNAL-IP (controller log: ${controller.logPath})`,
      async () => (await plane.core.readNamespacedService({ name, namespace: NS })).status?.loadBalancer?.ingress?.[0]?.ip,
    );

  const ask = (ip: string, port: number, message: string): Promise<Reply> =>
    client.agent.call<Reply>('request', { host: ip, port, message, timeoutMs: 1_500 });

  test('a Service gets an EXTERNAL-IP that carries traffic to the nodes', async () => {
    await service('web', [80]);
    const ip = await ingressIP('web');
    const svc = await plane.core.readNamespacedService({ name: 'web', namespace: NS });
    assert.deepEqual(JSON.parse(JSON.stringify(svc.status?.loadBalancer?.ingress)), [
      { ip, ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] },
    ]);
    // Its data path runs here, so `run` kept V8's optimizing compilers (src/compilers.ts).
    assert.deepEqual(controller.nodeFlags(), []);
    const seen = new Set<string>();
    await until('requests to reach both nodes', async () => {
      const r = await ask(ip, 80, 'hi');
      if (r.reply) seen.add(r.reply.split(' ')[0]!);
      return seen.size === 2 ? true : undefined;
    });
  });

  test('a requested IP is honoured, and a taken one gets a Warning event', async () => {
    const wanted = topo.vipPool.replace(/\.0\/24$/, '.99');
    await service('asks', [8080], { loadBalancerIP: wanted });
    assert.equal(await ingressIP('asks'), wanted);
    assert.match((await ask(wanted, 8080, 'x')).reply ?? '', /^n\d x$/);

    await service('greedy', [8081], { loadBalancerIP: wanted });
    const event = await until('a Warning event on greedy', async () => {
      const events = await plane.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=greedy' });
      return events.items.find((e) => e.type === 'Warning');
    });
    assert.match(event.message ?? '', new RegExp(`address ${wanted.replaceAll('.', '\\.')} is already used by Service default/asks`));
    const greedy = await plane.core.readNamespacedService({ name: 'greedy', namespace: NS });
    assert.equal(greedy.status?.loadBalancer?.ingress, undefined);
    assert.match((await ask(wanted, 8080, 'still')).reply ?? '', /^n\d still$/, 'the owner is not disturbed');
  });

  test('a controller restart keeps addresses and existing connections', async () => {
    const ip = await ingressIP('web');
    assert.equal((await client.agent.call<Reply>('open', { key: 'long', host: ip, port: 80 })).reply, 'open');
    const node = (await client.agent.call<Reply>('talk', { key: 'long', message: 'before' })).reply!.split(' ')[0];

    const old = controller;
    retired.push(old);
    old.terminate();
    controller = new ControllerProcess(config(), plane.kubeconfigPath, 'ctl2');
    assert.equal((await client.agent.call<Reply>('talk', { key: 'long', message: 'during' })).reply, `${node} during`);

    // The new controller serves new connections on the same address while the old one drains.
    await until(`the restarted controller to serve ${ip} (log: ${controller.logPath})`, async () =>
      (await ask(ip, 80, 'new')).reply ? true : undefined,
    );
    assert.equal(await ingressIP('web'), ip);
    assert.equal(
      (await client.agent.call<Reply>('talk', { key: 'long', message: 'after' })).reply,
      `${node} after`,
      'the old connection lives on',
    );
    assert.ok((await topo.vipAddresses()).includes(ip));

    // Once its last connection ends, the old controller has nothing left to drain and exits cleanly.
    await client.agent.call('close', { key: 'long' });
    assert.equal(await old.exited, 0, old.log().slice(-2_000));
  });

  test('deleting a Service frees its VIP and closes its listeners', async () => {
    const ip = await ingressIP('web');
    await plane.core.deleteNamespacedService({ name: 'web', namespace: NS });
    await until('the Service to be gone (finalizer removed)', async () => {
      try {
        await plane.core.readNamespacedService({ name: 'web', namespace: NS });
        return undefined;
      } catch {
        return true;
      }
    });
    assert.ok(!(await topo.vipAddresses()).includes(ip), 'the VIP left the interface');
    const r = await ask(ip, 80, 'x');
    assert.ok(r.error, `nothing answers on ${ip} any more, got ${JSON.stringify(r)}`);
    await service('web2', [80], { loadBalancerIP: ip });
    assert.equal(await ingressIP('web2'), ip, 'the freed address is free for another Service');
  });
});
