// End to end: the controller in-process + a real kube-apiserver + the GCE fake, in modes passthrough and neg.
//
// The GCP provider is built by the test and handed to runController with an injected auth client (the fake's
// fixed-token OAuth2Client): Application Default Credentials cannot reach a fake, so the CLI-as-a-process
// setup of the AWS end-to-end test is not possible here. Everything else is the real controller.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { runController, type RunningController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createGcpProvider } from '../../src/providers/gcp/index.ts';
import { defaultLoadBalancerName } from '../../src/providers/provider.ts';
import { GceFake } from '../fakes/gce/index.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { TestKube, waitFor } from '../support/controller.ts';
import { MetricsRegistry } from '../../src/server/metrics-registry.ts';

const CLUSTER = 'e2e';
const NS = 'shop';
const WAIT_MS = 90_000;
describe('controller + kube-apiserver + GCE fake (gcp provider)', () => {
  const plane = useControlPlane();
  let gce: GceFake;
  let kube: TestKube;
  let running: RunningController;
  /** Instance name -> its zone and IP in the fake, for the nodes the tests create. */
  const instanceIPs = new Map<string, string>();
  const instanceZones = new Map<string, string>();

  async function createNode(name: string): Promise<void> {
    const zone = instanceZones.get(name)!;
    await plane().createNode(name, {
      addresses: [{ type: 'InternalIP', address: instanceIPs.get(name)! }],
      providerID: `gce://${gce.project}/${zone}/${name}`,
    });
  }

  function owned(): string[] {
    const global = gce.providerResourceNames();
    const zonal = gce.zones.flatMap((z) =>
      (['networkEndpointGroups', 'instanceGroups'] as const).flatMap((c) =>
        gce.resources(c, z).map((r) => `${c}/${z}/${String(r['name'])}`),
      ),
    );
    return [...global, ...zonal];
  }

  before(async () => {
    gce = await GceFake.start({ pageSize: 50 });
    gce.addSubnetwork('proxy-only', { ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY', role: 'ACTIVE' });
    const seeds: Array<[string, string]> = [
      ['node-a', gce.zones[0]!],
      ['node-b', gce.zones[1]!],
      ['extra-passthrough', gce.zones[0]!],
      ['extra-neg', gce.zones[1]!],
    ];
    for (const [name, zone] of seeds) {
      const instance = gce.addInstance(name, { zone, tags: ['k8s-node'] });
      instanceZones.set(name, zone);
      instanceIPs.set(name, String((instance['networkInterfaces'] as Array<Record<string, unknown>>)[0]!['networkIP']));
    }
    kube = new TestKube(plane());
    await plane().createNamespace(NS);
    await createNode('node-a');
    await createNode('node-b');

    const config = parseConfig({
      clusterName: CLUSTER,
      provider: {
        name: 'gcp',
        gcp: {
          ...gce.providerConfig(),
          callsPerSecond: 1_000,
          retryBaseDelayMs: 50,
          retryMaxDelayMs: 500,
        },
      },
      controller: { workers: 4, resyncPeriod: '5s', backoff: { initial: '200ms', max: '2s' }, garbageCollection: { period: '5s' } },
      leaderElection: { enabled: false },
      server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
      logging: { level: process.env.SLC_TEST_LOG_LEVEL ?? 'silent' },
    });
    const logger = pino({ level: config.logging.level });
    const provider = createGcpProvider(
      config.provider.gcp!,
      {
        clusterName: CLUSTER,
        logger,
        registry: new MetricsRegistry(),
        events: { record: () => undefined },
        capacityFreed: () => undefined,
      },
      { authClient: gce.clientOptions().authClient },
    );
    running = await runController(config, {
      kubeconfig: plane().kubeconfigPath,
      logger,
      provider,
      onLostLeadership: () => {
        throw new Error('lost leadership without leader election');
      },
    });
  });

  after(async () => {
    await running?.stop();
    await gce?.stop();
  });

  for (const mode of ['passthrough', 'neg'] as const) {
    test(`mode ${mode}: the README example and an ingress-style Service get the fake's address; nodes reach the targets; deletion leaves nothing`, async () => {
      const annotations = mode === 'neg' ? { 'service-lb-controller.io/gcp-mode': 'neg' } : {};
      const web = await kube.createService(
        NS,
        `web-${mode}`,
        { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
        { annotations },
      );
      const ingress = await kube.createService(
        NS,
        `ingress-${mode}`,
        {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          ports: [
            { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
            { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
            { name: 'mysql', port: 3306, protocol: 'TCP' },
          ],
        },
        { annotations },
      );
      const services = [web, ingress].map((s) => ({ name: s.metadata!.name!, lb: defaultLoadBalancerName(s.metadata!.uid!) }));

      for (const { name, lb } of services) {
        const ip = await waitFor(
          `${name} to get an EXTERNAL-IP`,
          async () => (await kube.getService(NS, name)).status?.loadBalancer?.ingress?.[0]?.ip,
          WAIT_MS,
        );
        assert.equal(ip, gce.resource('addresses', lb)?.['address'], `${name}: the IP is the fake's address`);
        const rule = gce.resource('forwardingRules', mode === 'neg' ? `${lb}-80` : lb);
        assert.equal(rule?.['IPAddress'], ip);
        const svc = await kube.getService(NS, name);
        assert.equal(svc.status?.loadBalancer?.ingress?.[0]?.ipMode, mode === 'neg' ? 'Proxy' : 'VIP');
      }
      const ingressLb = services[1]!.lb;
      const ingressSvc = await kube.getService(NS, ingress.metadata!.name!);
      if (mode === 'passthrough') {
        assert.equal(gce.resource('forwardingRules', ingressLb)?.['portRange'], '80-3306');
        assert.equal(gce.resource('httpHealthChecks', ingressLb)?.['port'], ingressSvc.spec?.healthCheckNodePort);
      } else {
        assert.deepEqual(
          gce
            .resources('forwardingRules')
            .map((r) => String(r['name']))
            .filter((n) => n.startsWith(`${ingressLb}-`))
            .sort(),
          [`${ingressLb}-3306`, `${ingressLb}-443`, `${ingressLb}-80`],
        );
      }

      // What each Service's targets are, as the fake holds them: instance names (pool) or NEG endpoint IPs.
      const webLb = services[0]!.lb;
      const webNodePort = web.spec!.ports![0]!.nodePort!;
      const targets = (): string[] =>
        mode === 'passthrough'
          ? ((gce.resource('targetPools', webLb)?.['instances'] as string[] | undefined) ?? []).map((u) => u.split('/').pop()!).sort()
          : gce.zones
              .flatMap((z) => (gce.resource('networkEndpointGroups', `${webLb}-80`, z) ? gce.networkEndpoints(`${webLb}-80`, z) : []))
              .map((e) => `${String(e['instance']).split('/').pop()}:${String(e['ipAddress'])}:${String(e['port'])}`)
              .sort();
      const expected = (names: string[]): string[] =>
        mode === 'passthrough' ? [...names].sort() : names.map((n) => `${n}:${instanceIPs.get(n)}:${webNodePort}`).sort();

      assert.deepEqual(targets(), expected(['node-a', 'node-b']));
      const extra = `extra-${mode}`;
      await createNode(extra);
      await waitFor(
        `${extra} to become a target`,
        () => JSON.stringify(targets()) === JSON.stringify(expected(['node-a', 'node-b', extra])),
        WAIT_MS,
      );
      await plane().deleteNode(extra);
      await waitFor(
        `${extra} to leave the targets`,
        () => JSON.stringify(targets()) === JSON.stringify(expected(['node-a', 'node-b'])),
        WAIT_MS,
      );

      for (const { name } of services) await kube.deleteService(NS, name);
      for (const { name } of services)
        await waitFor(`${name} to be gone (finalizer removed)`, async () => !(await kube.serviceExists(NS, name)), WAIT_MS);
      assert.deepEqual(owned(), [], 'nothing owned is left in the fake');
    });
  }
});
