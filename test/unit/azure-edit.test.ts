// Pure edits of a shared load balancer and the cluster NSG: names as upstream, foreign items kept, priorities, limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LoadBalancer, NetworkSecurityGroup, SecurityRule } from '@azure/arm-network';
import { parseAzureAnnotations } from '../../src/providers/azure/annotations.ts';
import { buildSecurityRules, buildServicePart } from '../../src/providers/azure/desired.ts';
import {
  applySecurityRules,
  applyServicePart,
  canonicalJson,
  LoadBalancerFull,
  removeSecurityRules,
  removeService,
} from '../../src/providers/azure/edit.ts';
import { ResourceIds } from '../../src/providers/azure/names.ts';
import { defaultLoadBalancerName, type DesiredLoadBalancer } from '../../src/providers/provider.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';

const ids = new ResourceIds('sub');

function svc(uid: string, overrides: Partial<DesiredLoadBalancer> = {}): DesiredLoadBalancer {
  return {
    ...plainServiceDefaults(),
    identity: { clusterName: 'c', namespace: 'ns', name: uid, uid, lbName: defaultLoadBalancerName(uid) },
    listeners: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    targets: [],
    ...overrides,
  };
}

function part(desired: DesiredLoadBalancer) {
  const { options } = parseAzureAnnotations(desired.annotations);
  return buildServicePart(desired, options, {
    clusterName: 'c',
    ids,
    resourceGroup: 'rg',
    loadBalancerName: 'c',
    backendPoolName: 'c',
    publicIPId: ids.publicIP('rg', `c-${desired.identity.lbName}`),
  });
}

const LIMITS = { maxFrontends: 600, maxRules: 1500 };

describe('azure LB edits', () => {
  test('a Service part: frontend, rule and probe per port/protocol, names as upstream', () => {
    const d = svc('11111111-2222-3333-4444-555555555555', {
      listeners: [
        { name: 'a', protocol: 'TCP', port: 53, nodePort: 31000 },
        { name: 'b', protocol: 'UDP', port: 53, nodePort: 31001 },
      ],
    });
    const p = part(d);
    assert.equal(p.frontend.name, 'a1111111122223333444455555555555');
    assert.deepEqual(
      p.rules.map((r) => [r.name, r.protocol, r.backendPort, r.enableFloatingIP]),
      [
        ['a1111111122223333444455555555555-TCP-53', 'Tcp', 31000, false],
        ['a1111111122223333444455555555555-UDP-53', 'Udp', 31001, false],
      ],
    );
    assert.deepEqual(
      p.probes.map((x) => [x.name, x.protocol, x.port]),
      [['a1111111122223333444455555555555-TCP-53', 'Tcp', 31000]],
    );
  });

  test('apply is idempotent, keeps foreign items, and removal takes only the Service', () => {
    const foreign: LoadBalancer = {
      frontendIPConfigurations: [{ name: 'outbound', publicIPAddress: { id: 'x' } }],
      loadBalancingRules: [],
      probes: [{ name: 'foreign-probe' }],
    };
    const a = svc('aaaaaaaa-0000-0000-0000-000000000000');
    const b = svc('bbbbbbbb-0000-0000-0000-000000000000');
    const lb = structuredClone(foreign);
    applyServicePart(lb, a.identity.lbName, part(a), LIMITS, 'c');
    applyServicePart(lb, b.identity.lbName, part(b), LIMITS, 'c');
    const once = canonicalJson(lb);
    applyServicePart(lb, a.identity.lbName, part(a), LIMITS, 'c');
    assert.equal(canonicalJson(lb), once, 'no change the second time');
    const removed = removeService(lb, a.identity.lbName);
    assert.equal(removed.frontends, 1);
    assert.deepEqual(removed.publicIPIds, [ids.publicIP('rg', `c-${a.identity.lbName}`)]);
    removeService(lb, b.identity.lbName);
    assert.equal(canonicalJson(lb), canonicalJson(foreign));
  });

  test('a UDP port going from externalTrafficPolicy Local to Cluster loses its probe and the probe reference', () => {
    const listeners = [{ name: 'dns', protocol: 'UDP' as const, port: 53, nodePort: 31053 }];
    const local = svc('cccccccc-0000-0000-0000-000000000000', {
      listeners,
      externalTrafficPolicy: 'Local',
      healthCheck: { kind: 'http', port: 32000, path: '/healthz' },
    });
    const lb: LoadBalancer = {};
    applyServicePart(lb, local.identity.lbName, part(local), LIMITS, 'c');
    assert.equal(lb.probes!.length, 1);
    assert.ok(lb.loadBalancingRules![0]!.probe, "Local: the rule has kube-proxy's probe");
    const cluster = { ...local, externalTrafficPolicy: 'Cluster' as const, healthCheck: { kind: 'tcp' as const } };
    applyServicePart(lb, local.identity.lbName, part(cluster), LIMITS, 'c');
    assert.deepEqual(lb.probes, []);
    assert.equal(lb.loadBalancingRules![0]!.probe, undefined, 'no reference to the removed probe');
  });

  test('a port change replaces the rule; limits refuse only new Services', () => {
    const a = svc('aaaaaaaa-0000-0000-0000-000000000000');
    const lb: LoadBalancer = {};
    applyServicePart(lb, a.identity.lbName, part(a), { maxFrontends: 1, maxRules: 1 }, 'c');
    const moved = { ...a, listeners: [{ name: 'http', protocol: 'TCP' as const, port: 8080, nodePort: 30080 }] };
    applyServicePart(lb, a.identity.lbName, part(moved), { maxFrontends: 1, maxRules: 1 }, 'c');
    assert.deepEqual(
      lb.loadBalancingRules!.map((r) => r.name),
      [`${a.identity.lbName}-TCP-8080`],
    );
    assert.deepEqual(
      lb.probes!.map((r) => r.name),
      [`${a.identity.lbName}-TCP-8080`],
    );
    const b = svc('bbbbbbbb-0000-0000-0000-000000000000');
    assert.throws(() => applyServicePart(lb, b.identity.lbName, part(b), { maxFrontends: 1, maxRules: 10 }, 'c'), LoadBalancerFull);
    assert.throws(() => applyServicePart(lb, b.identity.lbName, part(b), { maxFrontends: 10, maxRules: 1 }, 'c'), LoadBalancerFull);
  });
});

describe('azure NSG edits', () => {
  const foreign: SecurityRule[] = [
    { name: 'ssh', priority: 500, direction: 'Inbound', access: 'Allow' },
    { name: 'egress', priority: 502, direction: 'Outbound', access: 'Deny' },
  ];

  test('priorities: lowest free slots from 500, foreign rules of any direction counted, kept on re-apply', () => {
    const d = svc('aaaaaaaa-0000-0000-0000-000000000000', {
      listeners: [
        { name: 'a', protocol: 'TCP', port: 80, nodePort: 30080 },
        { name: 'b', protocol: 'TCP', port: 443, nodePort: 30443 },
      ],
    });
    const nsg: NetworkSecurityGroup = { securityRules: structuredClone(foreign) };
    applySecurityRules(nsg, d.identity.lbName, buildSecurityRules(d, ['Internet'], ['10.0.0.4']));
    const ours = nsg.securityRules!.filter((r) => r.name!.startsWith('a'));
    assert.deepEqual(
      ours.map((r) => [r.name, r.priority, r.destinationPortRange]),
      [
        [`${d.identity.lbName}-TCP-443-Internet`, 501, '30443'],
        [`${d.identity.lbName}-TCP-80-Internet`, 503, '30080'],
      ],
    );
    const before = canonicalJson(nsg);
    applySecurityRules(nsg, d.identity.lbName, buildSecurityRules(d, ['Internet'], ['10.0.0.4']));
    assert.equal(canonicalJson(nsg), before);
    removeSecurityRules(nsg, d.identity.lbName);
    assert.deepEqual(nsg.securityRules, foreign);
  });

  test('no free priority: the Service is refused', () => {
    const full: NetworkSecurityGroup = {
      securityRules: Array.from({ length: 4096 - 500 + 1 }, (_, i) => ({ name: `f${i}`, priority: 500 + i })),
    };
    const d = svc('aaaaaaaa-0000-0000-0000-000000000000');
    assert.throws(() => applySecurityRules(full, d.identity.lbName, buildSecurityRules(d, ['Internet'], ['10.0.0.4'])), /no free priority/);
  });
});
