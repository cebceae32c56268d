// Frontends and health checks planned from the desired state and node addresses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DesiredLoadBalancer } from '../../src/providers/provider.ts';
import { planFrontends, targetAddress, type ClusterCheck } from '../../src/providers/local/targets.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';

function desired(extra: Partial<DesiredLoadBalancer> = {}): DesiredLoadBalancer {
  return {
    identity: { clusterName: 'k', namespace: 'ns', name: 'web', uid: 'u', lbName: 'au' },
    listeners: [
      { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 },
      { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 },
    ],
    targets: [
      {
        nodeName: 'n1',
        addresses: [
          { type: 'Hostname', address: 'n1' },
          { type: 'InternalIP', address: '10.0.0.1' },
          { type: 'InternalIP', address: 'fd00::1' },
        ],
      },
      { nodeName: 'n2', addresses: [{ type: 'ExternalIP', address: '198.51.100.2' }] },
    ],
    ...plainServiceDefaults(),
    ...extra,
  };
}

test('the node address follows the configured types, preferring the VIP family', () => {
  const n1 = desired().targets[0]!;
  assert.equal(targetAddress(n1, 'IPv4', ['InternalIP']), '10.0.0.1');
  assert.equal(targetAddress(n1, 'IPv6', ['InternalIP']), 'fd00::1');
  assert.equal(targetAddress(desired().targets[1]!, 'IPv4', ['InternalIP']), undefined);
  assert.equal(targetAddress(desired().targets[1]!, 'IPv4', ['InternalIP', 'ExternalIP']), '198.51.100.2');
});

const KUBE_PROXY: ClusterCheck = { protocol: 'HTTP', port: 10256, path: '/healthz' };

test('one frontend per VIP and listener, to every node with an address', () => {
  const plan = planFrontends(desired(), ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => true);
  assert.deepEqual(
    plan.frontends.map((f) => [f.protocol, f.ip, f.port, f.backends.map((b) => `${b.node}@${b.address}:${f.nodePort}`)]),
    [
      ['TCP', '127.0.100.1', 80, ['n1@10.0.0.1:30080']],
      ['UDP', '127.0.100.1', 53, ['n1@10.0.0.1:30053']],
    ],
  );
});

test('externalTrafficPolicy Cluster: one check per node, kube-proxy /healthz by default, judging TCP and UDP ports alike', () => {
  const plan = planFrontends(desired(), ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => false);
  assert.deepEqual(plan.probes, [{ node: 'n1', kind: 'http', address: '10.0.0.1', port: 10256, path: '/healthz' }]);
  assert.deepEqual(
    plan.frontends.map((f) => f.backends[0]!.healthy),
    [false, false],
  );
});

test('the Cluster check can be a TCP connect to a chosen port', () => {
  const plan = planFrontends(desired(), ['127.0.100.1'], ['InternalIP'], { protocol: 'TCP', port: 30999, path: '/' }, (key) =>
    key.endsWith(':30999'),
  );
  assert.deepEqual(plan.probes, [{ node: 'n1', kind: 'tcp', address: '10.0.0.1', port: 30999 }]);
  assert.ok(plan.frontends.every((f) => f.backends[0]!.healthy));
});

test('HTTP health (externalTrafficPolicy Local) judges every port of a node', () => {
  const d = desired({ healthCheck: { kind: 'http', port: 32000, path: '/healthz' }, externalTrafficPolicy: 'Local' });
  const plan = planFrontends(d, ['127.0.100.1', 'fd00::5'], ['InternalIP'], KUBE_PROXY, (key) => !key.includes('fd00::1'));
  assert.deepEqual(plan.probes, [
    { node: 'n1', kind: 'http', address: '10.0.0.1', port: 32000, path: '/healthz' },
    { node: 'n1', kind: 'http', address: 'fd00::1', port: 32000, path: '/healthz' },
  ]);
  assert.deepEqual(
    plan.frontends.map((f) => f.backends[0]!.healthy),
    [true, true, false, false],
  );
});

test('a verdict is looked up once per node and family, not per port or per check', () => {
  const targets = Array.from({ length: 50 }, (_, i) => ({
    nodeName: `n${i}`,
    addresses: [{ type: 'InternalIP', address: `10.0.${i >> 8}.${i & 255}` }],
  }));
  const listeners = Array.from({ length: 100 }, (_, p) => ({
    name: `p${p}`,
    protocol: 'TCP' as const,
    port: 1000 + p,
    nodePort: 30000 + p,
  }));
  let lookups = 0;
  const plan = planFrontends(desired({ targets, listeners }), ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => {
    lookups++;
    return true;
  });
  assert.equal(lookups, 50);
  assert.equal(plan.probes.length, 50);
  assert.equal(
    plan.frontends.reduce((n, f) => n + f.backends.length, 0),
    5_000,
  );
});

test('load balancers of one node set share one backends list until a verdict changes', () => {
  const shared = desired().targets;
  const plan = (name: string, generation: number | undefined) =>
    planFrontends(
      desired({ identity: { clusterName: 'k', namespace: 'ns', name, uid: name, lbName: name }, targets: shared }),
      ['127.0.100.1'],
      ['InternalIP'],
      KUBE_PROXY,
      () => true,
      generation,
    );
  const a = plan('a', 7);
  const b = plan('b', 7);
  assert.equal(a.frontends[0]!.backends, b.frontends[0]!.backends);
  assert.equal(a.frontends[0]!.backends, a.frontends[1]!.backends, 'TCP and UDP ports of one load balancer too');
  assert.notEqual(plan('c', 8).frontends[0]!.backends, a.frontends[0]!.backends);
  assert.notEqual(plan('d', undefined).frontends[0]!.backends, plan('e', undefined).frontends[0]!.backends);
});
