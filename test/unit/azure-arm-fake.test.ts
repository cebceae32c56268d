// The Azure ARM fake behaves as Microsoft.Network does, as seen through the official @azure/arm-network SDK.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrontendIPConfiguration, LoadBalancer, NetworkManagementClient } from '@azure/arm-network';
import { AzureArmFake } from '../fakes/azure-arm/index.ts';

const RG = 'rg-test';
// Polls every few ms: the SDK's default is 2 s, and the fake answers Retry-After 0 (see lroRetryAfterSeconds).
const FAST = { updateIntervalInMs: 5 };

let arm: AzureArmFake;
let client: NetworkManagementClient;

before(async () => {
  arm = await AzureArmFake.start({ lroRetryAfterSeconds: 0 });
  arm.addVirtualNetwork(RG, 'vnet', { addressPrefixes: ['10.0.0.0/16'], subnets: [{ name: 'lb', addressPrefix: '10.0.1.0/24' }] });
  // No SDK retries, so every status the fake answers reaches the test.
  client = arm.client({ retryOptions: { maxRetries: 0 } });
});

after(async () => {
  await arm.stop();
});

function lbId(name: string): string {
  return `/subscriptions/${arm.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/${name}`;
}

function subnetId(): string {
  return `/subscriptions/${arm.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/lb`;
}

/** A Standard LB with one frontend, one IP-based pool, one probe and one rule tying them together. */
function fullLb(name: string, frontend: FrontendIPConfiguration & { name: string }): LoadBalancer {
  const id = lbId(name);
  return {
    location: arm.location,
    sku: { name: 'Standard' },
    frontendIPConfigurations: [frontend],
    backendAddressPools: [
      {
        name: 'pool',
        loadBalancerBackendAddresses: [
          { name: 'node-a', ipAddress: '10.0.0.10', virtualNetwork: { id: `/subscriptions/${arm.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet` } },
        ],
      },
    ],
    probes: [{ name: 'probe', protocol: 'Tcp', port: 30080, intervalInSeconds: 5, numberOfProbes: 2 }],
    loadBalancingRules: [
      {
        name: 'rule',
        protocol: 'Tcp',
        frontendPort: 80,
        backendPort: 30080,
        frontendIPConfiguration: { id: `${id}/frontendIPConfigurations/${frontend.name}` },
        backendAddressPool: { id: `${id}/backendAddressPools/pool` },
        probe: { id: `${id}/probes/probe` },
      },
    ],
  };
}

/** Resolves to the RestError the SDK raised (or fails the test if it succeeded). */
async function restError(promise: PromiseLike<unknown>): Promise<{ statusCode?: number; code?: string; message: string; response?: { headers: { get(name: string): string | undefined } } }> {
  try {
    await promise;
  } catch (error) {
    assert.equal((error as Error).name, 'RestError', `expected a RestError, got ${String(error)}`);
    return error as never;
  }
  assert.fail('expected the call to fail');
}

test('an LB with a pool, a rule and a probe is created (201), replaced (200), and its LRO polled to Succeeded', async () => {
  const slow = await AzureArmFake.start({ lroDelayMs: 150, lroRetryAfterSeconds: 0 });
  try {
    const c = slow.client({ retryOptions: { maxRetries: 0 } });
    const pip = await c.publicIPAddresses.createOrUpdate(RG, 'pip-web', { location: slow.location, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static', dnsSettings: { domainNameLabel: 'web' } }, FAST);
    assert.match(pip.ipAddress ?? '', /^20\.50\.\d+\.\d+$/);
    assert.equal(pip.dnsSettings?.fqdn, `web.${slow.location}.cloudapp.azure.com`);

    const id = `/subscriptions/${slow.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/lb-web`;
    const body: LoadBalancer = {
      location: slow.location,
      sku: { name: 'Standard' },
      frontendIPConfigurations: [{ name: 'fe', publicIPAddress: { id: pip.id } }],
      backendAddressPools: [{ name: 'pool' }],
      probes: [{ name: 'probe', protocol: 'Tcp', port: 30080 }],
      loadBalancingRules: [
        {
          name: 'rule',
          protocol: 'Tcp',
          frontendPort: 80,
          backendPort: 30080,
          frontendIPConfiguration: { id: `${id}/frontendIPConfigurations/fe` },
          backendAddressPool: { id: `${id}/backendAddressPools/pool` },
          probe: { id: `${id}/probes/probe` },
        },
      ],
    };
    const poller = await c.loadBalancers.beginCreateOrUpdate(RG, 'lb-web', body, FAST);
    assert.equal(slow.loadBalancer(RG, 'lb-web')?.properties['provisioningState'], 'Updating');
    const created = await poller.pollUntilDone();
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal(created.loadBalancingRules?.[0]?.probe?.id, `${id}/probes/probe`);
    assert.deepEqual(created.backendAddressPools?.[0]?.loadBalancingRules?.map((r) => r.id), [`${id}/loadBalancingRules/rule`]);
    assert.match(created.etag ?? '', /^W\/"[0-9a-f-]{36}"$/);
    assert.ok(slow.count({ type: 'operations', status: 200 }) >= 1, 'the SDK polled the Azure-AsyncOperation URL');
    assert.deepEqual(slow.publicIp(RG, 'pip-web')?.properties['ipConfiguration'], { id: `${id}/frontendIPConfigurations/fe` });

    // PUT replaces: collections left out of the body are gone afterwards.
    const replaced = await c.loadBalancers.createOrUpdate(RG, 'lb-web', { ...body, loadBalancingRules: [], probes: undefined }, FAST);
    assert.deepEqual(replaced.loadBalancingRules, []);
    assert.deepEqual(replaced.probes, []);
    assert.notEqual(replaced.etag, created.etag);
    assert.deepEqual(slow.calls({ method: 'PUT', type: 'loadBalancers' }).map((call) => call.status), [201, 200]);
  } finally {
    await slow.stop();
  }
});

test('If-Match with a stale etag and If-None-Match: * on an existing LB are refused with 412', async () => {
  const first = await client.loadBalancers.createOrUpdate(RG, 'lb-etag', fullLb('lb-etag', { name: 'fe', subnet: { id: subnetId() } }), FAST);
  const second = await client.loadBalancers.createOrUpdate(RG, 'lb-etag', fullLb('lb-etag', { name: 'fe', subnet: { id: subnetId() } }), {
    ...FAST,
    requestOptions: { headers: { 'if-match': first.etag ?? '' } },
  });
  assert.notEqual(second.etag, first.etag);

  const stale = await restError(
    client.loadBalancers.createOrUpdate(RG, 'lb-etag', fullLb('lb-etag', { name: 'fe', subnet: { id: subnetId() } }), {
      ...FAST,
      requestOptions: { headers: { 'if-match': first.etag ?? '' } },
    }),
  );
  assert.equal(stale.statusCode, 412);
  assert.equal(stale.code, 'PreconditionFailed');

  const exists = await restError(
    client.loadBalancers.createOrUpdate(RG, 'lb-etag', fullLb('lb-etag', { name: 'fe', subnet: { id: subnetId() } }), {
      ...FAST,
      requestOptions: { headers: { 'if-none-match': '*' } },
    }),
  );
  assert.equal(exists.statusCode, 412);
  assert.equal(arm.loadBalancer(RG, 'lb-etag')?.etag, second.etag, 'refused writes leave the resource as it was');
});

test('references to a frontend, pool or probe outside the body, or to a missing public IP, are InvalidResourceReference', async () => {
  const body = fullLb('lb-bad', { name: 'fe', subnet: { id: subnetId() } });
  const rule = body.loadBalancingRules?.[0];
  assert.ok(rule);
  rule.backendAddressPool = { id: `${lbId('lb-other')}/backendAddressPools/pool` };
  const badPool = await restError(client.loadBalancers.createOrUpdate(RG, 'lb-bad', body, FAST));
  assert.equal(badPool.statusCode, 400);
  assert.equal(badPool.code, 'InvalidResourceReference');
  assert.match(badPool.message, /lb-other\/backendAddressPools\/pool referenced by resource .*lb-bad\/loadBalancingRules\/rule was not found/);

  const missingPip = `/subscriptions/${arm.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/publicIPAddresses/nope`;
  const badPip = await restError(client.loadBalancers.createOrUpdate(RG, 'lb-bad', fullLb('lb-bad', { name: 'fe', publicIPAddress: { id: missingPip } }), FAST));
  assert.equal(badPip.code, 'InvalidResourceReference');
  assert.equal(arm.loadBalancer(RG, 'lb-bad'), undefined);
});

test('a public IP used by an LB frontend cannot be deleted until the LB drops the frontend', async () => {
  // The user's address lives in another resource group, as a pre-created static IP often does.
  arm.addResourceGroup('rg-user');
  const pip = arm.addPublicIp('rg-user', 'user-ip', { tags: { owner: 'team-a' } });
  await client.loadBalancers.createOrUpdate(RG, 'lb-pip', fullLb('lb-pip', { name: 'fe', publicIPAddress: { id: pip.id } }), FAST);
  assert.equal((await client.publicIPAddresses.get('rg-user', 'user-ip')).ipConfiguration?.id, `${lbId('lb-pip')}/frontendIPConfigurations/fe`);

  const refused = await restError(client.publicIPAddresses.delete('rg-user', 'user-ip', FAST));
  assert.equal(refused.statusCode, 400);
  assert.equal(refused.code, 'PublicIPAddressCannotBeDeleted');
  assert.match(refused.message, /can not be deleted since it is still allocated to resource .*lb-pip\/frontendIPConfigurations\/fe/);

  const internal = await client.loadBalancers.createOrUpdate(RG, 'lb-pip', fullLb('lb-pip', { name: 'fe', subnet: { id: subnetId() } }), FAST);
  assert.match(internal.frontendIPConfigurations?.[0]?.privateIPAddress ?? '', /^10\.0\.1\.\d+$/);
  const released = await client.publicIPAddresses.get('rg-user', 'user-ip');
  assert.equal(released.ipConfiguration, undefined);
  assert.deepEqual(released.tags, { owner: 'team-a' });

  await client.publicIPAddresses.delete('rg-user', 'user-ip', FAST);
  assert.equal(arm.publicIp('rg-user', 'user-ip'), undefined);
  assert.equal(arm.calls({ method: 'DELETE', type: 'publicIPAddresses' }).at(-1)?.status, 202);
});

test('private frontend addresses: Dynamic takes a free address, Static is checked against the subnet and other frontends', async () => {
  const a = await client.loadBalancers.createOrUpdate(RG, 'lb-ip-a', fullLb('lb-ip-a', { name: 'fe', subnet: { id: subnetId() }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.0.1.50' }), FAST);
  assert.equal(a.frontendIPConfigurations?.[0]?.privateIPAddress, '10.0.1.50');

  const taken = await restError(
    client.loadBalancers.createOrUpdate(RG, 'lb-ip-b', fullLb('lb-ip-b', { name: 'fe', subnet: { id: subnetId() }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.0.1.50' }), FAST),
  );
  assert.equal(taken.code, 'PrivateIPAddressIsAllocated');
  const outside = await restError(
    client.loadBalancers.createOrUpdate(RG, 'lb-ip-b', fullLb('lb-ip-b', { name: 'fe', subnet: { id: subnetId() }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.0.2.5' }), FAST),
  );
  assert.equal(outside.code, 'PrivateIPAddressNotInSubnet');

  const subnet = await client.subnets.get(RG, 'vnet', 'lb');
  assert.equal(subnet.addressPrefix, '10.0.1.0/24');
  assert.ok(subnet.ipConfigurations?.some((ref) => ref.id === `${lbId('lb-ip-a')}/frontendIPConfigurations/fe`));
});

test('a write over the subscription budget gets 429 SubscriptionRequestsThrottled with Retry-After', async () => {
  const limited = await AzureArmFake.start({ writeBudget: { limit: 2, windowMs: 60_000 }, lroRetryAfterSeconds: 0 });
  try {
    const c = limited.client({ retryOptions: { maxRetries: 0 } });
    for (const name of ['a', 'b']) await c.publicIPAddresses.createOrUpdate(RG, name, { location: limited.location, sku: { name: 'Standard' } }, FAST);
    const throttled = await restError(c.publicIPAddresses.createOrUpdate(RG, 'c', { location: limited.location, sku: { name: 'Standard' } }, FAST));
    assert.equal(throttled.statusCode, 429);
    assert.equal(throttled.code, 'SubscriptionRequestsThrottled');
    assert.ok(Number(throttled.response?.headers.get('retry-after')) > 0);
    assert.equal(limited.publicIp(RG, 'c'), undefined);
  } finally {
    await limited.stop();
  }
});

test('with SDK retries on, an injected 429 is retried after its Retry-After and the write lands', async () => {
  const throttling = await AzureArmFake.start({ faultRetryAfterSeconds: 0, lroRetryAfterSeconds: 0 });
  try {
    throttling.failNext({ method: 'PUT', type: 'publicIPAddresses', name: 'retried', kind: 'throttle' });
    const c = throttling.client({ retryOptions: { maxRetries: 2 } });
    const pip = await c.publicIPAddresses.createOrUpdate(RG, 'retried', { location: throttling.location, sku: { name: 'Standard' } }, FAST);
    assert.equal(pip.provisioningState, 'Succeeded');
    assert.deepEqual(throttling.calls({ method: 'PUT', type: 'publicIPAddresses' }).map((call) => call.status), [429, 201]);
  } finally {
    await throttling.stop();
  }
});

test('lists are paged through nextLink, and the subscription-wide list spans resource groups', async () => {
  const paged = await AzureArmFake.start({ pageSize: 3 });
  try {
    paged.addResourceGroup('rg-other');
    for (let i = 0; i < 7; i++) paged.addPublicIp(RG, `pip-${i}`);
    paged.addPublicIp('rg-other', 'elsewhere');
    const c = paged.client({ retryOptions: { maxRetries: 0 } });
    const names: string[] = [];
    for await (const pip of c.publicIPAddresses.list(RG)) names.push(pip.name ?? '');
    assert.deepEqual(names, ['pip-0', 'pip-1', 'pip-2', 'pip-3', 'pip-4', 'pip-5', 'pip-6']);
    assert.equal(paged.count({ method: 'GET', type: 'publicIPAddresses' }), 3, '3 + 3 + 1 items');

    const all: string[] = [];
    for await (const pip of c.publicIPAddresses.listAll()) all.push(pip.name ?? '');
    assert.equal(all.length, 8);
    assert.ok(all.includes('elsewhere'));
  } finally {
    await paged.stop();
  }
});

test('random faults follow their seed, and targeted faults fail exactly the next N matching writes', async () => {
  const statuses = async (prefix: string): Promise<number[]> => {
    arm.resetCalls();
    arm.faults({ rate: 0.5, kinds: ['server-error', 'unavailable'], seed: 42 });
    for (let i = 0; i < 12; i++) {
      await client.publicIPAddresses.createOrUpdate(RG, `${prefix}-${i}`, { location: arm.location, sku: { name: 'Standard' } }, FAST).then(
        () => undefined,
        () => undefined,
      );
    }
    arm.faults(undefined);
    return arm.calls({ method: 'PUT', type: 'publicIPAddresses' }).map((call) => call.status);
  };
  const first = await statuses('chaos-a');
  const failures = first.filter((s) => s === 500 || s === 503).length;
  assert.ok(failures > 0 && failures < 12, `a mix of faults and successes, got ${first.join(',')}`);
  assert.deepEqual(await statuses('chaos-b'), first, 'the same seed injects the same faults');

  arm.failNext({ method: 'PUT', type: 'loadBalancers', name: 'lb-target', count: 2, kind: 'server-error' });
  const body = fullLb('lb-target', { name: 'fe', subnet: { id: subnetId() } });
  assert.equal((await restError(client.loadBalancers.createOrUpdate(RG, 'lb-target', body, FAST))).statusCode, 500);
  assert.equal((await restError(client.loadBalancers.createOrUpdate(RG, 'lb-target', body, FAST))).code, 'InternalServerError');
  assert.equal((await client.loadBalancers.createOrUpdate(RG, 'lb-target', body, FAST)).provisioningState, 'Succeeded');
});

test('an lro-failure fault ends the operation Failed; a slow LRO blocks other writes to the resource until it ends', async () => {
  arm.failNext({ method: 'PUT', type: 'loadBalancers', name: 'lb-lro', kind: 'lro-failure' });
  await assert.rejects(client.loadBalancers.createOrUpdate(RG, 'lb-lro', fullLb('lb-lro', { name: 'fe', subnet: { id: subnetId() } }), FAST), /long-running operation has failed.*InternalServerError/);
  assert.equal(arm.loadBalancer(RG, 'lb-lro')?.properties['provisioningState'], 'Failed');

  arm.slowLroMs = 200;
  arm.failNext({ method: 'PUT', type: 'loadBalancers', name: 'lb-lro', kind: 'slow-lro' });
  const poller = await client.loadBalancers.beginCreateOrUpdate(RG, 'lb-lro', fullLb('lb-lro', { name: 'fe', subnet: { id: subnetId() } }), FAST);
  const busy = await restError(client.loadBalancers.createOrUpdate(RG, 'lb-lro', fullLb('lb-lro', { name: 'fe', subnet: { id: subnetId() } }), FAST));
  assert.equal(busy.statusCode, 409);
  assert.equal(busy.code, 'AnotherOperationInProgress');
  assert.equal((await poller.pollUntilDone()).provisioningState, 'Succeeded');
});

test('requests without a bearer token get 401, without or with an unknown api-version get 400', async () => {
  const bare = arm.client({ retryOptions: { maxRetries: 0 } });
  bare.pipeline.addPolicy(
    { name: 'strip-authorization', sendRequest: (request, next) => (request.headers.delete('authorization'), next(request)) },
    { afterPhase: 'Sign' },
  );
  const unauthorized = await restError(bare.loadBalancers.get(RG, 'anything'));
  assert.equal(unauthorized.statusCode, 401);
  assert.equal(unauthorized.code, 'AuthenticationFailed');

  const versioned = (rewrite: (url: URL) => void): NetworkManagementClient => {
    const c = arm.client({ retryOptions: { maxRetries: 0 } });
    c.pipeline.addPolicy({
      name: 'rewrite-api-version',
      sendRequest: (request, next) => {
        const url = new URL(request.url);
        rewrite(url);
        request.url = url.toString();
        return next(request);
      },
    });
    return c;
  };
  const missing = await restError(versioned((url) => url.searchParams.delete('api-version')).loadBalancers.get(RG, 'x'));
  assert.equal(missing.code, 'MissingApiVersionParameter');
  const malformed = await restError(versioned((url) => url.searchParams.set('api-version', 'latest')).loadBalancers.get(RG, 'x'));
  assert.equal(malformed.code, 'InvalidApiVersionParameter');
  const unknown = await restError(versioned((url) => url.searchParams.set('api-version', '2099-01-01')).loadBalancers.get(RG, 'x'));
  assert.equal(unknown.code, 'NoRegisteredProviderFound');
});

test('NSG security rules: a priority clash in the same direction is SecurityRuleConflict; foreign rules are kept', async () => {
  arm.addNetworkSecurityGroup(RG, 'nsg', {
    securityRules: [{ name: 'foreign-ssh', priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '*', destinationAddressPrefix: '*' }],
  });
  const rule = { priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '80', sourceAddressPrefix: 'Internet', destinationAddressPrefix: '*' } as const;
  const clash = await restError(client.securityRules.createOrUpdate(RG, 'nsg', 'svc-http', rule, FAST));
  assert.equal(clash.code, 'SecurityRuleConflict');
  assert.match(clash.message, /Rules cannot have the same Priority and Direction/);

  const created = await client.securityRules.createOrUpdate(RG, 'nsg', 'svc-http', { ...rule, priority: 200 }, FAST);
  assert.equal(created.provisioningState, 'Succeeded');
  const names: string[] = [];
  for await (const r of client.securityRules.list(RG, 'nsg')) names.push(r.name ?? '');
  assert.deepEqual(names, ['foreign-ssh', 'svc-http']);

  await client.securityRules.delete(RG, 'nsg', 'svc-http', FAST);
  const remaining = arm.networkSecurityGroup(RG, 'nsg')?.properties['securityRules'] as Array<{ name: string }>;
  assert.deepEqual(remaining.map((r) => r.name), ['foreign-ssh']);
  assert.equal(arm.count({ method: 'PUT', type: 'networkSecurityGroups', child: 'securityRules' }), 2);
});

test('a backend pool PUT on its own replaces that pool and moves the LB etag', async () => {
  const lb = await client.loadBalancers.createOrUpdate(RG, 'lb-pool', fullLb('lb-pool', { name: 'fe', subnet: { id: subnetId() } }), FAST);
  const vnetId = `/subscriptions/${arm.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet`;
  const pool = await client.loadBalancerBackendAddressPools.createOrUpdate(
    RG,
    'lb-pool',
    'pool',
    { loadBalancerBackendAddresses: [{ name: 'node-b', ipAddress: '10.0.0.11', virtualNetwork: { id: vnetId } }] },
    FAST,
  );
  assert.deepEqual(pool.loadBalancerBackendAddresses?.map((a) => a.ipAddress), ['10.0.0.11']);
  const after = await client.loadBalancers.get(RG, 'LB-POOL');
  assert.notEqual(after.etag, lb.etag);
  assert.equal(after.name, 'lb-pool', 'names match case-insensitively and keep their creation casing');
  assert.equal(after.loadBalancingRules?.length, 1, 'the rest of the LB is untouched');

  const badVnet = await restError(
    client.loadBalancerBackendAddressPools.createOrUpdate(RG, 'lb-pool', 'pool', { loadBalancerBackendAddresses: [{ name: 'x', ipAddress: '10.9.0.1', virtualNetwork: { id: `${vnetId}-missing` } }] }, FAST),
  );
  assert.equal(badVnet.code, 'InvalidResourceReference');
});

test('missing resources: ResourceNotFound, ParentResourceNotFound for children, and DELETE of nothing succeeds', async () => {
  const missing = await restError(client.loadBalancers.get(RG, 'ghost'));
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.code, 'ResourceNotFound');
  const orphan = await restError(client.loadBalancerBackendAddressPools.get(RG, 'ghost', 'pool'));
  assert.equal(orphan.code, 'ParentResourceNotFound');
  await client.loadBalancers.delete(RG, 'ghost', FAST);
  assert.equal(arm.calls({ method: 'DELETE', type: 'loadBalancers', name: 'ghost' })[0]?.status, 204);
});

test('frontend and rule counts are limited per LB', async () => {
  const small = await AzureArmFake.start({ limits: { frontendIpConfigurationsPerLoadBalancer: 1, loadBalancingRulesPerLoadBalancer: 1 } });
  try {
    small.addVirtualNetwork(RG, 'vnet', { addressPrefixes: ['10.0.0.0/16'], subnets: [{ name: 'lb', addressPrefix: '10.0.1.0/24' }] });
    const c = small.client({ retryOptions: { maxRetries: 0 } });
    const subnet = { id: `/subscriptions/${small.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/lb` };
    const tooMany = await restError(
      c.loadBalancers.createOrUpdate(RG, 'lb', { location: small.location, sku: { name: 'Standard' }, frontendIPConfigurations: [{ name: 'a', subnet }, { name: 'b', subnet }] }, FAST),
    );
    assert.equal(tooMany.code, 'LoadBalancerFrontendIPConfigurationCountLimitReached');

    const id = `/subscriptions/${small.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/lb`;
    const rule = (name: string, port: number) => ({ name, protocol: 'Tcp', frontendPort: port, backendPort: port, frontendIPConfiguration: { id: `${id}/frontendIPConfigurations/a` } }) as const;
    const tooManyRules = await restError(
      c.loadBalancers.createOrUpdate(RG, 'lb', { location: small.location, sku: { name: 'Standard' }, frontendIPConfigurations: [{ name: 'a', subnet }], loadBalancingRules: [rule('r1', 80), rule('r2', 443)] }, FAST),
    );
    assert.equal(tooManyRules.code, 'LoadBalancerLoadBalancingRuleCountLimitReached');
    const one = await c.loadBalancers.createOrUpdate(RG, 'lb', { location: small.location, sku: { name: 'Standard' }, frontendIPConfigurations: [{ name: 'a', subnet }], loadBalancingRules: [rule('r1', 80)] }, FAST);
    assert.equal(one.loadBalancingRules?.length, 1, 'at the limit is still allowed');
  } finally {
    await small.stop();
  }
});
