// The gcp provider against the GCE fake, through the official clients: each shape end to end, node diffs, adoption, crashes, quota, throttling, 409/412/in-use answers.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AddressesClient, TargetPoolsClient } from '@google-cloud/compute';
import { OAuth2Client } from 'google-auth-library';
import { gcpProviderConfigSchema, type GcpProviderConfigInput } from '../../src/providers/gcp/config.ts';
import { GcpProvider } from '../../src/providers/gcp/provider.ts';
import {
  defaultLoadBalancerName,
  type DesiredLoadBalancer,
  type Listener,
  ProviderError,
  type Target,
} from '../../src/providers/provider.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';
import { type Collection, GceFake } from '../fakes/gce/index.ts';
import { providerDeps } from '../fakes/provider-deps.ts';
import { RateBudget } from '../../src/providers/rate-budget.ts';

let gce: GceFake;
const nodes: Target[] = [];

function provider(config: Partial<GcpProviderConfigInput> = {}, deps = providerDeps()): { p: GcpProvider; deps: typeof deps } {
  const parsed = gcpProviderConfigSchema.parse({
    ...gce.providerConfig(),
    callsPerSecond: 10_000,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    maxRetries: 3,
    ...config,
  });
  return { p: new GcpProvider(parsed, deps, { authClient: gce.clientOptions().authClient }), deps };
}

function service(listeners: Listener[], extra: Partial<DesiredLoadBalancer> = {}, name = 'web'): DesiredLoadBalancer {
  const uid = randomUUID();
  return {
    ...plainServiceDefaults(),
    identity: { clusterName: 'test', namespace: 'default', name, uid, lbName: defaultLoadBalancerName(uid) },
    listeners,
    targets: nodes.slice(0, 3),
    ...extra,
  };
}

const tcp = (port: number, nodePort: number): Listener => ({ name: `p${port}`, protocol: 'TCP', port, nodePort });

function mutations(): number {
  return gce.calls().filter((c) => c.httpMethod !== 'GET' && c.method !== 'wait' && !c.method.startsWith('list')).length;
}

function leftovers(): string[] {
  return gce.providerResourceNames();
}

function zonal(collection: Collection): string[] {
  return gce.zones.flatMap((z) => gce.resources(collection, z).map((r) => `${z}/${String(r['name'])}`));
}

before(async () => {
  gce = await GceFake.start({ pageSize: 50 });
  gce.addSubnetwork('proxy-only', { ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY', role: 'ACTIVE' });
  for (const [i, zone] of [gce.zones[0]!, gce.zones[1]!, gce.zones[0]!, gce.zones[1]!].entries()) {
    const name = `node-${i}`;
    const instance = gce.addInstance(name, { zone, tags: ['k8s-node'] });
    const ip = String((instance['networkInterfaces'] as Array<Record<string, unknown>>)[0]!['networkIP']);
    nodes.push({ nodeName: name, addresses: [{ type: 'InternalIP', address: ip }], providerID: `gce://${gce.project}/${zone}/${name}` });
  }
});

after(async () => gce.stop());

describe('gcp provider, mode passthrough', () => {
  test('the README example: address, firewalls, shared health check, target pool, forwarding rule; resync writes nothing; delete leaves nothing', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)]);
    const lb = svc.identity.lbName;
    const [ingress] = await p.ensure(svc);
    assert.equal(ingress?.ipMode, 'VIP');
    const rule = gce.resource('forwardingRules', lb)!;
    assert.equal(rule['IPAddress'], ingress?.ip);
    assert.equal(rule['portRange'], '80-80');
    assert.equal((gce.resource('targetPools', lb)!['instances'] as string[]).length, 3);
    assert.ok(gce.resource('httpHealthChecks', 'k8s-test-node'));
    assert.ok(gce.resource('firewalls', `k8s-fw-${lb}`));
    assert.ok(gce.resource('firewalls', 'k8s-test-node-http-hc'));
    assert.match(String(rule['description']), /^\{"kubernetes.io\/service-name":"default\/web"/);

    gce.resetCalls();
    assert.deepEqual(await p.ensure(svc), [ingress]);
    assert.equal(mutations(), 0, 'a steady resync makes no writes');

    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
    assert.equal(await p.get(svc.identity), undefined);
    await p.delete(svc.identity);
  });

  test('an ingress-style Service (80/443/3306, eTP Local) gets its own health check on healthCheckNodePort', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080), tcp(443, 30443), tcp(3306, 33306)], {
      externalTrafficPolicy: 'Local',
      healthCheck: { kind: 'http', port: 32000, path: '/healthz' },
    });
    const lb = svc.identity.lbName;
    await p.ensure(svc);
    assert.equal(gce.resource('httpHealthChecks', lb)!['port'], 32000);
    assert.equal(gce.resource('forwardingRules', lb)!['portRange'], '80-3306');
    assert.deepEqual((gce.resource('firewalls', `k8s-fw-${lb}`)!['allowed'] as unknown[]).length, 1);
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('TCP and UDP: one forwarding rule per protocol on one address', async () => {
    const { p } = provider();
    const svc = service([tcp(53, 30053), { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30054 }]);
    const lb = svc.identity.lbName;
    const [ingress] = await p.ensure(svc);
    assert.equal(gce.resource('forwardingRules', lb)!['IPProtocol'], 'TCP');
    assert.equal(gce.resource('forwardingRules', `${lb}-udp`)!['IPProtocol'], 'UDP');
    assert.equal(gce.resource('forwardingRules', `${lb}-udp`)!['IPAddress'], ingress?.ip);
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('a node added and one removed reach the target pool in one diff', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)]);
    await p.ensure(svc);
    gce.resetCalls();
    await p.updateTargets({ ...svc, targets: [nodes[1]!, nodes[2]!, nodes[3]!] });
    assert.equal(gce.count({ method: 'addInstance' }), 1);
    assert.equal(gce.count({ method: 'removeInstance' }), 1);
    const instances = gce.resource('targetPools', svc.identity.lbName)!['instances'] as string[];
    assert.deepEqual(instances.map((u) => u.split('/').pop()).sort(), ['node-1', 'node-2', 'node-3']);
    await p.delete(svc.identity);
  });

  test('spec.loadBalancerIP names a reserved address: used, and kept after delete', async () => {
    const addresses = gce.client(AddressesClient);
    const [op] = await addresses.insert({ project: gce.project, region: gce.region, addressResource: { name: 'user-ip' } });
    assert.ok(op);
    const ip = String(gce.resource('addresses', 'user-ip')!['address']);
    const { p } = provider();
    const svc = service([tcp(80, 30080)], { requestedIPs: [ip] });
    assert.equal((await p.ensure(svc))[0]?.ip, ip);
    assert.equal(gce.resource('addresses', svc.identity.lbName), undefined);
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), ['addresses/user-ip']);
    await addresses.delete({ project: gce.project, region: gce.region, address: 'user-ip' });
    await addresses.close();
  });

  test('a fresh process finds what exists and adopts it: no duplicate, no write', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)]);
    await p.ensure(svc);
    const before = leftovers();
    // A fresh process (no memory) over the same resources: adoption, then nothing to write.
    const fresh = provider().p;
    gce.resetCalls();
    await fresh.ensure(svc);
    assert.equal(mutations(), 0);
    assert.deepEqual(leftovers(), before);
    await fresh.delete(svc.identity);
  });

  test('a crash in the middle of create, then a fresh provider deletes everything', async () => {
    const svc = service([tcp(80, 30080)]);
    const { p } = provider();
    gce.failNext({ method: 'insert', collection: 'targetPools', kind: 'server-error', count: 10 });
    await assert.rejects(p.ensure(svc));
    gce.clearFaults();
    assert.ok(leftovers().length > 0);
    await provider().p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('a crash in the middle of delete, then garbage collection by a fresh provider leaves nothing', async () => {
    const svc = service([tcp(80, 30080)]);
    await provider().p.ensure(svc);
    gce.failNext({ method: 'delete', collection: 'targetPools', kind: 'server-error', count: 10 });
    await assert.rejects(provider().p.delete(svc.identity));
    gce.clearFaults();
    const fresh = provider().p;
    const owned = await fresh.listOwned();
    assert.deepEqual(
      owned.map((o) => o.identity.uid),
      [svc.identity.uid],
    );
    await fresh.delete(owned[0]!.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('a quota error is a Warning event naming the quota and a retry later', async () => {
    gce.setQuotas({ TARGET_POOLS: 0 });
    const { p, deps } = provider();
    const svc = service([tcp(80, 30080)]);
    await assert.rejects(p.ensure(svc), (err: unknown) => err instanceof ProviderError && err.retryAfterMs === 60_000);
    assert.ok(deps.recorded.some((e) => e.type === 'Warning' && e.reason === 'QuotaExceeded' && e.message.includes('TARGET_POOLS')));
    gce.setQuotas({});
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('429 answers are retried by the wrapper and counted as throttled', async () => {
    const { p, deps } = provider();
    const svc = service([tcp(80, 30080)]);
    gce.failNext({ method: 'insert', collection: 'forwardingRules', kind: 'too-many-requests', count: 2 });
    await p.ensure(svc);
    const metric = await deps.registry.getSingleMetric('service_lb_gcp_api_calls_total')!.get();
    const throttled = metric.values.filter((v) => v.labels['outcome'] === 'throttled').reduce((n, v) => n + v.value, 0);
    assert.equal(throttled, 2);
    await p.delete(svc.identity);
  });

  test('a request Compute never answers times out and is retried (a read, a mutation); a dropped operation wait is retried', async () => {
    // The fake holds these requests until it stops: without the timeout the ensure would never end. A wait
    // may take two minutes on top of the timeout (Compute's own deadline), so the fake drops that one.
    const { p, deps } = provider({ requestTimeoutMs: 300 });
    const svc = service([tcp(80, 30080)]);
    gce.resetCalls();
    gce.timeoutHoldMs = 500;
    gce.failNext({ method: 'get', collection: 'forwardingRules', kind: 'timeout' });
    gce.failNext({ method: 'insert', collection: 'targetPools', kind: 'timeout' });
    gce.failNext({ method: 'wait', collection: 'operations', kind: 'timeout' });
    try {
      await p.ensure(svc);
    } finally {
      gce.timeoutHoldMs = undefined;
    }
    const held = gce.calls().filter((c) => c.fault === 'timeout');
    assert.deepEqual(held.map((c) => [c.method, c.collection, c.status]).sort(), [
      ['get', 'forwardingRules', 0],
      ['insert', 'targetPools', 0],
      ['wait', 'operations', 0],
    ]);
    assert.ok(gce.resource('forwardingRules', svc.identity.lbName), 'the load balancer was made');
    const metric = await deps.registry.getSingleMetric('service_lb_gcp_api_calls_total')!.get();
    const failed = metric.values.filter((v) => v.labels['outcome'] === 'network_error').reduce((n, v) => n + v.value, 0);
    assert.equal(failed, 3);
    await p.delete(svc.identity);
  });

  test('an operation that runs longer than the request timeout is waited for, not timed out', async () => {
    const { p, deps } = provider({ requestTimeoutMs: 300 });
    const svc = service([tcp(80, 30080)]);
    gce.operationDelayMs = 600;
    try {
      await p.ensure(svc);
      await p.delete(svc.identity);
    } finally {
      gce.operationDelayMs = 0;
    }
    const metric = await deps.registry.getSingleMetric('service_lb_gcp_api_calls_total')!.get();
    const waits = metric.values.filter((v) => String(v.labels['operation']).endsWith('Operations.wait') && v.value > 0);
    assert.ok(waits.length > 0, 'operations were waited for');
    assert.deepEqual(
      waits.filter((v) => v.labels['outcome'] !== 'success').map((v) => `${v.labels['operation']} ${v.labels['outcome']}`),
      [],
    );
  });
});

describe('gcp provider, mode neg', () => {
  test('per port: a NEG per zone with NodeIP:NodePort endpoints, a backend service, a TCP proxy and a forwarding rule; UDP is skipped with a Warning', async () => {
    const { p, deps } = provider({ mode: 'neg' });
    const svc = service([tcp(80, 30080), tcp(443, 30443), { name: 'q', protocol: 'UDP', port: 443, nodePort: 30444 }]);
    const lb = svc.identity.lbName;
    const [ingress] = await p.ensure(svc);
    assert.equal(ingress?.ipMode, 'Proxy');
    assert.equal(gce.resource('forwardingRules', `${lb}-80`)!['loadBalancingScheme'], 'EXTERNAL_MANAGED');
    assert.equal(gce.resource('forwardingRules', `${lb}-443`)!['IPAddress'], ingress?.ip);
    const endpoints = gce.networkEndpoints(`${lb}-80`, gce.zones[0]);
    assert.deepEqual(
      endpoints.map((e) => e['port']),
      [30080, 30080],
    );
    assert.ok(deps.recorded.some((e) => e.reason === 'UnsupportedPort' && e.message.includes('mode neg')));

    gce.resetCalls();
    await p.updateTargets({ ...svc, targets: nodes });
    assert.equal(gce.count({ method: 'attachNetworkEndpoints' }), 2, 'one attach per port in the zone that gained a node');
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(zonal('networkEndpointGroups'), []);
  });

  test('without a proxy-only subnetwork the Service gets a clear error', async () => {
    const { p } = provider({ mode: 'neg', proxySubnet: 'missing' });
    await assert.rejects(p.ensure(service([tcp(80, 30080)])), /proxy-only subnetwork/);
  });
});

describe('gcp provider, internal', () => {
  test('instance groups per zone, an INTERNAL backend service and forwarding rule with global access', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)], {
      annotations: {
        'networking.gke.io/load-balancer-type': 'Internal',
        'networking.gke.io/internal-load-balancer-allow-global-access': 'true',
      },
    });
    const lb = svc.identity.lbName;
    const [ingress] = await p.ensure(svc);
    const rule = gce.resource('forwardingRules', lb)!;
    assert.equal(rule['loadBalancingScheme'], 'INTERNAL');
    assert.equal(rule['allowGlobalAccess'], true);
    assert.equal(rule['IPAddress'], ingress?.ip);
    assert.deepEqual(zonal('instanceGroups').sort(), gce.zones.map((z) => `${z}/k8s-ig--test`).sort());
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(zonal('instanceGroups'), []);
  });
});

/** What the provider's 409/412/in-use handling and the shared budget do with the answers Compute gives. */
describe('gcp provider, error paths', () => {
  const etpLocal = (): DesiredLoadBalancer =>
    service([tcp(80, 30080)], { externalTrafficPolicy: 'Local', healthCheck: { kind: 'http', port: 32000, path: '/healthz' } });

  /**
   * An auth client that, just before the googleapis client sends a given legacy health check insert, makes
   * that health check appear (as another controller process, or an earlier attempt whose answer was lost,
   * would): the provider read "absent", then its insert meets a real 409 alreadyExists.
   */
  function racingAuth(name: string, description: (ours: string) => string): OAuth2Client {
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: 'fake-gce-token', expiry_date: Date.now() + 3_600_000 });
    const send = auth.request.bind(auth);
    let raced = false;
    auth.request = ((opts: { url?: unknown; method?: string; data?: Record<string, unknown> }) => {
      if (!raced && opts.method === 'POST' && String(opts.url).endsWith('/global/httpHealthChecks') && opts.data?.['name'] === name) {
        raced = true;
        gce.addHttpHealthCheck(name, { ...opts.data, description: description(String(opts.data['description'])) });
      }
      return send(opts as Parameters<typeof send>[0]);
    }) as typeof auth.request;
    return auth;
  }

  function racingProvider(auth: OAuth2Client): GcpProvider {
    const parsed = gcpProviderConfigSchema.parse({
      project: gce.project,
      region: gce.region,
      apiEndpoint: '127.0.0.1',
      port: gce.port,
      protocol: 'http',
      nodeTags: ['k8s-node'],
      callsPerSecond: 10_000,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 5,
      maxRetries: 3,
    });
    return new GcpProvider(parsed, providerDeps(), { authClient: auth });
  }

  test('insert answered 409 alreadyExists by a resource that appeared after the read: ours is adopted, no duplicate', async () => {
    const svc = etpLocal();
    const lb = svc.identity.lbName;
    const p = racingProvider(racingAuth(lb, (ours) => ours));
    gce.resetCalls();
    await p.ensure(svc);
    assert.equal(gce.count({ method: 'insert', collection: 'httpHealthChecks', status: 409 }), 1, 'the insert met the race');
    assert.equal(gce.resource('httpHealthChecks', lb)!['port'], 32000);
    assert.equal(gce.resource('targetPools', lb)!['healthChecks'] !== undefined, true);
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
    await p.stop();
  });

  test('insert answered 409 by a resource that is not ours: refused, and left alone', async () => {
    const svc = etpLocal();
    const lb = svc.identity.lbName;
    const p = racingProvider(racingAuth(lb, () => 'made by hand'));
    await assert.rejects(
      p.ensure(svc),
      (err: unknown) => err instanceof ProviderError && !err.retryable && /does not belong to this Service/.test(err.message),
    );
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), [`httpHealthChecks/${lb}`]);
    await p.stop();
    // Not the provider's to delete: the test removes it through the fake's HTTP API.
    const res = await fetch(`http://127.0.0.1:${gce.port}/compute/v1/projects/${gce.project}/global/httpHealthChecks/${lb}`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer t' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(leftovers(), []);
  });

  test('insert answered 409 for a resource that cannot be read yet: a retryable error, and the next sync finishes', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)]);
    gce.failNext({
      method: 'insert',
      collection: 'forwardingRules',
      kind: { status: 409, reason: 'alreadyExists', message: `The resource '${svc.identity.lbName}' already exists` },
    });
    await assert.rejects(p.ensure(svc), (err: unknown) => err instanceof ProviderError && err.retryAfterMs === 5_000);
    const [ingress] = await p.ensure(svc);
    assert.equal(gce.resource('forwardingRules', svc.identity.lbName)!['IPAddress'], ingress?.ip);
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('412 on a fingerprinted patch: the provider re-reads and writes again', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)], { annotations: { 'networking.gke.io/load-balancer-type': 'Internal' } });
    const lb = svc.identity.lbName;
    await p.ensure(svc);
    gce.resetCalls();
    gce.failNext({
      method: 'patch',
      collection: 'backendServices',
      kind: { status: 412, reason: 'conditionNotMet', message: 'Supplied fingerprint does not match current metadata fingerprint.' },
    });
    await p.ensure({ ...svc, sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10_800 } });
    const calls = gce.calls({ collection: 'backendServices', name: lb }).map((c) => `${c.method} ${c.status}`);
    const firstPatch = calls.indexOf('patch 412');
    assert.ok(firstPatch > 0 && calls.slice(0, firstPatch).every((c) => c === 'get 200'), calls.join(', '));
    assert.deepEqual(calls.slice(firstPatch), ['patch 412', 'get 200', 'patch 200'], 'stale patch, re-read, patch');
    assert.equal(gce.resource('backendServices', lb)!['sessionAffinity'], 'CLIENT_IP');
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  test('RESOURCE_IN_USE on delete: retry after a delay, then success once the dependent is gone', async () => {
    const svc = etpLocal();
    const lb = svc.identity.lbName;
    const { p } = provider();
    await p.ensure(svc);
    // Someone else's target pool uses the Service's own health check.
    const pools = gce.client(TargetPoolsClient);
    await pools.insert({
      project: gce.project,
      region: gce.region,
      targetPoolResource: { name: 'foreign', healthChecks: [`projects/${gce.project}/global/httpHealthChecks/${lb}`] },
    });
    await assert.rejects(
      p.delete(svc.identity),
      (err: unknown) => err instanceof ProviderError && err.retryable && err.retryAfterMs === 5_000 && /still in use/.test(err.message),
    );
    assert.equal(gce.count({ method: 'delete', collection: 'httpHealthChecks', name: lb, status: 400 }), 1);
    assert.ok(gce.resource('httpHealthChecks', lb));
    await pools.delete({ project: gce.project, region: gce.region, targetPool: 'foreign' });
    await pools.close();
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  for (const [kind, status] of [
    ['too-many-requests', 429],
    ['rate-limit', 403],
  ] as const) {
    test(`${status} rateLimitExceeded backs off the budget every worker shares`, async (t) => {
      const backOff = t.mock.method(RateBudget.prototype, 'backOff');
      const { p } = provider();
      const svc = service([tcp(80, 30080)]);
      gce.failNext({ method: 'insert', collection: 'targetPools', kind, count: 2 });
      await p.ensure(svc);
      assert.equal(backOff.mock.callCount(), 2, 'one back-off per throttled answer');
      assert.equal(gce.count({ method: 'insert', collection: 'targetPools', status }), 2);
      await p.delete(svc.identity);
      assert.equal(backOff.mock.callCount(), 2, 'nothing else throttled');
    });
  }

  test('a network-tier change replaces the address (and the rule on it), and back', async () => {
    const { p } = provider();
    const svc = service([tcp(80, 30080)]);
    const lb = svc.identity.lbName;
    await p.ensure(svc);
    const premium = gce.resource('addresses', lb)!;
    assert.equal(premium['networkTier'], 'PREMIUM');
    const standardSvc = { ...svc, annotations: { 'cloud.google.com/network-tier': 'Standard' } };
    const [standardIngress] = await p.ensure(standardSvc);
    const standard = gce.resource('addresses', lb)!;
    assert.equal(standard['networkTier'], 'STANDARD');
    assert.notEqual(standard['id'], premium['id'], 'a new address resource');
    assert.equal(gce.resource('forwardingRules', lb)!['networkTier'], 'STANDARD');
    assert.equal(gce.resource('forwardingRules', lb)!['IPAddress'], standardIngress?.ip);
    assert.equal(standard['address'], standardIngress?.ip);
    gce.resetCalls();
    await p.ensure(standardSvc);
    assert.equal(mutations(), 0, 'the new tier is steady');
    await p.ensure({ ...svc, annotations: { 'cloud.google.com/network-tier': 'Premium' } });
    assert.equal(gce.resource('addresses', lb)!['networkTier'], 'PREMIUM');
    assert.equal(gce.resource('forwardingRules', lb)!['networkTier'], 'PREMIUM');
    await p.delete(svc.identity);
    assert.deepEqual(leftovers(), []);
  });

  const crashes = [
    { mode: 'neg', step: 'insert', collection: 'targetTcpProxies' },
    { mode: 'neg', step: 'delete', collection: 'backendServices' },
    { mode: 'internal', step: 'insert', collection: 'forwardingRules' },
    { mode: 'internal', step: 'delete', collection: 'backendServices' },
  ] as const;
  test('mode neg: a crash at the NEG deletions (backend services already gone), then a fresh provider finds the NEGs in the region and deletes them', async () => {
    const svc = service([tcp(80, 30080), tcp(443, 30443)]);
    const lb = svc.identity.lbName;
    await provider({ mode: 'neg' }).p.ensure(svc);
    gce.failNext({ method: 'delete', collection: 'networkEndpointGroups', kind: 'server-error', count: 100 });
    await assert.rejects(provider({ mode: 'neg' }).p.delete(svc.identity));
    gce.clearFaults();
    assert.equal(gce.resource('backendServices', `${lb}-80`), undefined, 'the backend services that named the zones are gone');
    assert.equal(zonal('networkEndpointGroups').length, 4, 'every NEG survived the crash');

    gce.resetCalls();
    const fresh = provider({ mode: 'neg' }).p;
    const owned = await fresh.listOwned();
    assert.deepEqual(
      owned.map((o) => o.identity.uid),
      [svc.identity.uid],
    );
    await fresh.delete(owned[0]!.identity);
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(zonal('networkEndpointGroups'), []);
    assert.equal(gce.count({ collection: 'regions', method: 'get' }), 1, 'the zone list is read once per provider');
    assert.equal(gce.count({ method: 'aggregatedList' }), 2, 'one aggregated list for GC, one for the delete');
  });

  for (const { mode, step, collection } of crashes) {
    test(`mode ${mode}: a crash at the ${step} of ${collection}, then a fresh provider leaves nothing`, async () => {
      const config = mode === 'neg' ? { mode: 'neg' as const } : {};
      const annotations: Record<string, string> = mode === 'internal' ? { 'networking.gke.io/load-balancer-type': 'Internal' } : {};
      const svc = service([tcp(80, 30080), tcp(443, 30443)], { annotations });
      if (step === 'delete') await provider(config).p.ensure(svc);
      gce.failNext({ method: step, collection, kind: 'server-error', count: 10 });
      await assert.rejects(step === 'insert' ? provider(config).p.ensure(svc) : provider(config).p.delete(svc.identity));
      gce.clearFaults();
      assert.ok(leftovers().length > 0, 'the crash left resources behind');
      const fresh = provider(config).p;
      const owned = await fresh.listOwned();
      assert.deepEqual(
        owned.map((o) => o.identity.uid),
        [svc.identity.uid],
      );
      await fresh.delete(owned[0]!.identity);
      assert.deepEqual(leftovers(), []);
      assert.deepEqual(zonal('networkEndpointGroups'), []);
      assert.deepEqual(zonal('instanceGroups'), []);
    });
  }
});

/** /readyz's provider check: each problem names the config field to fix. */
describe('gcp provider, readiness', () => {
  const reads = () => gce.calls().map((c) => `${c.collection}.${c.method}`);

  test('ready: the region, the network, the subnetwork and the proxy-only subnetwork read, in one call each', async () => {
    for (const mode of ['passthrough', 'neg'] as const) {
      gce.resetCalls();
      assert.deepEqual(await provider({ mode }).p.checkReady(), []);
      assert.deepEqual(reads().sort(), ['networks.get', 'regions.get', 'subnetworks.get', 'subnetworks.get']);
    }
    gce.resetCalls();
    assert.deepEqual(await provider({ subnetwork: undefined, proxySubnet: undefined }).p.checkReady(), []);
    assert.deepEqual(reads().sort(), ['networks.get', 'regions.get'], 'passthrough without a proxy subnet reads no subnetwork');
  });

  test('the proxy-only subnetwork missing, unset for mode neg, or not an active proxy-only one', async () => {
    assert.deepEqual(await provider({ mode: 'neg', proxySubnet: 'proxy-gone' }).p.checkReady(), [
      `proxy-only subnetwork "proxy-gone" (provider.gcp.proxySubnet) not found in region ${gce.region}; mode neg needs one (purpose REGIONAL_MANAGED_PROXY, role ACTIVE)`,
    ]);
    // Passthrough by default, but Services may ask for mode neg: a configured proxy subnet must exist too.
    assert.equal((await provider({ proxySubnet: 'proxy-gone' }).p.checkReady()).length, 1);
    const unset = await provider({ mode: 'neg', proxySubnet: undefined }).p.checkReady();
    assert.equal(unset.length, 1);
    assert.match(unset[0]!, /^provider\.gcp\.mode is neg but provider\.gcp\.proxySubnet is not set/);
    assert.deepEqual(await provider({ mode: 'neg', proxySubnet: 'default' }).p.checkReady(), [
      'provider.gcp.proxySubnet "default" is not a proxy-only subnetwork (purpose is PRIVATE, need REGIONAL_MANAGED_PROXY)',
    ]);
    gce.addSubnetwork('proxy-backup', { ipCidrRange: '10.130.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY', role: 'BACKUP' });
    assert.deepEqual(await provider({ mode: 'neg', proxySubnet: 'proxy-backup' }).p.checkReady(), [
      `provider.gcp.proxySubnet "proxy-backup" is not the region's active proxy-only subnetwork (role is BACKUP, need ACTIVE)`,
    ]);
    // A sync in mode neg refuses it too, before creating anything: its range is not where the proxies connect from.
    await assert.rejects(provider({ mode: 'neg', proxySubnet: 'proxy-backup' }).p.ensure(service([tcp(80, 30080)])), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.match(err.message, /role is BACKUP, need ACTIVE/);
      return true;
    });
    assert.deepEqual(leftovers(), []);
  });

  test('the network missing: named, and the subnetwork found in another network says so', async () => {
    const problems = await provider({ network: 'vpc-gone' }).p.checkReady();
    const subnetIn = `network https://www.googleapis.com/compute/v1/projects/${gce.project}/global/networks/default`;
    assert.deepEqual(problems, [
      `network "vpc-gone" (provider.gcp.network) not found in project ${gce.project}`,
      `subnetwork "default" (provider.gcp.subnetwork) is in ${subnetIn}, not provider.gcp.network "vpc-gone"`,
      `provider.gcp.proxySubnet "proxy-only" is in ${subnetIn}, not provider.gcp.network "vpc-gone"`,
    ]);
    assert.deepEqual(await provider({ subnetwork: 'nodes-gone', proxySubnet: undefined }).p.checkReady(), [
      `subnetwork "nodes-gone" (provider.gcp.subnetwork) not found in region ${gce.region}`,
    ]);
  });

  test('credentials refused, a permission missing, an unknown region, an endpoint that does not answer', async () => {
    // Compute's answer to an expired or revoked token.
    gce.failNext({
      collection: 'regions',
      method: 'get',
      kind: { status: 401, reason: 'authError', message: 'Request had invalid authentication credentials. Expected OAuth 2 access token.' },
    });
    gce.resetCalls();
    const refused = await provider().p.checkReady();
    assert.equal(refused.length, 1, 'the other reads would fail the same way: not made');
    assert.match(
      refused[0]!,
      /^reading region us-central1 \(provider\.gcp\.region\) of project \S+ \(provider\.gcp\.project\); check the credentials .*provider\.gcp\.apiEndpoint: 401 .*invalid authentication credentials/,
    );
    assert.deepEqual(reads(), ['regions.get']);

    gce.failNext({
      collection: 'networks',
      method: 'get',
      kind: {
        status: 403,
        reason: 'forbidden',
        message: `Required 'compute.networks.get' permission for 'projects/${gce.project}/global/networks/default'`,
      },
    });
    const denied = await provider().p.checkReady();
    assert.equal(denied.length, 1);
    assert.match(
      denied[0]!,
      /^reading network "default" \(provider\.gcp\.network\): 403 forbidden: Required 'compute\.networks\.get' permission/,
    );

    const unknown = await provider({ region: 'mars-north1' }).p.checkReady();
    assert.equal(unknown.length, 1);
    assert.match(unknown[0]!, /^region mars-north1 \(provider\.gcp\.region\) of project \S+ \(provider\.gcp\.project\) not found: 404/);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = await provider({ port, maxRetries: 1 }).p.checkReady();
    assert.equal(unreachable.length, 1);
    assert.match(unreachable[0]!, /^reading region .*provider\.gcp\.apiEndpoint: .*ECONNREFUSED/);
  });
});
