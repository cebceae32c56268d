// The Azure provider against the ARM fake, through @azure/arm-network only: shared LBs, batched writes, cleanup.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Wire } from '../fakes/azure-arm/index.ts';
import { AzureArmFake } from '../fakes/azure-arm/index.ts';
import { azureProvider, CLUSTER, NODES, RG, service, startArm } from '../fakes/azure-suite.ts';
import { ProviderError } from '../../src/providers/provider.ts';

const A = 'service.beta.kubernetes.io/';

function props(r: { properties: Wire } | undefined): Wire {
  assert.ok(r, 'resource exists');
  return r.properties;
}

function names(list: unknown): string[] {
  return ((list ?? []) as Array<{ name: string }>).map((x) => x.name).sort();
}

function ourRules(arm: AzureArmFake, lbName: string): Array<{ name: string; properties: Wire }> {
  return (props(arm.networkSecurityGroup(RG, 'cluster-nsg'))['securityRules'] as Array<{ name: string; properties: Wire }>).filter((r) =>
    r.name.startsWith(lbName),
  );
}

describe('azure provider', () => {
  let arm: AzureArmFake;
  before(async () => {
    arm = await startArm();
  });
  after(async () => {
    await arm.stop();
  });

  test('public Service: frontend, public IP tagged as upstream, rule and probe per port, NSG rules, VIP status', async () => {
    const { provider } = azureProvider(arm);
    const svc = service('web', { ports: [{ port: 80 }, { port: 443 }] });
    const ingress = await provider.ensure(svc);
    const fe = svc.identity.lbName;
    const pip = arm.publicIp(RG, `${CLUSTER}-${fe}`);
    assert.deepEqual(ingress, [{ ip: props(pip)['ipAddress'], ipMode: 'VIP' }]);
    assert.deepEqual(pip!.tags, { 'k8s-azure-service': 'default/web', 'k8s-azure-cluster-name': CLUSTER });
    const lb = props(arm.loadBalancer(RG, CLUSTER));
    assert.deepEqual(names(lb['frontendIPConfigurations']), [fe]);
    assert.deepEqual(names(lb['loadBalancingRules']), [`${fe}-TCP-443`, `${fe}-TCP-80`]);
    assert.deepEqual(names(lb['probes']), [`${fe}-TCP-443`, `${fe}-TCP-80`]);
    const rule = (lb['loadBalancingRules'] as Array<{ name: string; properties: Wire }>).find((r) => r.name === `${fe}-TCP-80`)!;
    assert.equal(rule.properties['backendPort'], svc.listeners[0]!.nodePort);
    assert.equal(rule.properties['enableFloatingIP'], false);
    const pool = (lb['backendAddressPools'] as Array<{ name: string; properties: Wire }>)[0]!;
    assert.equal(pool.name, CLUSTER);
    assert.deepEqual(
      (pool.properties['loadBalancerBackendAddresses'] as Array<{ properties: Wire }>).map((a) => a.properties['ipAddress']),
      ['10.0.0.4', '10.0.0.5'],
    );
    const rules = ourRules(arm, fe);
    assert.deepEqual(rules.map((r) => r.name).sort(), [`${fe}-TCP-443-Internet`, `${fe}-TCP-80-Internet`]);
    assert.deepEqual(await provider.get(svc.identity), { ingress });
  });

  test('readiness: the configured subnet reads; a missing one is a problem naming the subnet, the VNet and the group', async () => {
    assert.deepEqual(await azureProvider(arm).provider.checkReady?.(), []);
    const problems = (await azureProvider(arm, { subnetName: 'nope' }).provider.checkReady?.()) ?? [];
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, new RegExp(`^subnet nope of VNet vnet in resource group ${RG} \\(subscription [^)]+\\) not found`));
    const wrongGroup = (await azureProvider(arm, { vnetResourceGroup: 'rg-missing' }).provider.checkReady?.()) ?? [];
    assert.match(wrongGroup[0] ?? '', /resource group rg-missing .*not found/);
  });

  test('steady resync writes nothing', async () => {
    const { provider } = azureProvider(arm);
    const svc = service('steady');
    await provider.ensure(svc);
    arm.resetCalls();
    await provider.ensure(svc);
    assert.equal(arm.count({ method: 'PUT' }) + arm.count({ method: 'DELETE' }), 0);
  });

  test('internal Service: Dynamic private IP from the configured subnet, or the annotated subnet; no public IP', async () => {
    const { provider } = azureProvider(arm);
    const svc = service('db', { annotations: { [`${A}azure-load-balancer-internal`]: 'true' } });
    const [ingress] = await provider.ensure(svc);
    assert.match(ingress!.ip!, /^10\.0\.1\.\d+$/);
    assert.equal(ingress!.ipMode, 'VIP');
    assert.equal(arm.publicIp(RG, `${CLUSTER}-${svc.identity.lbName}`), undefined);
    assert.deepEqual(names(props(arm.loadBalancer(RG, `${CLUSTER}-internal`))['frontendIPConfigurations']), [svc.identity.lbName]);
    const other = service('db2', {
      annotations: {
        [`${A}azure-load-balancer-internal`]: 'true',
        [`${A}azure-load-balancer-internal-subnet`]: 'other',
        [`${A}azure-load-balancer-ipv4`]: '10.0.2.50',
      },
    });
    assert.deepEqual(await provider.ensure(other), [{ ip: '10.0.2.50', ipMode: 'VIP' }]);
    assert.ok(
      names(props(arm.loadBalancer(RG, `${CLUSTER}-internal`))['frontendIPConfigurations']).includes(`${other.identity.lbName}-other`),
    );
  });

  test('TCP and UDP on one port; eTP Local probes HTTP /healthz on healthCheckNodePort', async () => {
    const { provider } = azureProvider(arm);
    const dns = service('dns', {
      ports: [
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ],
    });
    await provider.ensure(dns);
    const local = service('local', { healthCheck: { kind: 'http', port: 32000, path: '/healthz' }, externalTrafficPolicy: 'Local' });
    await provider.ensure(local);
    const lb = props(arm.loadBalancer(RG, CLUSTER));
    const fe = dns.identity.lbName;
    const rules = names(lb['loadBalancingRules']);
    assert.ok(rules.includes(`${fe}-TCP-53`) && rules.includes(`${fe}-UDP-53`));
    const probes = lb['probes'] as Array<{ name: string; properties: Wire }>;
    assert.equal(
      probes.find((p) => p.name === `${fe}-UDP-53`),
      undefined,
      'a UDP port under Cluster policy has no TCP probe',
    );
    const http = probes.find((p) => p.name === `${local.identity.lbName}-TCP-80`)!;
    assert.equal(http.properties['protocol'], 'Http');
    assert.equal(http.properties['port'], 32000);
    assert.equal(http.properties['requestPath'], '/healthz');
  });

  test('unknown azure-* annotations and floating IP "false" give Warnings; a malformed value fails naming it', async () => {
    const { provider, deps } = azureProvider(arm);
    const svc = service('warn', {
      annotations: { [`${A}azure-load-balancer-mode`]: 'auto', [`${A}azure-disable-load-balancer-floating-ip`]: 'false' },
    });
    await provider.ensure(svc);
    assert.deepEqual(deps.recorded.map((e) => e.reason).sort(), ['FloatingIPUnsupported', 'UnsupportedAnnotation']);
    assert.match(deps.recorded.find((e) => e.reason === 'UnsupportedAnnotation')!.message, /azure-load-balancer-mode/);
    const bad = service('bad', { annotations: { [`${A}azure-load-balancer-tcp-idle-timeout`]: '200' } });
    await assert.rejects(
      provider.ensure(bad),
      (err: unknown) => err instanceof ProviderError && !err.retryable && err.message.includes('azure-load-balancer-tcp-idle-timeout'),
    );
  });

  test('an existing public IP (by name or by address) is used and never deleted', async () => {
    const { provider } = azureProvider(arm);
    arm.addPublicIp(RG, 'my-ip', { tags: { owner: 'me' } });
    const address = props(arm.publicIp(RG, 'my-ip'))['ipAddress'] as string;
    const byName = service('byname', { annotations: { [`${A}azure-pip-name`]: 'my-ip' } });
    assert.deepEqual(await provider.ensure(byName), [{ ip: address, ipMode: 'VIP' }]);
    await provider.delete(byName.identity);
    const byAddress = service('byaddr', { requestedIPs: [address] });
    assert.deepEqual(await provider.ensure(byAddress), [{ ip: address, ipMode: 'VIP' }]);
    await provider.delete(byAddress.identity);
    assert.ok(arm.publicIp(RG, 'my-ip'), 'the user public IP survives');
    assert.equal(arm.publicIp(RG, `${CLUSTER}-${byName.identity.lbName}`), undefined);
  });

  test('source ranges, allowed ranges and service tags become NSG rules; foreign rules untouched; removed with the Service', async () => {
    const { provider } = azureProvider(arm);
    const before = arm.networkSecurityGroup(RG, 'cluster-nsg')!;
    const foreignOf = (nsg: { properties: Wire } | undefined) =>
      (props(nsg)['securityRules'] as Array<{ name: string; properties: Wire }>)
        .filter((r) => r.name.startsWith('foreign'))
        .map((r) => ({ name: r.name, properties: r.properties }));
    const foreign = foreignOf(before);
    const svc = service('ranges', {
      sourceRanges: ['203.0.113.0/24'],
      annotations: { [`${A}azure-allowed-ip-ranges`]: '198.51.100.0/24', [`${A}azure-allowed-service-tags`]: 'AzureFrontDoor.Backend' },
    });
    await provider.ensure(svc);
    const rules = ourRules(arm, svc.identity.lbName);
    assert.deepEqual(rules.map((r) => r.properties['sourceAddressPrefix']).sort(), [
      '198.51.100.0/24',
      '203.0.113.0/24',
      'AzureFrontDoor.Backend',
    ]);
    const priorities = (props(arm.networkSecurityGroup(RG, 'cluster-nsg'))['securityRules'] as Array<{ properties: Wire }>).map(
      (r) => r.properties['priority'],
    );
    assert.equal(new Set(priorities).size, priorities.length, 'no two rules share a priority');
    assert.ok(rules.every((r) => (r.properties['priority'] as number) > 501));
    await provider.delete(svc.identity);
    assert.deepEqual(ourRules(arm, svc.identity.lbName), []);
    assert.deepEqual(foreignOf(arm.networkSecurityGroup(RG, 'cluster-nsg')), foreign);
  });

  test('a node change updates the pool in one LB PUT', async () => {
    const { provider } = azureProvider(arm, { resourceGroup: RG });
    const svc = service('nodes');
    await provider.ensure(svc);
    arm.resetCalls();
    const more = [...NODES, { nodeName: 'node-c', addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] }];
    await provider.updateTargets({ ...svc, targets: more });
    assert.equal(arm.count({ method: 'PUT', type: 'loadBalancers', name: CLUSTER }), 1);
    const pool = (props(arm.loadBalancer(RG, CLUSTER))['backendAddressPools'] as Array<{ properties: Wire }>)[0]!;
    assert.equal((pool.properties['loadBalancerBackendAddresses'] as unknown[]).length, 3);
  });
});

describe('azure provider: batching', () => {
  let arm: AzureArmFake;
  before(async () => {
    arm = await startArm({ writeLatencyMs: 20, lroDelayMs: 20 });
  });
  after(async () => {
    await arm.stop();
  });

  test('50 concurrent ensures: at most one LB PUT per 10 Services, every Service served', async () => {
    const { provider } = azureProvider(arm);
    const services = Array.from({ length: 50 }, (_, i) => service(`batch-${i}`));
    arm.resetCalls();
    // The first LB PUT's operation runs 5 s longer: by then every Service's public IP exists and its edit is
    // queued, so the bound below holds however slowly a loaded machine creates the 50 public IPs.
    arm.failNext({ method: 'PUT', type: 'loadBalancers', name: CLUSTER, kind: 'slow-lro' });
    const ingress = await Promise.all(services.map((s) => provider.ensure(s)));
    assert.equal(new Set(ingress.map((i) => i[0]!.ip)).size, 50);
    const puts = arm.count({ method: 'PUT', type: 'loadBalancers', name: CLUSTER, child: null });
    assert.ok(puts <= 5, `${puts} LB PUTs for 50 Services`);
    assert.equal(names(props(arm.loadBalancer(RG, CLUSTER))['frontendIPConfigurations']).length, 50);
    await Promise.all(services.map((s) => provider.delete(s.identity)));
    assert.equal(arm.loadBalancer(RG, CLUSTER), undefined, 'the LB goes with its last frontend');
    assert.equal(arm.resources('publicIPAddresses', RG).length, 0);
  });

  test('concurrent batches with injected 412s converge', async () => {
    const a = azureProvider(arm).provider;
    const b = azureProvider(arm).provider;
    const services = Array.from({ length: 10 }, (_, i) => service(`race-${i}`));
    arm.failNext({
      method: 'PUT',
      type: 'loadBalancers',
      count: 2,
      kind: { status: 412, code: 'PreconditionFailed', message: 'etag mismatch' },
    });
    await Promise.all(services.map((s, i) => (i % 2 === 0 ? a : b).ensure(s)));
    assert.equal(arm.injectedFaults().get('PreconditionFailed'), 2);
    assert.equal(names(props(arm.loadBalancer(RG, CLUSTER))['frontendIPConfigurations']).length, 10);
    await Promise.all(services.map((s, i) => (i % 2 === 0 ? a : b).delete(s.identity)));
    assert.equal(arm.loadBalancer(RG, CLUSTER), undefined);
  });

  test('a request ARM never answers times out and is retried: a read, a write and a long-running operation poll', async () => {
    // The fake holds these requests until it stops: without a client timeout the ensure would never end.
    const { provider } = azureProvider(arm, { requestTimeoutMs: 300 });
    const svc = service('held');
    arm.failNext({ method: 'GET', type: 'loadBalancers', kind: 'timeout' });
    arm.failNext({ method: 'PUT', type: 'publicIPAddresses', kind: 'timeout' });
    arm.failNext({ method: 'GET', type: 'operations', kind: 'timeout' });
    arm.resetCalls();
    const ingress = await provider.ensure(svc);
    assert.equal(arm.injectedFaults().get('timeout'), 3);
    const held = arm.calls().filter((c) => c.fault === 'timeout');
    assert.deepEqual(held.map((c) => [c.method, c.type, c.status]).sort(), [
      ['GET', 'loadBalancers', 0],
      ['GET', 'operations', 0],
      ['PUT', 'publicIPAddresses', 0],
    ]);
    assert.deepEqual(ingress, [{ ip: props(arm.publicIp(RG, `${CLUSTER}-${svc.identity.lbName}`))['ipAddress'], ipMode: 'VIP' }]);
    await provider.delete(svc.identity);
  });

  test('a Service ARM rejects fails alone; the rest of its batch is committed', async () => {
    const { provider } = azureProvider(arm);
    const good = Array.from({ length: 6 }, (_, i) => service(`ok-${i}`, { annotations: { [`${A}azure-load-balancer-internal`]: 'true' } }));
    // 10.0.1.2 is in Azure's reserved range of the subnet: ARM refuses the frontend.
    const bad = service('reserved', {
      annotations: { [`${A}azure-load-balancer-internal`]: 'true', [`${A}azure-load-balancer-ipv4`]: '10.0.1.2' },
    });
    const results = await Promise.allSettled([...good, bad].map((s) => provider.ensure(s)));
    assert.ok(results.slice(0, 6).every((r) => r.status === 'fulfilled'));
    const last = results[6]!;
    assert.equal(last.status, 'rejected');
    assert.match(String((last as PromiseRejectedResult).reason.message), /PrivateIPAddressInReservedRange/);
    for (const s of good) await provider.delete(s.identity);
    await provider.delete(bad.identity);
    assert.equal(arm.loadBalancer(RG, `${CLUSTER}-internal`), undefined);
  });

  test('LB limits: new Services go to the next LB, placed ones stay', async () => {
    const { provider } = azureProvider(arm, { maxFrontendsPerLoadBalancer: 3 });
    const first = Array.from({ length: 3 }, (_, i) => service(`fill-${i}`));
    for (const s of first) await provider.ensure(s);
    const overflow = service('overflow');
    await provider.ensure(overflow);
    assert.deepEqual(names(props(arm.loadBalancer(RG, `${CLUSTER}-2`))['frontendIPConfigurations']), [overflow.identity.lbName]);
    await provider.ensure(first[0]!);
    assert.equal(names(props(arm.loadBalancer(RG, CLUSTER))['frontendIPConfigurations']).length, 3);
    for (const s of [...first, overflow]) await provider.delete(s.identity);
    assert.equal(arm.resources('loadBalancers', RG).length, 0);
  });

  test('after a restart, a provider with no memory finds every frontend and public IP by listOwned and deletes them', async () => {
    const crashed = azureProvider(arm).provider;
    const services = Array.from({ length: 5 }, (_, i) =>
      service(`crash-${i}`, i % 2 ? { annotations: { [`${A}azure-load-balancer-internal`]: 'true' } } : {}),
    );
    // Writes that reached ARM before the crash land; the provider that sent them is never used again.
    await Promise.allSettled(services.map((s) => crashed.ensure(s)));
    const fresh = azureProvider(arm).provider;
    await fresh.start([]);
    const owned = await fresh.listOwned();
    assert.deepEqual(owned.map((o) => o.identity.lbName).sort(), services.map((s) => s.identity.lbName).sort());
    // Frontend names keep 31 of the UID's 32 digits: unseen Services come back by frontend name alone.
    assert.ok(owned.every((o) => o.identity.uid === '' && o.identity.name === ''));
    for (const { identity } of owned) await fresh.delete(identity);
    assert.equal(arm.resources('loadBalancers', RG).length, 0);
    assert.equal(arm.resources('publicIPAddresses', RG).length, 0);
    const nsgRules = props(arm.networkSecurityGroup(RG, 'cluster-nsg'))['securityRules'] as Array<{ name: string }>;
    assert.deepEqual(nsgRules.map((r) => r.name).sort(), ['foreign-out', 'foreign-ssh']);
  });
});
