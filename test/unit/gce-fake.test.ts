// The GCE fake behaves as Compute Engine does, as seen through the official @google-cloud/compute SDK (REST).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressesClient,
  FirewallsClient,
  ForwardingRulesClient,
  GlobalOperationsClient,
  HealthChecksClient,
  InstanceGroupsClient,
  NetworkEndpointGroupsClient,
  RegionBackendServicesClient,
  RegionHealthChecksClient,
  RegionOperationsClient,
  RegionsClient,
  RegionTargetTcpProxiesClient,
  SubnetworksClient,
  TargetPoolsClient,
  ZoneOperationsClient,
  type protos,
} from '@google-cloud/compute';
import type { ClientOptions } from 'google-gax';
import { GceFake } from '../fakes/gce/index.ts';

type Operation = protos.google.cloud.compute.v1.IOperation;

let gce: GceFake;
let project: string;
let region: string;
let zone: string;

before(async () => {
  gce = await GceFake.start({ operationDelayMs: 20 });
  project = gce.project;
  region = gce.region;
  zone = gce.zones[0] ?? '';
  gce.addInstance('node-a', { tags: ['nodes'] });
  gce.addInstance('node-b', { tags: ['nodes'] });
});

after(async () => {
  await gce.stop();
});

const clients = new Map<unknown, unknown>();

/** One client per class: building one parses the SDK's large proto bundle, which is slow on a busy machine. */
function client<C>(Client: new (options?: ClientOptions) => C): C {
  let made = clients.get(Client) as C | undefined;
  if (made === undefined) {
    made = gce.client(Client);
    clients.set(Client, made);
  }
  return made;
}

/** Waits on the operation (wait returns before DONE only after the fake's wait timeout) and returns the final state. */
async function done(latestResponse: unknown): Promise<Operation> {
  // The SDK types latestResponse as a google.longrunning.Operation; over REST it is Compute's Operation.
  const op = latestResponse as Operation | undefined;
  assert.ok(op?.name, 'an operation came back');
  let current: Operation = op;
  while (current.status !== 'DONE') {
    if (current.zone) [current] = await client(ZoneOperationsClient).wait({ project, zone, operation: current.name ?? '' });
    else if (current.region) [current] = await client(RegionOperationsClient).wait({ project, region, operation: current.name ?? '' });
    else [current] = await client(GlobalOperationsClient).wait({ project, operation: current.name ?? '' });
  }
  return current;
}

/** The SDK call's error, with Compute's JSON body as gax kept it. */
async function rejection(promise: Promise<unknown>): Promise<{
  code?: number;
  httpStatusCode?: number;
  message: string;
  reason: string | undefined;
  body: { error: { code: number; errors: Array<{ reason: string }>; status?: string } };
}> {
  try {
    await promise;
  } catch (error) {
    const raw = (error as Record<symbol, unknown>)[Symbol.for('google-gax.rawHttpResponsePayload')];
    const body = JSON.parse(typeof raw === 'string' ? raw : '{}') as {
      error: { code: number; errors: Array<{ reason: string }>; status?: string };
    };
    const e = error as { code?: number; httpStatusCode?: number; message: string };
    return { code: e.code, httpStatusCode: e.httpStatusCode, message: e.message, reason: body.error?.errors?.[0]?.reason, body };
  }
  assert.fail('expected the call to fail');
}

const instanceUrl = (name: string) =>
  `https://www.googleapis.com/compute/v1/projects/${'fake-project'}/zones/us-central1-a/instances/${name}`;

test('an external address is reserved from the fake range; the operation goes PENDING → DONE and the address shows after', async () => {
  const addresses = client(AddressesClient);
  const [op] = await addresses.insert({ project, region, addressResource: { name: 'lb-ip', labels: { owner: 'test' } } });
  const accepted = op.latestResponse as Operation;
  assert.equal(accepted.status, 'PENDING');
  assert.equal(accepted.operationType, 'insert');
  assert.match(accepted.targetLink ?? '', /\/regions\/us-central1\/addresses\/lb-ip$/);
  const finished = await done(accepted);
  assert.equal(finished.status, 'DONE');
  assert.equal(finished.error, undefined);
  const [address] = await addresses.get({ project, region, address: 'lb-ip' });
  assert.match(address.address ?? '', /^34\.118\.\d+\.\d+$/);
  assert.equal(address.status, 'RESERVED');
  assert.equal(address.addressType, 'EXTERNAL');
  assert.ok(address.labelFingerprint && address.labelFingerprint !== '42WmSpB8rSM=');
  assert.ok(gce.count({ method: 'wait', collection: 'operations' }) >= 1);
});

test('an internal address takes a free subnetwork address; a requested one is validated', async () => {
  const addresses = client(AddressesClient);
  const subnetwork = `regions/${region}/subnetworks/default`;
  await done(
    (await addresses.insert({ project, region, addressResource: { name: 'ilb-ip', addressType: 'INTERNAL', subnetwork } }))[0]
      .latestResponse,
  );
  const [address] = await addresses.get({ project, region, address: 'ilb-ip' });
  // 10.128.0.2 and .3 belong to the seeded nodes; .0/.1 are the subnetwork's own.
  assert.equal(address.address, '10.128.0.4');
  assert.equal(address.purpose, 'GCE_ENDPOINT');

  const outside = await rejection(
    addresses.insert({ project, region, addressResource: { name: 'bad-ip', addressType: 'INTERNAL', subnetwork, address: '10.200.0.5' } }),
  );
  assert.equal(outside.httpStatusCode, 400);
  assert.equal(outside.reason, 'invalid');

  const [taken] = await addresses.insert({
    project,
    region,
    addressResource: { name: 'dup-ip', addressType: 'INTERNAL', subnetwork, address: '10.128.0.4' },
  });
  const failed = await done(taken.latestResponse);
  assert.equal(failed.error?.errors?.[0]?.code, 'IP_IN_USE_BY_ANOTHER_RESOURCE');
  assert.equal(failed.httpErrorStatusCode, 409);
  assert.equal(gce.resource('addresses', 'dup-ip'), undefined);
});

test('a firewall gets Compute defaults; a missing network is 404 notFound; a duplicate is 409 alreadyExists', async () => {
  const firewalls = client(FirewallsClient);
  const body = { name: 'allow-lb', allowed: [{ IPProtocol: 'tcp', ports: ['30080'] }], targetTags: ['nodes'] };
  await done((await firewalls.insert({ project, firewallResource: body }))[0].latestResponse);
  const [firewall] = await firewalls.get({ project, firewall: 'allow-lb' });
  assert.deepEqual(firewall.sourceRanges, ['0.0.0.0/0']);
  assert.equal(firewall.direction, 'INGRESS');
  assert.equal(firewall.priority, 1000);
  assert.match(firewall.network ?? '', /\/global\/networks\/default$/);

  const duplicate = await rejection(firewalls.insert({ project, firewallResource: body }));
  assert.equal(duplicate.httpStatusCode, 409);
  assert.equal(duplicate.reason, 'alreadyExists');

  const noNetwork = await rejection(
    firewalls.insert({ project, firewallResource: { ...body, name: 'other', network: 'global/networks/nope' } }),
  );
  assert.equal(noNetwork.httpStatusCode, 404);
  assert.equal(noNetwork.reason, 'notFound');
  assert.match(noNetwork.message, /projects\/fake-project\/global\/networks\/nope' was not found/);
});

test("get of a missing resource is 404 notFound with Compute's message, mapped by gax to NOT_FOUND", async () => {
  const missing = await rejection(client(ForwardingRulesClient).get({ project, region, forwardingRule: 'nope' }));
  assert.equal(missing.httpStatusCode, 404);
  assert.equal(missing.code, 5);
  assert.equal(missing.reason, 'notFound');
  assert.equal(missing.message, `The resource 'projects/${project}/regions/${region}/forwardingRules/nope' was not found`);
});

test('target pool with instances and a legacy health check; forwarding rule; in-use delete refused, then allowed', async () => {
  gce.addHttpHealthCheck('hc-legacy', { port: 10256, requestPath: '/healthz' });
  const pools = client(TargetPoolsClient);
  const rules = client(ForwardingRulesClient);
  const hc = `https://www.googleapis.com/compute/v1/projects/${project}/global/httpHealthChecks/hc-legacy`;

  const missingHc = await rejection(
    pools.insert({ project, region, targetPoolResource: { name: 'pool', healthChecks: [hc.replace('hc-legacy', 'nope')] } }),
  );
  assert.equal(missingHc.httpStatusCode, 404);
  assert.equal(missingHc.reason, 'notFound');

  await done(
    (
      await pools.insert({ project, region, targetPoolResource: { name: 'pool', instances: [instanceUrl('node-a')], healthChecks: [hc] } })
    )[0].latestResponse,
  );
  await done(
    (
      await pools.addInstance({
        project,
        region,
        targetPool: 'pool',
        targetPoolsAddInstanceRequestResource: { instances: [{ instance: instanceUrl('node-b') }] },
      })
    )[0].latestResponse,
  );
  const [pool] = await pools.get({ project, region, targetPool: 'pool' });
  assert.deepEqual(pool.instances, [instanceUrl('node-a'), instanceUrl('node-b')]);
  assert.deepEqual(pool.healthChecks, [hc]);

  const badTarget = await rejection(
    rules.insert({ project, region, forwardingRuleResource: { name: 'fr', target: 'pool', portRange: '80' } }),
  );
  assert.equal(badTarget.reason, 'invalid');
  assert.match(badTarget.message, /^Invalid value for field 'resource.target': 'pool'\. The URL is malformed\./);

  await done(
    (
      await rules.insert({
        project,
        region,
        forwardingRuleResource: {
          name: 'fr',
          target: pool.selfLink ?? '',
          portRange: '80',
          IPAddress: 'regions/us-central1/addresses/lb-ip',
        },
      })
    )[0].latestResponse,
  );
  const [rule] = await rules.get({ project, region, forwardingRule: 'fr' });
  assert.equal(rule.portRange, '80-80');
  assert.equal(rule.IPProtocol, 'TCP');
  const [address] = await client(AddressesClient).get({ project, region, address: 'lb-ip' });
  assert.equal(rule.IPAddress, address.address);
  assert.equal(address.status, 'IN_USE');
  assert.deepEqual(address.users, [rule.selfLink]);

  const poolInUse = await rejection(pools.delete({ project, region, targetPool: 'pool' }));
  assert.equal(poolInUse.httpStatusCode, 400);
  assert.equal(poolInUse.reason, 'resourceInUseByAnotherResource');
  assert.equal(
    poolInUse.message,
    `The target_pool resource 'projects/${project}/regions/${region}/targetPools/pool' is already being used by 'projects/${project}/regions/${region}/forwardingRules/fr'`,
  );
  const addressInUse = await rejection(client(AddressesClient).delete({ project, region, address: 'lb-ip' }));
  assert.equal(addressInUse.reason, 'resourceInUseByAnotherResource');

  await done((await rules.delete({ project, region, forwardingRule: 'fr' }))[0].latestResponse);
  await done((await pools.delete({ project, region, targetPool: 'pool' }))[0].latestResponse);
  assert.equal(gce.resource('targetPools', 'pool'), undefined);
  assert.equal(gce.resource('addresses', 'lb-ip')?.['status'], 'RESERVED');
});

test('a change to a resource whose operation still runs is refused with resourceNotReady; its GET is 404 until DONE', async () => {
  const pools = client(TargetPoolsClient);
  await done((await pools.insert({ project, region, targetPoolResource: { name: 'busy-pool' } }))[0].latestResponse);
  gce.operationDelayMs = 60_000;
  try {
    const add = {
      project,
      region,
      targetPool: 'busy-pool',
      targetPoolsAddInstanceRequestResource: { instances: [{ instance: instanceUrl('node-a') }] },
    };
    await pools.addInstance(add);
    const busy = await rejection(pools.addInstance(add));
    assert.equal(busy.httpStatusCode, 400);
    assert.equal(busy.reason, 'resourceNotReady');
    assert.deepEqual(gce.resource('targetPools', 'busy-pool')?.['instances'], [], 'the change waits for its operation');

    const [op] = await pools.insert({ project, region, targetPoolResource: { name: 'slow-pool' } });
    const hidden = await rejection(pools.get({ project, region, targetPool: 'slow-pool' }));
    assert.equal(hidden.httpStatusCode, 404);
    const twice = await rejection(pools.insert({ project, region, targetPoolResource: { name: 'slow-pool' } }));
    assert.equal(twice.reason, 'alreadyExists');
    const [running] = await client(RegionOperationsClient).get({ project, region, operation: (op.latestResponse as Operation).name ?? '' });
    assert.equal(running.status, 'RUNNING');
  } finally {
    gce.operationDelayMs = 0;
  }
});

test('setLabels needs the current labelFingerprint: a stale one is 412 conditionNotMet', async () => {
  const rules = client(ForwardingRulesClient);
  const backends = client(RegionBackendServicesClient);
  const checks = client(RegionHealthChecksClient);
  await done(
    (await checks.insert({ project, region, healthCheckResource: { name: 'hc-tcp', type: 'TCP', tcpHealthCheck: { port: 10256 } } }))[0]
      .latestResponse,
  );
  const hc = `regions/${region}/healthChecks/hc-tcp`;
  await done(
    (
      await backends.insert({
        project,
        region,
        backendServiceResource: { name: 'bs-int', loadBalancingScheme: 'INTERNAL', healthChecks: [hc] },
      })
    )[0].latestResponse,
  );
  await done(
    (
      await rules.insert({
        project,
        region,
        forwardingRuleResource: {
          name: 'fr-int',
          loadBalancingScheme: 'INTERNAL',
          backendService: `regions/${region}/backendServices/bs-int`,
          ports: ['80'],
        },
      })
    )[0].latestResponse,
  );
  const [rule] = await rules.get({ project, region, forwardingRule: 'fr-int' });
  assert.match(rule.IPAddress ?? '', /^10\.128\.0\.\d+$/);
  assert.equal(rule.labelFingerprint, '42WmSpB8rSM=');

  await done(
    (
      await rules.setLabels({
        project,
        region,
        resource: 'fr-int',
        regionSetLabelsRequestResource: { labels: { svc: 'web' }, labelFingerprint: rule.labelFingerprint ?? '' },
      })
    )[0].latestResponse,
  );
  const stale = await rejection(
    rules.setLabels({
      project,
      region,
      resource: 'fr-int',
      regionSetLabelsRequestResource: { labels: { svc: 'api' }, labelFingerprint: rule.labelFingerprint ?? '' },
    }),
  );
  assert.equal(stale.httpStatusCode, 412);
  assert.equal(stale.reason, 'conditionNotMet');
  assert.equal(stale.message, 'Labels fingerprint either invalid or resource labels have changed');
  const [labelled] = await rules.get({ project, region, forwardingRule: 'fr-int' });
  assert.deepEqual(labelled.labels, { svc: 'web' });

  const [bs] = await backends.get({ project, region, backendService: 'bs-int' });
  await done(
    (
      await backends.patch({
        project,
        region,
        backendService: 'bs-int',
        backendServiceResource: { fingerprint: bs.fingerprint ?? '', sessionAffinity: 'CLIENT_IP' },
      })
    )[0].latestResponse,
  );
  const stalePatch = await rejection(
    backends.patch({
      project,
      region,
      backendService: 'bs-int',
      backendServiceResource: { fingerprint: bs.fingerprint ?? '', sessionAffinity: 'NONE' },
    }),
  );
  assert.equal(stalePatch.httpStatusCode, 412);

  const hcInUse = await rejection(checks.delete({ project, region, healthCheck: 'hc-tcp' }));
  assert.equal(hcInUse.reason, 'resourceInUseByAnotherResource');
  const missingHc = await rejection(
    backends.insert({
      project,
      region,
      backendServiceResource: { name: 'bs-2', loadBalancingScheme: 'INTERNAL', healthChecks: [`regions/${region}/healthChecks/nope`] },
    }),
  );
  assert.equal(missingHc.httpStatusCode, 404);
});

test('NEG endpoints attach and detach; a NEG used by a backend service cannot be deleted', async () => {
  const negs = client(NetworkEndpointGroupsClient);
  await done(
    (
      await negs.insert({
        project,
        zone,
        networkEndpointGroupResource: { name: 'neg', networkEndpointType: 'GCE_VM_IP_PORT', defaultPort: 30080 },
      })
    )[0].latestResponse,
  );
  const attach = await negs.attachNetworkEndpoints({
    project,
    zone,
    networkEndpointGroup: 'neg',
    networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a' }, { instance: 'node-b', port: 8080 }] },
  });
  const attached = await done(attach[0].latestResponse);
  assert.match(attached.zone ?? '', /\/zones\/us-central1-a$/);
  const [listed] = await negs.listNetworkEndpoints({
    project,
    zone,
    networkEndpointGroup: 'neg',
    networkEndpointGroupsListEndpointsRequestResource: {},
  });
  assert.deepEqual(
    listed.map((e) => [e.networkEndpoint?.instance, e.networkEndpoint?.ipAddress, e.networkEndpoint?.port]),
    [
      ['node-a', '10.128.0.2', 30080],
      ['node-b', '10.128.0.3', 8080],
    ],
  );
  const again = await rejection(
    negs.attachNetworkEndpoints({
      project,
      zone,
      networkEndpointGroup: 'neg',
      networkEndpointGroupsAttachEndpointsRequestResource: { networkEndpoints: [{ instance: 'node-a' }] },
    }),
  );
  assert.equal(again.reason, 'invalid');
  await done(
    (
      await negs.detachNetworkEndpoints({
        project,
        zone,
        networkEndpointGroup: 'neg',
        networkEndpointGroupsDetachEndpointsRequestResource: {
          networkEndpoints: [{ instance: 'node-a', ipAddress: '10.128.0.2', port: 30080 }],
        },
      })
    )[0].latestResponse,
  );
  assert.deepEqual(
    gce.networkEndpoints('neg').map((e) => e['instance']),
    ['node-b'],
  );
  const [neg] = await negs.get({ project, zone, networkEndpointGroup: 'neg' });
  assert.equal(neg.size, 1);

  gce.addSubnetwork('proxy-only', { ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY' });
  await done(
    (await client(HealthChecksClient).insert({ project, healthCheckResource: { name: 'hc-global', type: 'HTTP' } }))[0].latestResponse,
  );
  const backends = client(RegionBackendServicesClient);
  await done(
    (
      await backends.insert({
        project,
        region,
        backendServiceResource: {
          name: 'bs-neg',
          loadBalancingScheme: 'INTERNAL_MANAGED',
          protocol: 'TCP',
          healthChecks: ['global/healthChecks/hc-global'],
          backends: [{ group: neg.selfLink ?? '', balancingMode: 'CONNECTION', maxConnectionsPerEndpoint: 100 }],
        },
      })
    )[0].latestResponse,
  );
  const proxies = client(RegionTargetTcpProxiesClient);
  await done(
    (
      await proxies.insert({
        project,
        region,
        targetTcpProxyResource: { name: 'proxy', service: `regions/${region}/backendServices/bs-neg` },
      })
    )[0].latestResponse,
  );
  await done(
    (
      await client(ForwardingRulesClient).insert({
        project,
        region,
        forwardingRuleResource: {
          name: 'fr-proxy',
          loadBalancingScheme: 'INTERNAL_MANAGED',
          target: `regions/${region}/targetTcpProxies/proxy`,
          portRange: '443',
        },
      })
    )[0].latestResponse,
  );
  const negInUse = await rejection(negs.delete({ project, zone, networkEndpointGroup: 'neg' }));
  assert.equal(negInUse.reason, 'resourceInUseByAnotherResource');
  assert.match(negInUse.message, /^The network_endpoint_group resource .* is already being used by '.*\/backendServices\/bs-neg'$/);
});

test('unmanaged instance groups: add, list, and a member added twice is memberAlreadyExists', async () => {
  const groups = client(InstanceGroupsClient);
  await done((await groups.insert({ project, zone, instanceGroupResource: { name: 'ig' } }))[0].latestResponse);
  await done(
    (
      await groups.addInstances({
        project,
        zone,
        instanceGroup: 'ig',
        instanceGroupsAddInstancesRequestResource: {
          instances: [{ instance: instanceUrl('node-a') }, { instance: instanceUrl('node-b') }],
        },
      })
    )[0].latestResponse,
  );
  const [members] = await groups.listInstances({
    project,
    zone,
    instanceGroup: 'ig',
    instanceGroupsListInstancesRequestResource: { instanceState: 'ALL' },
  });
  assert.deepEqual(
    members.map((m) => m.instance),
    [instanceUrl('node-a'), instanceUrl('node-b')],
  );
  const [group] = await groups.get({ project, zone, instanceGroup: 'ig' });
  assert.equal(group.size, 2);
  assert.match(group.network ?? '', /\/global\/networks\/default$/);
  const twice = await rejection(
    groups.addInstances({
      project,
      zone,
      instanceGroup: 'ig',
      instanceGroupsAddInstancesRequestResource: { instances: [{ instance: instanceUrl('node-a') }] },
    }),
  );
  assert.equal(twice.reason, 'memberAlreadyExists');
});

test('a region lists its zones as full URLs; the aggregated NEG list keys every zone, filtered by an eq regex and paged', async () => {
  const [got] = await client(RegionsClient).get({ project, region });
  assert.deepEqual(
    got.zones,
    gce.zones.map((z) => `https://www.googleapis.com/compute/v1/projects/${project}/zones/${z}`),
  );
  const negs = client(NetworkEndpointGroupsClient);
  const made = [
    { zone: gce.zones[0] ?? '', name: 'agg-80' },
    { zone: gce.zones[0] ?? '', name: 'agg-443' },
    { zone: gce.zones[0] ?? '', name: 'agg-x' },
  ];
  for (const { zone: z, name } of made) {
    const [lro] = await negs.insert({ project, zone: z, networkEndpointGroupResource: { name, defaultPort: 80 } });
    await done(lro.latestResponse);
  }
  const byScope = new Map<string, string[]>();
  const warnings = new Set<string>();
  // maxResults 1: the SDK has to follow nextPageToken across pages of the aggregated list.
  for await (const [scope, scoped] of negs.aggregatedListAsync({ project, filter: "name eq 'agg-[0-9]+'", maxResults: 1 })) {
    for (const n of scoped.networkEndpointGroups ?? []) byScope.set(scope, [...(byScope.get(scope) ?? []), n.name ?? '']);
    if (scoped.warning?.code === 'NO_RESULTS_ON_PAGE') warnings.add(scope);
  }
  assert.deepEqual(Object.fromEntries(byScope), { [`zones/${gce.zones[0]}`]: ['agg-443', 'agg-80'] });
  assert.ok(warnings.has(`zones/${gce.zones[1]}`), 'a zone without NEGs answers a NO_RESULTS_ON_PAGE warning');
  for (const { zone: z, name } of made) {
    const [lro] = await negs.delete({ project, zone: z, networkEndpointGroup: name });
    await done(lro.latestResponse);
  }
});

test("lists page with nextPageToken over the fake's small page size", async () => {
  const firewalls = client(FirewallsClient);
  for (const name of ['fw-1', 'fw-2', 'fw-3', 'fw-4'])
    await done((await firewalls.insert({ project, firewallResource: { name, allowed: [{ IPProtocol: 'tcp' }] } }))[0].latestResponse);
  const [first, next, response] = await firewalls.list({ project }, { autoPaginate: false });
  assert.equal(first.length, 3);
  assert.ok(response?.nextPageToken);
  assert.equal(next?.pageToken, response?.nextPageToken);
  const [all] = await firewalls.list({ project });
  assert.deepEqual(
    all.map((f) => f.name),
    ['allow-lb', 'fw-1', 'fw-2', 'fw-3', 'fw-4'],
  );
  const [filtered] = await firewalls.list({ project, filter: 'name = "fw-2"' });
  assert.deepEqual(
    filtered.map((f) => f.name),
    ['fw-2'],
  );
  const [subnets] = await client(SubnetworksClient).list({ project, region });
  assert.deepEqual(
    subnets.map((s) => [s.name, s.purpose]),
    [
      ['default', 'PRIVATE'],
      ['proxy-only', 'REGIONAL_MANAGED_PROXY'],
    ],
  );
});

test('quota: an exceeded TARGET_POOLS quota fails the operation (or 403 quotaExceeded in http mode)', async () => {
  const fake = await GceFake.start({ quotas: { TARGET_POOLS: 1 } });
  try {
    const pools = fake.client(TargetPoolsClient);
    const rp = { project: fake.project, region: fake.region };
    await pools.insert({ ...rp, targetPoolResource: { name: 'one' } });
    const [op] = await pools.insert({ ...rp, targetPoolResource: { name: 'two' } });
    const [failed] = await fake.client(RegionOperationsClient).wait({ ...rp, operation: (op.latestResponse as Operation).name ?? '' });
    assert.equal(failed.status, 'DONE');
    assert.equal(failed.error?.errors?.[0]?.code, 'QUOTA_EXCEEDED');
    assert.equal(failed.error?.errors?.[0]?.message, "Quota 'TARGET_POOLS' exceeded.  Limit: 1.0 in region us-central1.");
    assert.equal(failed.httpErrorStatusCode, 403);
    fake.quotaErrors = 'http';
    const sync = await rejection(pools.insert({ ...rp, targetPoolResource: { name: 'three' } }));
    assert.equal(sync.httpStatusCode, 403);
    assert.equal(sync.reason, 'quotaExceeded');
  } finally {
    await fake.stop();
  }
});

test('failNext and seeded random faults: throttling, 5xx, and failed operations', async () => {
  const fake = await GceFake.start();
  try {
    const addresses = fake.client(AddressesClient);
    const rp = { project: fake.project, region: fake.region };
    fake.failNext({ method: 'insert', collection: 'addresses', count: 2, kind: 'rate-limit' });
    const first = await rejection(addresses.insert({ ...rp, addressResource: { name: 'a' } }));
    assert.equal(first.httpStatusCode, 403);
    assert.equal(first.reason, 'rateLimitExceeded');
    const second = await rejection(addresses.insert({ ...rp, addressResource: { name: 'a' } }));
    assert.equal(second.reason, 'rateLimitExceeded');
    await addresses.insert({ ...rp, addressResource: { name: 'a' } });

    fake.failNext({ collection: 'addresses', kind: 'too-many-requests' });
    const throttled = await rejection(addresses.get({ ...rp, address: 'a' }));
    assert.equal(throttled.httpStatusCode, 429);
    assert.equal(throttled.body.error.status, 'RESOURCE_EXHAUSTED');

    fake.failNext({ method: 'setLabels', kind: 'operation-failure' });
    const [address] = await addresses.get({ ...rp, address: 'a' });
    const [op] = await addresses.setLabels({
      ...rp,
      resource: 'a',
      regionSetLabelsRequestResource: { labels: { x: 'y' }, labelFingerprint: address.labelFingerprint ?? '' },
    });
    const [failed] = await fake.client(RegionOperationsClient).wait({ ...rp, operation: (op.latestResponse as Operation).name ?? '' });
    assert.equal(failed.error?.errors?.[0]?.code, 'INTERNAL_ERROR');
    assert.deepEqual(fake.resource('addresses', 'a')?.['labels'], {});

    const outcomes = async (seed: number) => {
      fake.faults({ rate: 0.5, kinds: ['server-error'], seed });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        try {
          await addresses.insert({ ...rp, addressResource: { name: `r-${seed}-${i}` } });
          statuses.push(200);
        } catch (error) {
          statuses.push((error as { httpStatusCode: number }).httpStatusCode);
        }
      }
      fake.faults(undefined);
      return statuses;
    };
    const once = await outcomes(7);
    assert.ok(once.includes(500) && once.includes(200), `a mix of outcomes: ${once.join(',')}`);
    fake.clearFaults();
    const fresh = await GceFake.start();
    try {
      const replay = fresh.client(AddressesClient);
      fresh.faults({ rate: 0.5, kinds: ['server-error'], seed: 7 });
      const again: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        try {
          await replay.insert({ project: fresh.project, region: fresh.region, addressResource: { name: `r-7-${i}` } });
          again.push(200);
        } catch (error) {
          again.push((error as { httpStatusCode: number }).httpStatusCode);
        }
      }
      assert.deepEqual(again, once, 'the same seed gives the same faults');
    } finally {
      await fresh.stop();
    }
    assert.equal(fake.injectedFaults().get('server-error'), once.filter((s) => s === 500).length);
  } finally {
    await fake.stop();
  }
});

test('a retried insert with the same requestId gets the same operation, not a 409', async () => {
  const fake = await GceFake.start();
  try {
    const addresses = fake.client(AddressesClient);
    const rp = { project: fake.project, region: fake.region, requestId: '5b6a3f40-2d0c-4c4e-9a57-2f1b9b5f1e11' };
    const [a] = await addresses.insert({ ...rp, addressResource: { name: 'idem' } });
    const [b] = await addresses.insert({ ...rp, addressResource: { name: 'idem' } });
    assert.equal((a.latestResponse as Operation).name, (b.latestResponse as Operation).name);
    assert.equal(fake.count({ method: 'insert', collection: 'addresses', status: 200 }), 2);
  } finally {
    await fake.stop();
  }
});
