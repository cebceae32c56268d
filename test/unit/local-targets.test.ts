// Frontends and probes planned from the desired state and node addresses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DesiredLoadBalancer } from '../../src/providers/provider.ts';
import type { Probe } from '../../src/providers/local/health.ts';
import { planFrontends, targetAddress } from '../../src/providers/local/targets.ts';
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

test('one frontend per VIP and listener, to every node with an address', () => {
  const plan = planFrontends(desired(), ['127.0.100.1'], ['InternalIP'], () => true);
  assert.deepEqual(
    plan.frontends.map((f) => [f.protocol, f.ip, f.port, f.backends.map((b) => `${b.node}@${b.address}:${b.port}`)]),
    [
      ['TCP', '127.0.100.1', 80, ['n1@10.0.0.1:30080']],
      ['UDP', '127.0.100.1', 53, ['n1@10.0.0.1:30053']],
    ],
  );
});

test('TCP health: each TCP port is probed; UDP follows the node TCP verdicts', () => {
  const plan = planFrontends(desired(), ['127.0.100.1'], ['InternalIP'], (p: Probe) => p.port !== 30080);
  assert.deepEqual(plan.probes, [{ kind: 'tcp', address: '10.0.0.1', port: 30080 }]);
  assert.equal(plan.frontends[0]!.backends[0]!.healthy, false);
  assert.equal(plan.frontends[1]!.backends[0]!.healthy, false, 'the node refuses its TCP port, so UDP avoids it too');
});

test('a UDP-only Service has nothing to probe with TCP, and its nodes take traffic', () => {
  const plan = planFrontends(
    desired({ listeners: [{ name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 }] }),
    ['127.0.100.1'],
    ['InternalIP'],
    () => false,
  );
  assert.deepEqual(plan.probes, []);
  assert.equal(plan.frontends[0]!.backends[0]!.healthy, true);
});

test('HTTP health (externalTrafficPolicy Local) judges every port of a node', () => {
  const d = desired({ healthCheck: { kind: 'http', port: 32000, path: '/healthz' }, externalTrafficPolicy: 'Local' });
  const plan = planFrontends(d, ['127.0.100.1', 'fd00::5'], ['InternalIP'], (p) => p.address !== 'fd00::1');
  assert.deepEqual(plan.probes, [
    { kind: 'http', address: '10.0.0.1', port: 32000, path: '/healthz' },
    { kind: 'http', address: 'fd00::1', port: 32000, path: '/healthz' },
  ]);
  assert.deepEqual(
    plan.frontends.map((f) => f.backends[0]!.healthy),
    [true, true, false, false],
  );
});
