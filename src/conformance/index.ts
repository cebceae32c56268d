// The provider conformance kit: the contract tests every provider passes, registered as node:test tests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  defaultLoadBalancerName,
  ProviderError,
  type DesiredLoadBalancer,
  type IngressStatus,
  type LoadBalancerIdentity,
  type LoadBalancerProvider,
  type Listener,
  type ProviderDeps,
  type Target,
} from '../providers/provider.ts';
import { MetricsRegistry } from '../server/metrics-registry.ts';

export interface ConformanceOptions {
  /** The describe() the tests are registered under. */
  name?: string;
  /** A fresh provider for each test; the kit starts it (with no known load balancers) and stops it. */
  createProvider: (deps: ProviderDeps) => LoadBalancerProvider | Promise<LoadBalancerProvider>;
  /** Default "conformance". */
  clusterName?: string;
  /** Three or more nodes the provider can target (default: 10.0.1.11, 10.0.2.12, 10.0.1.13 as InternalIP). */
  nodes?: Target[];
  /** The two Service ports the tests use, [first, after the change]; default [8080, 8443]. */
  ports?: [number, number];
  /**
   * Whether the provider carries UDP; the port change then also adds a UDP listener on the same port and
   * nodePort as the TCP one (as Kubernetes allows, and as a TCP_UDP cloud listener needs). Default true.
   */
  udp?: boolean;
  /** Adjusts every desired state the kit builds (annotations a provider needs, say); default as is. */
  makeDesired?: (desired: DesiredLoadBalancer) => DesiredLoadBalancer;
  /** Turns a valid desired state into one the provider must refuse as the Service's fault; no test without it. */
  invalidService?: (desired: DesiredLoadBalancer) => DesiredLoadBalancer;
  /**
   * The node addresses the load balancer sends to now, read from the provider's cloud; with it, the
   * node change test checks the targets moved, not only that updateTargets succeeded.
   */
  targetAddresses?: (provider: LoadBalancerProvider, identity: LoadBalancerIdentity) => Promise<string[]>;
  /** Per-test timeout, default 120 s (cloud emulators are slow). */
  timeoutMs?: number;
}

const DEFAULT_NODES: Target[] = [
  { nodeName: 'node-a', addresses: [{ type: 'InternalIP', address: '10.0.1.11' }] },
  { nodeName: 'node-b', addresses: [{ type: 'InternalIP', address: '10.0.2.12' }] },
  { nodeName: 'node-c', addresses: [{ type: 'InternalIP', address: '10.0.1.13' }] },
];

function hasAddress(ingress: IngressStatus[]): boolean {
  return ingress.length > 0 && ingress.every((i) => Boolean(i.ip || i.hostname));
}

function portsOf(ingress: IngressStatus[]): string[] | undefined {
  const ports = ingress.flatMap((i) => i.ports ?? []);
  return ports.length > 0 ? [...new Set(ports.map((p) => `${p.port}/${p.protocol}`))].sort() : undefined;
}

function internalAddresses(targets: Target[]): string[] {
  return targets.flatMap((t) => t.addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address)).sort();
}

/**
 * Registers the conformance tests in a describe(). Call it at the top level of a test file (or inside a
 * describe whose hooks prepare the cloud: they run around every test of the kit).
 */
export function runConformance(options: ConformanceOptions): void {
  const clusterName = options.clusterName ?? 'conformance';
  const nodes = options.nodes ?? DEFAULT_NODES;
  if (nodes.length < 3) throw new Error('runConformance: nodes needs at least three targets');
  const [port, otherPort] = options.ports ?? [8080, 8443];
  const udp = options.udp ?? true;
  const adjust = options.makeDesired ?? ((d: DesiredLoadBalancer) => d);
  const timeout = options.timeoutMs ?? 120_000;
  const started: LoadBalancerProvider[] = [];

  const desired = (name: string, listeners: Listener[], targets = nodes.slice(0, 2)): DesiredLoadBalancer => {
    const uid = randomUUID();
    return adjust({
      identity: { clusterName, namespace: 'conformance', name, uid, lbName: defaultLoadBalancerName(uid) },
      listeners,
      targets,
      healthCheck: { kind: 'tcp' },
      externalTrafficPolicy: 'Cluster',
      sourceRanges: [],
      sessionAffinity: { type: 'None' },
      requestedIPs: [],
      ipFamilies: ['IPv4'],
      annotations: {},
      currentIngress: [],
    });
  };
  const tcp = (p: number, nodePort: number): Listener => ({ name: `tcp-${p}`, protocol: 'TCP', port: p, nodePort });
  const web = (name: string) => desired(name, [tcp(port, 30080)]);

  const deps = (): ProviderDeps => ({
    clusterName,
    logger: pino({ level: 'silent' }),
    registry: new MetricsRegistry(),
    events: { record: () => undefined },
    capacityFreed: () => undefined,
  });
  const provider = async (): Promise<LoadBalancerProvider> => {
    const p = await options.createProvider(deps());
    await p.start([]);
    started.push(p);
    return p;
  };
  /** What the core does after an ensure: the next desired state carries the published ingress. */
  const published = (d: DesiredLoadBalancer, ingress: IngressStatus[]): DesiredLoadBalancer => ({ ...d, currentIngress: ingress });
  const owned = async (p: LoadBalancerProvider, uid: string) => (await p.listOwned()).filter((o) => o.identity.uid === uid);

  describe(options.name ?? 'provider conformance', { timeout }, () => {
    afterEach(async () => {
      for (const p of started.splice(0)) await p.stop();
    });

    test('ensure returns an ingress with an address, and get returns the same', async () => {
      const p = await provider();
      const d = web('ensure');
      const ingress = await p.ensure(d);
      assert.ok(hasAddress(ingress), `every ingress entry has an ip or a hostname: ${JSON.stringify(ingress)}`);
      assert.deepEqual((await p.get(d.identity))?.ingress, ingress);
    });

    test('ensure is idempotent: the same ingress and still one load balancer', async () => {
      const p = await provider();
      const d = web('idempotent');
      const first = await p.ensure(d);
      assert.deepEqual(await p.ensure(published(d, first)), first);
      assert.deepEqual(await p.ensure(published(d, first)), first);
      assert.equal((await owned(p, d.identity.uid)).length, 1);
    });

    test('updateTargets after a node change keeps the ingress', async () => {
      const p = await provider();
      const d = web('nodes');
      const ingress = await p.ensure(d);
      const changed = { ...published(d, ingress), targets: [nodes[1]!, nodes[2]!] };
      await p.updateTargets(changed);
      if (options.targetAddresses) {
        assert.deepEqual((await options.targetAddresses(p, d.identity)).sort(), internalAddresses(changed.targets));
      }
      assert.deepEqual((await p.get(d.identity))?.ingress, ingress);
      assert.deepEqual(await p.ensure(changed), ingress, 'a resync after the node change changes nothing');
    });

    test('get returns undefined for a load balancer never created, and after delete', async () => {
      const p = await provider();
      const d = web('get');
      assert.equal(await p.get(d.identity), undefined);
      await p.ensure(d);
      await p.delete(d.identity);
      assert.equal(await p.get(d.identity), undefined);
    });

    test('delete is idempotent: twice, and on an identity never created', async () => {
      const p = await provider();
      const d = web('delete');
      await p.ensure(d);
      await p.delete(d.identity);
      await p.delete(d.identity);
      await p.delete(web('never').identity);
      assert.deepEqual(await owned(p, d.identity.uid), []);
    });

    test('listOwned lists what ensure created, with its identity, and not after delete', async () => {
      const p = await provider();
      const a = web('owned-a');
      const b = web('owned-b');
      await p.ensure(a);
      await p.ensure(b);
      for (const d of [a, b]) {
        const found = await owned(p, d.identity.uid);
        assert.equal(found.length, 1, `${d.identity.name} listed once`);
        const { identity } = found[0]!;
        assert.equal(identity.clusterName, clusterName);
        // A cloud that records only the UID lists namespace and name as '' (the core matches by UID).
        if (identity.name !== '') assert.deepEqual([identity.namespace, identity.name], [d.identity.namespace, d.identity.name]);
      }
      await p.delete(a.identity);
      assert.deepEqual(await owned(p, a.identity.uid), []);
      assert.equal((await owned(p, b.identity.uid)).length, 1, 'deleting one leaves the other');
      assert.ok(hasAddress((await p.get(b.identity))?.ingress ?? []), 'the other still serves');
    });

    test(`a port change${udp ? ' and a new UDP listener' : ''} are applied and published`, async () => {
      const p = await provider();
      const d = web('ports');
      const first = await p.ensure(d);
      const listeners = [
        tcp(otherPort, 30443),
        ...(udp ? [{ name: 'udp', protocol: 'UDP' as const, port: otherPort, nodePort: 30443 }] : []),
      ];
      const changed = { ...published(d, first), listeners };
      const ingress = await p.ensure(changed);
      assert.ok(hasAddress(ingress));
      const ports = portsOf(ingress);
      if (ports) assert.deepEqual(ports, listeners.map((l) => `${l.port}/${l.protocol}`).sort());
      assert.deepEqual((await p.get(d.identity))?.ingress, ingress);
      assert.equal((await owned(p, d.identity.uid)).length, 1, 'changed in place, not a second load balancer');
    });

    test('a restarted provider, handed what status says, still knows its load balancers and keeps their addresses', async () => {
      const p = await provider();
      const lbs = [web('restart-a'), web('restart-b')];
      const ingress = [await p.ensure(lbs[0]!), await p.ensure(lbs[1]!)];
      await p.stop();
      started.splice(started.indexOf(p), 1);
      const again = await options.createProvider(deps());
      await again.start(lbs.map((d, i) => ({ identity: d.identity, ingress: ingress[i]! })));
      started.push(again);
      for (const d of lbs) assert.equal((await owned(again, d.identity.uid)).length, 1, `${d.identity.name} listed`);
      // In the other order: an address that only looks stable because it is handed out again fails here.
      assert.deepEqual(await again.ensure(published(lbs[1]!, ingress[1]!)), ingress[1], 'the second keeps its address');
      assert.deepEqual(await again.ensure(published(lbs[0]!, ingress[0]!)), ingress[0], 'the first keeps its address');
    });

    if (options.invalidService) {
      const invalid = options.invalidService;
      test('an invalid Service is refused with a ProviderError that is not retryable', async () => {
        const p = await provider();
        const d = invalid(web('invalid'));
        await assert.rejects(p.ensure(d), (err: unknown) => {
          assert.ok(err instanceof ProviderError, `a ProviderError, not ${String(err)}`);
          assert.equal(err.retryable, false);
          assert.ok(err.message.length > 0);
          return true;
        });
      });
    }
  });
}
