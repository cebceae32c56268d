// End to end: the real controller (in-process) + a real kube-apiserver + the ARM fake (azure provider).
//
// The controller runs in this process through runController(config, { provider }), with the provider built
// by createAzureProvider from the same config section plus an injected TokenCredential and the fake's TLS
// CA. In production the token comes from @azure/identity (DefaultAzureCredential), which this test does
// not exercise: the fake accepts any bearer token and serves no token endpoint. Every assertion reads the
// fake's resources or the API server, never the controller's or the provider's own view.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { runController, type RunningController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import { defaultLoadBalancerName } from '../../src/providers/provider.ts';
import { useControlPlane } from '../harness/node-test.ts';
import type { AzureArmFake, Wire } from '../fakes/azure-arm/index.ts';
import { azureProvider, CLUSTER, RG, startArm } from '../fakes/azure-suite.ts';
import { TestKube, waitFor } from '../support/controller.ts';

const FINALIZER = 'service.kubernetes.io/load-balancer-cleanup';
const INTERNAL = 'service.beta.kubernetes.io/azure-load-balancer-internal';

interface Named {
  name: string;
  properties: Wire;
}

function children(arm: AzureArmFake, lbName: string, key: string): Named[] {
  return (arm.loadBalancer(RG, lbName)?.properties[key] ?? []) as Named[];
}

function poolIPs(arm: AzureArmFake, lbName: string): string[] {
  const pool = children(arm, lbName, 'backendAddressPools').find((p) => p.name === CLUSTER);
  return ((pool?.properties['loadBalancerBackendAddresses'] ?? []) as Named[]).map((a) => String(a.properties['ipAddress'])).sort();
}

/** Name and properties only: a rule's etag is its NSG's and changes with every write to any rule. */
function nsgRules(arm: AzureArmFake): Named[] {
  const rules = (arm.networkSecurityGroup(RG, 'cluster-nsg')?.properties['securityRules'] ?? []) as Named[];
  return rules.map(({ name, properties }) => ({ name, properties }));
}

function frontendOf(svc: V1Service): string {
  return defaultLoadBalancerName(svc.metadata!.uid!);
}

describe('controller + kube-apiserver + ARM fake (azure provider)', () => {
  const plane = useControlPlane();
  let arm: AzureArmFake;
  let kube: TestKube;
  let running: RunningController;
  let foreignRules: Named[];

  before(async () => {
    arm = await startArm();
    // A public IP of someone else's in the same resource group: cleanup must leave it alone.
    arm.addPublicIp(RG, 'jumpbox-ip', { tags: { owner: 'ops' } });
    foreignRules = nsgRules(arm);
    kube = new TestKube(plane());
    await plane().createNamespace('ingress-nginx');
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.0.4' }] });
    await plane().createNode('node-b', { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] });

    const { provider, config: azure } = azureProvider(arm);
    const config = parseConfig({
      clusterName: CLUSTER,
      provider: { name: 'azure', azure },
      controller: { workers: 4, resyncPeriod: '2s', backoff: { initial: '200ms', max: '2s' }, garbageCollection: { period: '2s' } },
      leaderElection: { enabled: false },
      server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
      logging: { level: process.env.SLC_TEST_LOG_LEVEL ?? 'silent' },
    });
    running = await runController(config, {
      kubeconfig: plane().kubeconfigPath,
      logger: pino({ level: config.logging.level }),
      provider,
      onLostLeadership: () => {
        throw new Error('lost leadership in a test without leader election');
      },
    });
  });

  after(async () => {
    await running?.stop();
    await arm?.stop();
  });

  /** The Service once its status carries an address. */
  const withIP = (namespace: string, name: string) =>
    waitFor(`${namespace}/${name} to get an EXTERNAL-IP`, async () => {
      const s = await kube.getService(namespace, name);
      return s.status?.loadBalancer?.ingress?.[0]?.ip ? s : undefined;
    });

  test('public and internal Services get addresses from Azure, nodes reach the pool, deletion leaves nothing behind', async () => {
    // The example Service of the demo (Kubernetes' own docs example), and an ingress controller's.
    await kube.createService('default', 'example-service', {
      type: 'LoadBalancer',
      selector: { app: 'example' },
      ports: [{ port: 8765, targetPort: 9376, protocol: 'TCP' }],
    });
    await kube.createService('ingress-nginx', 'ingress-nginx-controller', {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      selector: { app: 'ingress-nginx' },
      ports: [
        { name: 'http', port: 80, targetPort: 80, protocol: 'TCP' },
        { name: 'https', port: 443, targetPort: 443, protocol: 'TCP' },
        { name: 'mysql', port: 3306, targetPort: 3306, protocol: 'TCP' },
      ],
    });
    const example = await withIP('default', 'example-service');
    const ingress = await withIP('ingress-nginx', 'ingress-nginx-controller');

    for (const svc of [example, ingress]) {
      const fe = frontendOf(svc);
      const pip = arm.publicIp(RG, `${CLUSTER}-${fe}`);
      assert.ok(pip, `public IP of ${svc.metadata!.name}`);
      assert.deepEqual(svc.status!.loadBalancer!.ingress, [{ ip: pip.properties['ipAddress'], ipMode: 'VIP' }]);
      const frontend = children(arm, CLUSTER, 'frontendIPConfigurations').find((f) => f.name === fe);
      assert.equal((frontend?.properties['publicIPAddress'] as { id: string }).id, pip.id);
      assert.ok(svc.metadata!.finalizers?.includes(FINALIZER));
    }

    // One rule per port on its NodePort; Local policy probes kube-proxy's healthCheckNodePort over HTTP.
    const ife = frontendOf(ingress);
    const rules = children(arm, CLUSTER, 'loadBalancingRules').filter((r) => r.name.startsWith(ife));
    assert.deepEqual(rules.map((r) => r.name).sort(), [`${ife}-TCP-3306`, `${ife}-TCP-443`, `${ife}-TCP-80`]);
    for (const port of ingress.spec!.ports!) {
      const rule = rules.find((r) => r.name === `${ife}-TCP-${port.port}`)!;
      assert.equal(rule.properties['frontendPort'], port.port);
      assert.equal(rule.properties['backendPort'], port.nodePort);
    }
    const probes = children(arm, CLUSTER, 'probes').filter((p) => p.name.startsWith(ife));
    assert.equal(probes.length, 3);
    for (const probe of probes) {
      assert.equal(probe.properties['protocol'], 'Http');
      assert.equal(probe.properties['port'], ingress.spec!.healthCheckNodePort);
    }
    const efe = frontendOf(example);
    const exampleRule = children(arm, CLUSTER, 'loadBalancingRules').find((r) => r.name === `${efe}-TCP-8765`);
    assert.equal(exampleRule?.properties['backendPort'], example.spec!.ports![0]!.nodePort);
    assert.deepEqual(poolIPs(arm, CLUSTER), ['10.0.0.4', '10.0.0.5']);
    assert.deepEqual(
      nsgRules(arm)
        .filter((r) => r.name.startsWith(ife))
        .map((r) => r.name)
        .sort(),
      [`${ife}-TCP-3306-Internet`, `${ife}-TCP-443-Internet`, `${ife}-TCP-80-Internet`],
    );

    // A node joins, then one leaves: the shared pool and the NSG rules' destinations follow.
    await plane().createNode('node-c', { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] });
    await waitFor('node-c in the backend pool', () => poolIPs(arm, CLUSTER).includes('10.0.0.6'));
    await plane().deleteNode('node-b');
    await waitFor('node-b out of the backend pool', () => poolIPs(arm, CLUSTER).join() === '10.0.0.4,10.0.0.6');
    await waitFor('NSG rules to allow exactly the remaining nodes', () =>
      nsgRules(arm)
        .filter((r) => r.name.startsWith(ife) || r.name.startsWith(efe))
        .every((r) => (r.properties['destinationAddressPrefixes'] as string[]).join() === '10.0.0.4,10.0.0.6'),
    );

    // Internal: a private address from the configured subnet (ilb, 10.0.1.0/24), no public IP.
    await kube.createService(
      'default',
      'db',
      { type: 'LoadBalancer', ports: [{ port: 5432, protocol: 'TCP' }] },
      { annotations: { [INTERNAL]: 'true' } },
    );
    const db = await withIP('default', 'db');
    const dfe = frontendOf(db);
    const internalFrontend = children(arm, `${CLUSTER}-internal`, 'frontendIPConfigurations').find((f) => f.name === dfe);
    assert.ok(internalFrontend, 'frontend on the internal load balancer');
    const address = internalFrontend.properties['privateIPAddress'];
    assert.match(String(address), /^10\.0\.1\.\d+$/);
    assert.deepEqual(db.status!.loadBalancer!.ingress, [{ ip: address, ipMode: 'VIP' }]);
    assert.equal((internalFrontend.properties['subnet'] as { id: string }).id.endsWith('/subnets/ilb'), true);
    assert.equal(arm.publicIp(RG, `${CLUSTER}-${dfe}`), undefined);
    assert.deepEqual(poolIPs(arm, `${CLUSTER}-internal`), ['10.0.0.4', '10.0.0.6']);

    // Steady state: periodic resyncs (every 2 s) and GC scans read but never write.
    arm.resetCalls();
    await waitFor(
      'two resyncs of example-service to reach ARM',
      () => arm.count({ method: 'GET', type: 'publicIPAddresses', name: `${CLUSTER}-${efe}` }) >= 2,
    );
    const writes = arm.calls().filter((c) => c.method !== 'GET');
    assert.deepEqual(writes, [], 'writes during steady state');

    // Deletion: every frontend, rule, probe, NSG rule and owned public IP goes; then the finalizer, then the Service.
    await kube.deleteService('default', 'example-service');
    await kube.deleteService('ingress-nginx', 'ingress-nginx-controller');
    await kube.deleteService('default', 'db');
    for (const [namespace, name] of [
      ['default', 'example-service'],
      ['ingress-nginx', 'ingress-nginx-controller'],
      ['default', 'db'],
    ] as const) {
      await waitFor(`${namespace}/${name} to be gone (finalizer removed)`, async () => !(await kube.serviceExists(namespace, name)));
    }
    // An LB goes with its last frontend; with it, every rule, probe and pool.
    assert.deepEqual(
      arm.resources('loadBalancers').map((lb) => lb.name),
      [],
    );
    assert.deepEqual(
      arm.resources('publicIPAddresses').map((p) => p.name),
      ['jumpbox-ip'],
    );
    assert.deepEqual(nsgRules(arm), foreignRules);
    assert.equal(arm.pendingOperations(), 0);
  });
});
