// The local provider driven directly, with real traffic: clients and nodes in network namespaces,
// the provider (two proxy workers) in this process, VIPs on a dummy interface it manages.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { localProviderConfigSchema } from '../../src/providers/local/config.ts';
import { createLocalProvider } from '../../src/providers/local/index.ts';
import { ProviderError, type LoadBalancerProvider } from '../../src/providers/provider.ts';
import { desiredFor, nodesReached, until, type Reply } from './helpers.ts';
import { providerDeps } from '../fakes/provider-deps.ts';
import { readableCopy } from '../support/readable-copy.ts';
import { createTopology, type Host, type Topology } from './netns/topology.ts';
import { MetricsRegistry } from '../../src/server/metrics-registry.ts';

const GRACE_SECONDS = 2;
const run = promisify(execFile);

describe('local provider data path', () => {
  let topo: Topology;
  let provider: LoadBalancerProvider;
  let registry: MetricsRegistry;
  let client: Host;
  let outsider: Host;
  let nodes: Host[];

  before(async () => {
    topo = await createTopology({ clients: ['client', 'outsider'], nodes: ['n1', 'n2', 'n3'] });
    client = topo.clients.get('client')!;
    outsider = topo.clients.get('outsider')!;
    nodes = [...topo.nodes.values()];
    registry = new MetricsRegistry();
    const config = localProviderConfigSchema.parse({
      addressPools: [{ name: 'e2e', addresses: [topo.vipPool, topo.vipPool6] }],
      interface: topo.vipInterface,
      workers: 2,
      healthCheck: { intervalSeconds: 0.2, timeoutSeconds: 0.5, unhealthyThreshold: 2, healthyThreshold: 1 },
      drainGraceSeconds: GRACE_SECONDS,
      udpIdleTimeoutSeconds: 5,
    });
    // kube-proxy's /healthz, which judges each node for externalTrafficPolicy Cluster.
    for (const node of nodes) await node.agent.call('health', { port: 10256, ok: true });
    provider = createLocalProvider(config, providerDeps({ clusterName: 'e2e', logger: pino({ level: 'warn' }), registry }));
    await provider.start([]);
  });

  after(async () => {
    await provider?.stop();
    await topo?.destroy();
  });

  const serveAll = async (port: number, protocol: 'TCP' | 'UDP' = 'TCP', on: Host[] = nodes): Promise<void> => {
    await Promise.all(on.map((n) => n.agent.call('serve', { port, protocol })));
  };

  test('TCP and UDP reach every node, and a client reaches the nodes only through the VIP', async () => {
    await serveAll(31001, 'TCP');
    await serveAll(31002, 'UDP');
    const ingress = await provider.ensure(
      desiredFor(
        'web',
        [
          { protocol: 'TCP', port: 80, nodePort: 31001 },
          { protocol: 'UDP', port: 80, nodePort: 31002 },
        ],
        nodes,
      ),
    );
    assert.equal(ingress.length, 1);
    const ip = ingress[0]!.ip!;
    assert.deepEqual(ingress[0], {
      ip,
      ipMode: 'Proxy',
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 80, protocol: 'UDP' },
      ],
    });
    assert.ok((await topo.vipAddresses()).includes(ip), 'the VIP is on the interface');

    assert.deepEqual([...new Set(await nodesReached(client, ip, 80, 24))].sort(), ['n1', 'n2', 'n3']);
    assert.deepEqual([...new Set(await nodesReached(client, ip, 80, 24, 'UDP'))].sort(), ['n1', 'n2', 'n3']);

    const direct = await client.agent.call<Reply>('request', { host: nodes[0]!.address, port: 31001, message: 'x', timeoutMs: 1_000 });
    assert.ok(direct.error, `the client must not reach a node directly, got ${JSON.stringify(direct)}`);

    // Half-close and backpressure, both ways: 8 MB up then FIN, and 8 MB down then FIN.
    const up = await client.agent.call<Reply>('upload', { host: ip, port: 80, bytes: 8_000_000, timeoutMs: 20_000 });
    assert.match(up.reply ?? String(up.error), /^bye n\d 8000000$/);
    const down = await client.agent.call<Reply>('download', { host: ip, port: 80, bytes: 8_000_000, timeoutMs: 20_000 });
    assert.equal(down.bytes, 8_000_000);

    const metrics = await registry.metrics();
    assert.match(
      metrics,
      new RegExp(`service_lb_local_connections_total\\{service="default/web",frontend="${ip.replaceAll('.', '\\.')}:80/TCP"\\} [1-9]`),
    );
    assert.match(metrics, /service_lb_local_bytes_total\{service="default\/web",frontend="[^"]+:80\/TCP",direction="in"\} \d{7,}/);
    assert.match(metrics, /service_lb_local_target_healthy\{node="n1",target="http:\/\/[^"]+:10256\/healthz"\} 1/);
    await provider.delete(desiredFor('web', [], []).identity);
  });

  test('a node added gets traffic; a removed node drains: no new connections, open ones end after the grace', async () => {
    await serveAll(31011);
    const desired = desiredFor('scale', [{ protocol: 'TCP', port: 8080, nodePort: 31011 }], nodes.slice(0, 2));
    const ip = (await provider.ensure(desired))[0]!.ip!;
    assert.deepEqual([...new Set(await nodesReached(client, ip, 8080, 12))].sort(), ['n1', 'n2']);

    assert.equal((await client.agent.call<Reply>('open', { key: 'held', host: ip, port: 8080 })).reply, 'open');
    const heldNode = (await client.agent.call<Reply>('talk', { key: 'held', message: 'hello' })).reply!.split(' ')[0]!;
    const n4 = await topo.addNode('n4');
    await n4.agent.call('serve', { port: 31011, protocol: 'TCP' });
    await n4.agent.call('health', { port: 10256, ok: true });
    const remaining = nodes.slice(0, 2).filter((n) => n.name !== heldNode);
    await provider.updateTargets({ ...desired, targets: desiredFor('x', [], [...remaining, n4]).targets });

    const reached = new Set(await nodesReached(client, ip, 8080, 12));
    assert.deepEqual([...reached].sort(), [remaining[0]!.name, 'n4'].sort(), 'the removed node gets no new connection');
    assert.equal(
      (await client.agent.call<Reply>('talk', { key: 'held', message: 'still' })).reply,
      `${heldNode} still`,
      'in flight during the grace',
    );
    await until(
      'the drained connection to be cut',
      async () =>
        (await client.agent.call<Reply>('talk', { key: 'held', message: 'ping', timeoutMs: 500 })).error === 'closed' ? true : undefined,
      GRACE_SECONDS * 1_000 + 10_000,
    );
    await provider.delete(desired.identity);
  });

  test('externalTrafficPolicy Cluster: a node whose kube-proxy /healthz fails gets no new connections, TCP or UDP', async () => {
    await serveAll(31025);
    await serveAll(31026, 'UDP');
    const desired = desiredFor(
      'cluster',
      [
        { protocol: 'TCP', port: 80, nodePort: 31025 },
        { protocol: 'UDP', port: 80, nodePort: 31026 },
      ],
      nodes,
    );
    const ip = (await provider.ensure(desired))[0]!.ip!;
    assert.deepEqual([...new Set(await nodesReached(client, ip, 80, 9))].sort(), ['n1', 'n2', 'n3']);
    await nodes[2]!.agent.call('health', { port: 10256, ok: false });
    try {
      await until('n3 to stop getting connections', async () => {
        const seen = await nodesReached(client, ip, 80, 6);
        return seen.length === 6 && !seen.includes('n3') ? true : undefined;
      });
      const udp = await nodesReached(client, ip, 80, 6, 'UDP');
      assert.equal(udp.length, 6);
      assert.ok(!udp.includes('n3'), `UDP follows the node check, got ${udp.join(',')}`);
      assert.match(await registry.metrics(), /service_lb_local_target_healthy\{node="n3",target="http:\/\/[^"]+:10256\/healthz"\} 0/);
    } finally {
      await nodes[2]!.agent.call('health', { port: 10256, ok: true });
    }
    await until('n3 to get connections again', async () => ((await nodesReached(client, ip, 80, 9)).includes('n3') ? true : undefined));
    await provider.delete(desired.identity);
  });

  test('externalTrafficPolicy Local: only nodes whose health check passes get new connections', async () => {
    await serveAll(31021);
    await nodes[0]!.agent.call('health', { port: 32100, ok: true });
    await nodes[1]!.agent.call('health', { port: 32100, ok: true });
    await nodes[2]!.agent.call('health', { port: 32100, ok: false });
    const desired = desiredFor('ingress', [{ protocol: 'TCP', port: 443, nodePort: 31021 }], nodes, {
      externalTrafficPolicy: 'Local',
      healthCheck: { kind: 'http', port: 32100, path: '/healthz' },
    });
    const ip = (await provider.ensure(desired))[0]!.ip!;
    assert.deepEqual([...new Set(await nodesReached(client, ip, 443, 12))].sort(), ['n1', 'n2']);

    await client.agent.call('open', { key: 'local', host: ip, port: 443 });
    const heldNode = (await client.agent.call<Reply>('talk', { key: 'local', message: 'a' })).reply!.split(' ')[0]!;
    const held = nodes.find((n) => n.name === heldNode)!;
    await held.agent.call('health', { port: 32100, ok: false });
    const other = heldNode === 'n1' ? 'n2' : 'n1';
    await until('the failing node to stop getting connections', async () => {
      const seen = await nodesReached(client, ip, 443, 6);
      return seen.length === 6 && seen.every((n) => n === other) ? true : undefined;
    });
    assert.equal(
      (await client.agent.call<Reply>('talk', { key: 'local', message: 'b' })).reply,
      `${heldNode} b`,
      'in-flight connections are not cut',
    );

    await nodes[2]!.agent.call('health', { port: 32100, ok: true });
    await until('the recovered node to get connections again', async () =>
      (await nodesReached(client, ip, 443, 9)).includes('n3') ? true : undefined,
    );
    await client.agent.call('close', { key: 'local' });
    await held.agent.call('health', { port: 32100, ok: true });
    await provider.delete(desired.identity);
  });

  test('loadBalancerSourceRanges: the allowed client connects, others are refused, TCP and UDP', async () => {
    await serveAll(31031);
    await serveAll(31032, 'UDP');
    const desired = desiredFor(
      'private',
      [
        { protocol: 'TCP', port: 5432, nodePort: 31031 },
        { protocol: 'UDP', port: 5432, nodePort: 31032 },
      ],
      nodes,
      { sourceRanges: [`${client.address}/32`] },
    );
    const ip = (await provider.ensure(desired))[0]!.ip!;
    assert.match((await client.agent.call<Reply>('request', { host: ip, port: 5432, message: 'in' })).reply ?? '', /^n\d in$/);
    assert.match((await client.agent.call<Reply>('udp', { host: ip, port: 5432, message: 'in' })).reply ?? '', /^n\d in$/);
    const tcp = await outsider.agent.call<Reply>('request', { host: ip, port: 5432, message: 'out', timeoutMs: 1_000 });
    assert.equal(tcp.reply, undefined);
    assert.match(tcp.error ?? '', /ECONNRESET|closed/);
    const udp = await outsider.agent.call<Reply>('udp', { host: ip, port: 5432, message: 'out', timeoutMs: 500 });
    assert.equal(udp.error, 'timeout');
    assert.match(
      await registry.metrics(),
      /service_lb_local_rejected_total\{service="default\/private",frontend="[^"]+:5432\/TCP",reason="source_range"\} [1-9]/,
    );
    await provider.delete(desired.identity);
  });

  test('a shared IP carries TCP and UDP of two Services; overlapping ports are refused', async () => {
    await serveAll(31041);
    await serveAll(31042, 'UDP');
    const share = { 'service-lb-controller.io/allow-shared-ip': 'dns' };
    const tcp = desiredFor('dns-tcp', [{ protocol: 'TCP', port: 53, nodePort: 31041 }], nodes, { annotations: share });
    const udp = desiredFor('dns-udp', [{ protocol: 'UDP', port: 53, nodePort: 31042 }], nodes, { annotations: share });
    const ipTcp = (await provider.ensure(tcp))[0]!.ip!;
    const ipUdp = (await provider.ensure(udp))[0]!.ip!;
    assert.equal(ipUdp, ipTcp);
    assert.match((await client.agent.call<Reply>('request', { host: ipTcp, port: 53, message: 'q' })).reply ?? '', /^n\d q$/);
    assert.match((await client.agent.call<Reply>('udp', { host: ipTcp, port: 53, message: 'q' })).reply ?? '', /^n\d q$/);

    const clash = desiredFor('dns-tcp-2', [{ protocol: 'TCP', port: 53, nodePort: 31041 }], nodes, { annotations: share });
    await assert.rejects(
      provider.ensure(clash),
      (err: unknown) => err instanceof ProviderError && !err.retryable && /ports TCP\/53 overlap/.test(err.message),
    );
    assert.equal(await provider.get(clash.identity), undefined);
    await provider.delete(tcp.identity);
    assert.match(
      (await client.agent.call<Reply>('udp', { host: ipTcp, port: 53, message: 'q' })).reply ?? '',
      /^n\d q$/,
      'the other Service keeps the address',
    );
    assert.ok((await topo.vipAddresses()).includes(ipTcp));
    await provider.delete(udp.identity);
    assert.ok(!(await topo.vipAddresses()).includes(ipTcp), 'freed with its last holder');
  });

  test('a requested IP is honoured; a taken one is refused and disturbs nothing', async () => {
    await serveAll(31051);
    const wanted = topo.vipPool.replace(/\.0\/24$/, '.77');
    const first = desiredFor('asks', [{ protocol: 'TCP', port: 80, nodePort: 31051 }], nodes, { requestedIPs: [wanted] });
    assert.equal((await provider.ensure(first))[0]!.ip, wanted);
    const second = desiredFor('asks-too', [{ protocol: 'TCP', port: 81, nodePort: 31051 }], nodes, { requestedIPs: [wanted] });
    await assert.rejects(
      provider.ensure(second),
      (err: unknown) =>
        err instanceof ProviderError && !err.retryable && err.message === `address ${wanted} is already used by Service default/asks`,
    );
    const outside = desiredFor('outside', [{ protocol: 'TCP', port: 80, nodePort: 31051 }], nodes, {
      annotations: { 'service-lb-controller.io/load-balancer-ips': '192.0.2.1' },
    });
    await assert.rejects(provider.ensure(outside), /192\.0\.2\.1 is not in any address pool/);
    const sctp = desiredFor('sctp', [{ protocol: 'SCTP', port: 80, nodePort: 31051 }], nodes);
    await assert.rejects(provider.ensure(sctp), /port 80\/SCTP is not supported/);
    assert.match((await client.agent.call<Reply>('request', { host: wanted, port: 80, message: 'ok' })).reply ?? '', /^n\d ok$/);
    await provider.delete(first.identity);
  });

  test('sessionAffinity ClientIP keeps a client on one node', async () => {
    await serveAll(31061);
    const desired = desiredFor('sticky', [{ protocol: 'TCP', port: 80, nodePort: 31061 }], nodes, {
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 },
    });
    const ip = (await provider.ensure(desired))[0]!.ip!;
    const seen = await nodesReached(client, ip, 80, 15);
    assert.equal(seen.length, 15);
    assert.equal(new Set(seen).size, 1, `one node for one client, got ${seen.join(',')}`);
    await provider.delete(desired.identity);
  });

  test('deleting a Service frees its VIP and closes its listeners', async () => {
    await serveAll(31071);
    const desired = desiredFor('gone', [{ protocol: 'TCP', port: 80, nodePort: 31071 }], nodes);
    const ip = (await provider.ensure(desired))[0]!.ip!;
    assert.match((await client.agent.call<Reply>('request', { host: ip, port: 80, message: 'x' })).reply ?? '', /^n\d x$/);
    await provider.delete(desired.identity);
    await provider.delete(desired.identity);
    assert.equal(await provider.get(desired.identity), undefined);
    assert.ok(!(await topo.vipAddresses()).includes(ip), 'the VIP left the interface');
    const after = await client.agent.call<Reply>('request', { host: ip, port: 80, message: 'x', timeoutMs: 1_000 });
    assert.ok(after.error, `nothing answers on the freed VIP, got ${JSON.stringify(after)}`);
    const next = desiredFor('reuse', [{ protocol: 'TCP', port: 80, nodePort: 31071 }], nodes, { requestedIPs: [ip] });
    assert.equal((await provider.ensure(next))[0]!.ip, ip, 'the freed address can be taken again');
    await provider.delete(next.identity);
  });

  test('dual-stack: one address per family, each reaching the nodes over its own family', async () => {
    await serveAll(31091);
    await serveAll(31092, 'UDP');
    const desired = desiredFor(
      'dual',
      [
        { protocol: 'TCP', port: 80, nodePort: 31091 },
        { protocol: 'UDP', port: 80, nodePort: 31092 },
      ],
      nodes,
      { ipFamilies: ['IPv6', 'IPv4'] },
    );
    const ingress = await provider.ensure(desired);
    assert.equal(ingress.length, 2);
    const [v6, v4] = ingress.map((i) => i.ip!);
    assert.match(v6!, /^fd00:/, 'the primary family comes first');
    assert.match(v4!, /^10\./);
    assert.ok((await topo.vipAddresses()).includes(v6!));
    for (const ip of [v6!, v4!]) {
      assert.deepEqual([...new Set(await nodesReached(client, ip, 80, 9))].sort(), ['n1', 'n2', 'n3'], `TCP over ${ip}`);
      assert.deepEqual([...new Set(await nodesReached(client, ip, 80, 9, 'UDP'))].sort(), ['n1', 'n2', 'n3'], `UDP over ${ip}`);
    }
    assert.match(
      await registry.metrics(),
      /service_lb_local_target_healthy\{node="n1",target="http:\/\/\[fd00:[^"]+\]:10256\/healthz"\} 1/,
    );
    await provider.delete(desired.identity);
    assert.ok(!(await topo.vipAddresses()).includes(v6!));
  });

  test('listOwned and get report what the provider serves', async () => {
    await serveAll(31081);
    const desired = desiredFor('listed', [{ protocol: 'TCP', port: 80, nodePort: 31081 }], nodes);
    const ingress = await provider.ensure(desired);
    assert.deepEqual(await provider.get(desired.identity), { ingress });
    assert.deepEqual(await provider.get({ ...desired.identity, uid: 'another-uid' }), undefined);
    assert.deepEqual(
      (await provider.listOwned()).map((o) => o.identity),
      [desired.identity],
    );
    await provider.delete(desired.identity);
    assert.deepEqual(await provider.listOwned(), []);
  });
});

describe('local provider interface errors', () => {
  test('an interface that does not exist is named in the error', async () => {
    const config = localProviderConfigSchema.parse({
      addressPools: [{ name: 'edge', addresses: ['198.51.100.0/24'] }],
      interface: 'slbnope0',
    });
    const provider = createLocalProvider(config, providerDeps({ clusterName: 'e2e' }));
    await assert.rejects(provider.start([]), /interface slbnope0: no interface named "slbnope0"/);
    await provider.stop();
  });

  test('a VIP that is not on this host, with no interface to manage, is a clear error', async () => {
    const config = localProviderConfigSchema.parse({ addressPools: [{ name: 'remote', addresses: ['192.0.2.0/24'] }] });
    const provider = createLocalProvider(config, providerDeps({ clusterName: 'e2e' }));
    await provider.start([]);
    try {
      await assert.rejects(
        provider.ensure(desiredFor('far', [{ protocol: 'TCP', port: 80, nodePort: 30999 }], [])),
        (err: unknown) =>
          err instanceof ProviderError &&
          err.retryable &&
          err.message ===
            'cannot listen on 192.0.2.1:80/TCP: the address is not on this host (set provider.local.interface, or add the address yourself)',
      );
    } finally {
      await provider.stop();
    }
  });

  test('without CAP_NET_ADMIN the error says what is missing', async () => {
    // "nobody" may not be able to read the checkout (a clone in root's 0700 home): it runs a copy.
    const copy = readableCopy(fileURLToPath(new URL('./fixtures/add-address.ts', import.meta.url)));
    let stdout: string;
    try {
      // As "nobody", with no capabilities: what a controller gets when its Pod lacks NET_ADMIN.
      ({ stdout } = await run('setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=-all',
        copy.node,
        copy.script,
        'lo',
        '192.0.2.254',
      ]));
    } finally {
      copy.remove();
    }
    assert.equal(
      stdout.trim(),
      'cannot add 192.0.2.254 to interface lo: operation not permitted: the controller needs CAP_NET_ADMIN, or leave provider.local.interface unset and manage the address yourself',
    );
  });
});
