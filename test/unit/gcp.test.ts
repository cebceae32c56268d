// The gcp provider's pure parts: annotations, names and ownership, desired resources per shape, the planner, error classification.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_QUOTED_CHARS } from '../../src/error-message.ts';
import { Annotations, parseGcpAnnotations } from '../../src/providers/gcp/annotations.ts';
import { type GcpContext, planShape } from '../../src/providers/gcp/desired.ts';
import { classifyFailure, isInUse, isQuotaExceeded, OperationError, quotaName } from '../../src/providers/gcp/errors.ts';
import { describesService, identityFromDescription, serviceDescription } from '../../src/providers/gcp/names.ts';
import { matches, planSync } from '../../src/providers/gcp/plan.ts';
import { resolveNodes } from '../../src/providers/gcp/targets.ts';
import { type DesiredLoadBalancer, defaultLoadBalancerName, ProviderError } from '../../src/providers/provider.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';

const uid = '5f3c1b2a-1111-2222-3333-444455556666';
const identity = { clusterName: 'c1', namespace: 'default', name: 'web', uid, lbName: defaultLoadBalancerName(uid) };
const ctx: GcpContext = {
  project: 'p',
  region: 'r1',
  network: 'default',
  subnetwork: 'default',
  nodeTags: ['n'],
  clusterName: 'c1',
  proxySubnetCidr: '10.129.0.0/23',
};
const targets = [
  { nodeName: 'a', addresses: [{ type: 'InternalIP', address: '10.0.0.2' }], providerID: 'gce://p/r1-a/a' },
  { nodeName: 'b', addresses: [{ type: 'InternalIP', address: '10.0.0.3' }], providerID: 'gce://p/r1-b/b' },
  { nodeName: 'bare', addresses: [] },
];

function svc(extra: Partial<DesiredLoadBalancer> = {}): DesiredLoadBalancer {
  return {
    ...plainServiceDefaults(),
    identity,
    listeners: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    targets,
    ...extra,
  };
}

describe('gcp annotations', () => {
  test('internal by the current or the deprecated key; tier; unknown GKE load balancer annotations are listed', () => {
    assert.equal(parseGcpAnnotations({ 'cloud.google.com/load-balancer-type': 'internal' }).internal, true);
    assert.equal(parseGcpAnnotations({ 'cloud.google.com/network-tier': 'Standard' }).networkTier, 'STANDARD');
    assert.deepEqual(parseGcpAnnotations({ 'cloud.google.com/l4-rbs': 'enabled', 'cloud.google.com/neg': '{}' }).ignored, [
      'cloud.google.com/l4-rbs',
    ]);
    assert.deepEqual(parseGcpAnnotations({ 'networking.gke.io/internal-load-balancer-subnet': 'x' }).ignored, [
      'networking.gke.io/internal-load-balancer-subnet',
    ]);
    assert.throws(() => parseGcpAnnotations({ 'service-lb-controller.io/gcp-mode': 'nlb' }), /gcp-mode/);
    assert.throws(() => parseGcpAnnotations({ 'cloud.google.com/network-tier': 'gold' }), /network-tier/);
  });

  test('a 20 KB bad value is quoted cut short in the error, with its size: every key', () => {
    const huge = '!'.repeat(20_000);
    for (const key of Object.values(Annotations)) {
      assert.throws(
        () => parseGcpAnnotations({ [key]: huge }),
        (err: unknown) =>
          err instanceof ProviderError &&
          err.message.includes(key) &&
          err.message.includes('…(20000 bytes)') &&
          err.message.length < MAX_QUOTED_CHARS + 400,
        key,
      );
    }
  });
});

describe('gcp names and ownership', () => {
  test("descriptions keep cloud-provider-gcp's key first; its own descriptions (name only) count as ours", () => {
    const d = serviceDescription(identity);
    assert.match(d, /^\{"kubernetes.io\/service-name":"default\/web"/);
    assert.equal(describesService(d, identity), true);
    assert.equal(describesService('{"kubernetes.io/service-name":"default/web"}', identity), true);
    assert.equal(describesService(serviceDescription({ ...identity, clusterName: 'other' }), identity), false);
    assert.equal(describesService('not json', identity), false);
    assert.deepEqual(identityFromDescription(d, 'c1', 'x'), { ...identity, lbName: 'x' });
    assert.equal(identityFromDescription('{"kubernetes.io/service-name":"default/web"}', 'c1', 'x'), undefined);
  });

  test('nodes: providerID gives the instance and zone; nodes without one are skipped', () => {
    const r = resolveNodes(targets, ['InternalIP']);
    assert.deepEqual(r.skipped, ['bare']);
    assert.deepEqual(
      r.instances.map((n) => `${n.zone}/${n.instance}/${n.ip}`),
      ['r1-a/a/10.0.0.2', 'r1-b/b/10.0.0.3'],
    );
  });
});

describe('gcp desired state', () => {
  const nodes = resolveNodes(targets, ['InternalIP']).instances;
  test('passthrough: address, firewall, health check firewall, shared legacy health check, pool, rule last', () => {
    const plan = planShape(svc(), parseGcpAnnotations({}), 'passthrough', ctx, nodes);
    const kinds = plan.resources('34.1.2.3').map((r) => `${r.kind}/${r.name}`);
    assert.deepEqual(kinds, [
      `firewall/k8s-fw-${identity.lbName}`,
      'firewall/k8s-c1-node-http-hc',
      'httpHealthCheck/k8s-c1-node',
      `targetPool/${identity.lbName}`,
      `forwardingRule/${identity.lbName}`,
    ]);
  });

  test('neg: per zone NEGs with NodeIP:NodePort, refused without a proxy subnet or with source ranges', () => {
    const plan = planShape(svc(), parseGcpAnnotations({}), 'neg', ctx, nodes);
    const negs = plan.resources('34.1.2.3').filter((r) => r.kind === 'networkEndpointGroup');
    assert.deepEqual(
      negs.map((n) => [n.zone, n.members?.map((m) => m.key)]),
      [
        ['r1-a', ['a|10.0.0.2|30080']],
        ['r1-b', ['b|10.0.0.3|30080']],
      ],
    );
    const { proxySubnetCidr: _, ...noProxy } = ctx;
    assert.throws(() => planShape(svc(), parseGcpAnnotations({}), 'neg', noProxy, nodes), /proxy-only subnetwork/);
    assert.throws(
      () => planShape(svc({ sourceRanges: ['1.2.3.0/24'] }), parseGcpAnnotations({}), 'neg', ctx, nodes),
      /loadBalancerSourceRanges/,
    );
  });

  test('internal: mixed protocols refused, as cloud-provider-gcp does', () => {
    const options = parseGcpAnnotations({ 'networking.gke.io/load-balancer-type': 'Internal' });
    const mixed = svc({
      listeners: [
        { name: 'a', protocol: 'TCP', port: 53, nodePort: 1 },
        { name: 'b', protocol: 'UDP', port: 53, nodePort: 2 },
      ],
    });
    assert.throws(() => planShape(mixed, options, 'passthrough', ctx, nodes), /one protocol/);
  });
});

describe('gcp planner', () => {
  const nodes = resolveNodes(targets, ['InternalIP']).instances;
  const resources = planShape(svc(), parseGcpAnnotations({}), 'passthrough', ctx, nodes).resources('34.1.2.3');

  test("matches: full URLs against paths, lists as sets, GCE's extra fields ignored", () => {
    assert.equal(
      matches('projects/p/global/networks/default', 'https://www.googleapis.com/compute/v1/projects/p/global/networks/default'),
      true,
    );
    assert.equal(matches(['b', 'a'], ['a', 'b']), true);
    assert.equal(matches({ group: 'x' }, { group: 'x', capacityScaler: 1 }), true);
    assert.equal(matches(false, undefined), true);
    assert.equal(matches(80, '80'), true);
  });

  test('nothing there: creates in order; a changed pool is replaced with the rule that uses it, rule deleted first', () => {
    const created = planSync({ identity, desired: resources, observed: new Map(), leftovers: [] });
    assert.deepEqual(
      created.map((a) => a.type),
      ['create', 'create', 'create', 'create', 'create'],
    );
    const observed = new Map(
      resources.map((r) => [
        `${r.kind}/${r.name}`,
        {
          ref: r,
          raw: { ...r.spec, description: r.description, ...(r.kind === 'targetPool' ? { sessionAffinity: 'CLIENT_IP' } : {}) },
          members: r.members ?? [],
        },
      ]),
    );
    const actions = planSync({ identity, desired: resources, observed, leftovers: [] });
    assert.deepEqual(
      actions.map((a) => `${a.type}:${'ref' in a ? a.ref.kind : a.resource.kind}`),
      ['delete:forwardingRule', 'delete:targetPool', 'create:targetPool', 'create:forwardingRule'],
    );
  });

  test("a resource with our name but someone else's description is refused", () => {
    const r = resources[0]!;
    const observed = new Map([[`${r.kind}/${r.name}`, { ref: r, raw: { ...r.spec, description: 'hand made' } }]]);
    assert.throws(() => planSync({ identity, desired: [r], observed, leftovers: [] }), ProviderError);
  });
});

describe('gcp errors', () => {
  test('reasons from the raw body (gax), the parsed body (gaxios) and failed operations decide', () => {
    const RAW = Symbol.for('google-gax.rawHttpResponsePayload');
    // The two shapes a failed call has: gax's GoogleError (status + raw body) and googleapis' GaxiosError (parsed body).
    const gax = (status: number, body: unknown) => Object.assign(new Error('x'), { httpStatusCode: status, [RAW]: JSON.stringify(body) });
    const gaxios = (status: number, data: unknown) => Object.assign(new Error('x'), { status, response: { data } });
    for (const make of [gax, gaxios]) {
      const inUse = make(400, { error: { code: 400, errors: [{ reason: 'resourceInUseByAnotherResource' }] } });
      assert.equal(isInUse(inUse), true);
      assert.equal(classifyFailure(inUse), 'client_error');
      assert.equal(classifyFailure(make(429, {})), 'throttled');
      assert.equal(classifyFailure(make(403, { error: { errors: [{ reason: 'rateLimitExceeded' }] } })), 'throttled');
      assert.equal(classifyFailure(make(503, '')), 'server_error');
    }
    assert.equal(classifyFailure(Object.assign(new Error('timed out'), { code: 'TimeoutError' })), 'network_error');
    const quota = new OperationError("Quota 'FORWARDING_RULES' exceeded.  Limit: 1.0 in region r1.", 403, ['QUOTA_EXCEEDED']);
    assert.equal(isQuotaExceeded(quota), true);
    assert.equal(quotaName(quota), 'FORWARDING_RULES');
  });
});
