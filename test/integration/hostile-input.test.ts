// Hostile Services, annotations and Nodes on a real API server, with the real local provider: each gets
// a specific answer (a Warning event naming the cause), nothing crashes, and a control Service stays served.
import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { pino } from 'pino';
import { after, before, describe, test } from 'node:test';
import { runController, type RunningController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { LB_FINALIZER } from '../../src/controller/predicates.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { ingressIPs, TestKube, waitFor } from '../support/controller.ts';

const NS = 'hostile';
const IPS = 'service-lb-controller.io/load-balancer-ips';
const POOL = 'service-lb-controller.io/address-pool';
const SHARED = 'service-lb-controller.io/allow-shared-ip';
const SOURCE_RANGES = 'service.beta.kubernetes.io/load-balancer-source-ranges';
const REQUEUE_CLASS = 'example.com/requeue';

/** The controller as the CLI assembles it, with the real local provider and its log lines kept. */
async function startLocalController(kubeconfig: string, overrides: ConfigInput, logs: string[]): Promise<RunningController> {
  const config = parseConfig({
    ...overrides,
    leaderElection: { enabled: false },
    server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
  });
  return runController(config, {
    kubeconfig,
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    onLostLeadership: () => {
      throw new Error('lost leadership without leader election');
    },
  });
}

const tcp = (port: number) => ({ name: `tcp-${port}`, port, protocol: 'TCP' });

interface ServiceCase {
  what: string;
  spec?: Record<string, unknown>;
  /** Or built from the address of hostile/shared-a, which is known only once it is served. */
  annotations?: Record<string, string> | ((sharedIP: string) => Record<string, string>);
  /** The Warning event's message must contain this. */
  message: string;
}

describe('hostile input to the control plane', () => {
  const plane = useControlPlane();
  let kube: TestKube;
  let main: RunningController;
  let waiting: RunningController;
  const mainLogs: string[] = [];
  const waitingLogs: string[] = [];

  async function lbService(ns: string, name: string, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}) {
    return kube.createService(ns, name, { type: 'LoadBalancer', ports: [tcp(8080)], ...spec }, { annotations });
  }

  async function ingressOf(ns: string, name: string): Promise<string[]> {
    return waitFor(`${ns}/${name} to get an ingress`, async () => {
      const ips = ingressIPs(await kube.getService(ns, name));
      return ips.length > 0 ? ips : undefined;
    });
  }

  async function warning(ns: string, name: string, reason: string, part: string): Promise<CoreV1Event> {
    return waitFor(`a ${reason} event on ${ns}/${name} containing ${JSON.stringify(part.slice(0, 80))}`, () =>
      kube.hasEvent(ns, name, reason, part),
    );
  }

  before(async () => {
    kube = new TestKube(plane());
    await plane().createNamespace(NS);
    // Loopback node addresses: health checks are refused at once instead of timing out.
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] });
    await plane().createNode('node-b', { addresses: [{ type: 'InternalIP', address: '127.0.0.2' }] });
    main = await startLocalController(
      plane().kubeconfigPath,
      {
        clusterName: 'hostile',
        provider: {
          local: {
            addressPools: [
              { name: 'default', addresses: ['127.0.100.1-127.0.100.60'] },
              { name: 'one', addresses: ['127.0.100.100/32'], autoAssign: false },
              { name: 'v6', addresses: ['fd00:10::/120'], autoAssign: false },
            ],
            healthCheck: { intervalSeconds: 30 },
            drainGraceSeconds: 0,
          },
        },
        controller: { resyncPeriod: '1h', backoff: { initial: '200ms', max: '5s' } },
      },
      mainLogs,
    );
    // Its backoff is half an hour: a Service it serves after a failure was retried by the capacity signal.
    waiting = await startLocalController(
      plane().kubeconfigPath,
      {
        clusterName: 'hostile-requeue',
        loadBalancerClass: REQUEUE_CLASS,
        provider: { local: { addressPools: [{ name: 'requeue', addresses: ['127.0.101.1/32'] }], drainGraceSeconds: 0 } },
        controller: { resyncPeriod: '1h', backoff: { initial: '30m', max: '30m' } },
      },
      waitingLogs,
    );
    await lbService(NS, 'control', {}, { [IPS]: '127.0.100.10' });
    assert.deepEqual(await ingressOf(NS, 'control'), ['127.0.100.10']);
    await lbService(NS, 'shared-a', {}, { [SHARED]: 'k' });
    await ingressOf(NS, 'shared-a');
  });

  after(async () => {
    await waiting?.stop();
    await main?.stop();
  });

  const cases: ServiceCase[] = [
    { what: 'a foreign IP', spec: { loadBalancerIP: '203.0.113.7' }, message: 'requested address 203.0.113.7 is not in any address pool' },
    {
      what: 'an IP another Service holds',
      annotations: { [IPS]: '127.0.100.10' },
      message: 'address 127.0.100.10 is already used by Service hostile/control',
    },
    { what: 'an unknown pool', annotations: { [POOL]: 'nope' }, message: 'address pool "nope" does not exist (known: default, one, v6)' },
    {
      what: 'overlapping ports on a shared IP',
      annotations: { [SHARED]: 'k' },
      message: 'is shared with Service hostile/shared-a, and ports TCP/8080 overlap',
    },
    {
      what: "another sharing key on a shared Service's IP",
      annotations: (sharedIP) => ({ [SHARED]: 'other-key', [IPS]: sharedIP }),
      message: 'is already used by Service hostile/shared-a (sharing key "k")',
    },
    {
      what: 'SCTP',
      spec: { ports: [{ name: 'sctp', port: 9000, protocol: 'SCTP' }] },
      message: 'the local provider carries TCP and UDP only; port 9000/SCTP is not supported',
    },
    { what: 'an IPv6 pool for an IPv4-only Service', annotations: { [POOL]: 'v6' }, message: 'no address pool "v6" has IPv4 addresses' },
    {
      what: 'an IPv6 address for an IPv4-only Service',
      annotations: { [IPS]: 'fd00:10::5' },
      message: "requested address fd00:10::5 is IPv6, but the Service's ipFamilies are IPv4",
    },
    {
      what: 'an address from another pool than the one named',
      annotations: { [POOL]: 'one', [IPS]: '127.0.100.20' },
      message: 'requested address 127.0.100.20 is not in address pool "one" (it is in "default")',
    },
    {
      what: 'three addresses',
      annotations: { [IPS]: '127.0.100.21,127.0.100.22,127.0.100.23' },
      message: 'expected one address, or two of different families, separated by a comma',
    },
    {
      what: 'an address that is not one',
      annotations: { [IPS]: '127.0.100' },
      message: `annotation ${IPS}: "127.0.100" is not an IP address`,
    },
    { what: 'an empty pool annotation', annotations: { [POOL]: ' ' }, message: `annotation ${POOL} is empty` },
    { what: 'an empty sharing key', annotations: { [SHARED]: '' }, message: `annotation ${SHARED} is empty` },
    {
      what: 'spec.loadBalancerIP disagreeing with the annotation',
      spec: { loadBalancerIP: '127.0.100.24' },
      annotations: { [IPS]: '127.0.100.25' },
      message: `spec.loadBalancerIP 127.0.100.24 disagrees with annotation ${IPS}`,
    },
  ];

  for (const [i, c] of cases.entries()) {
    test(`a Service with ${c.what} gets a Warning naming the cause and no address`, async () => {
      const name = `bad-${i}`;
      const annotations =
        typeof c.annotations === 'function' ? c.annotations(ingressIPs(await kube.getService(NS, 'shared-a'))[0]!) : c.annotations;
      await lbService(NS, name, c.spec, annotations);
      const event = await warning(NS, name, 'SyncLoadBalancerFailed', c.message);
      assert.equal(event.type, 'Warning');
      assert.deepEqual(ingressIPs(await kube.getService(NS, name)), []);
    });
  }

  test('a 20 KB bad annotation is quoted in 200 characters, in the event and in every retry logged', async () => {
    const value = 'x'.repeat(20_000);
    await lbService(NS, 'huge-annotation', {}, { [IPS]: value });
    const event = await warning(NS, 'huge-annotation', 'SyncLoadBalancerFailed', '…(20000 bytes) is not an IP address');
    assert.ok((event.message ?? '').length < 400, event.message);
    const retries = () => mainLogs.filter((l) => l.includes('hostile/huge-annotation') && l.includes('sync failed'));
    await waitFor('three failed syncs logged', () => retries().length >= 3);
    assert.ok(
      retries().every((l) => l.length < 1_000 && l.includes('…(20000 bytes)')),
      retries()[0],
    );
    assert.equal(
      mainLogs.some((l) => l.includes('x'.repeat(201))),
      false,
    );
  });

  test('a bad annotation fixed later: the Service gets its address', async () => {
    await lbService(NS, 'fixed', {}, { [POOL]: 'nope' });
    await warning(NS, 'fixed', 'SyncLoadBalancerFailed', 'address pool "nope" does not exist');
    await kube.patchService(NS, 'fixed', { metadata: { annotations: { [POOL]: 'one' } } });
    assert.deepEqual(await ingressOf(NS, 'fixed'), ['127.0.100.100']);
  });

  // The API server validates both places a source range can come from, so these never reach the controller.
  test('a bad source range in spec is refused by the API server, naming it', async () => {
    await assert.rejects(
      lbService(NS, 'bad-spec-range', { loadBalancerSourceRanges: ['10.0.0.0/8', 'not-a-cidr'] }),
      /spec\.LoadBalancerSourceRanges\[1\]: Invalid value: "not-a-cidr": must be a valid CIDR/,
    );
  });

  test('a bad source range annotation (leading zeros) is refused by the API server, naming it', async () => {
    await assert.rejects(
      lbService(NS, 'bad-annotation-range', {}, { [SOURCE_RANGES]: '10.0.0.0/8, 010.0.0.0/8' }),
      /load-balancer-source-ranges\]: Invalid value: "010\.0\.0\.0\/8": must not have leading 0s/,
    );
  });

  test('3,000 source ranges are served', async () => {
    const ranges = Array.from({ length: 3_000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    await lbService(NS, 'many-ranges', { loadBalancerSourceRanges: ranges });
    assert.equal((await ingressOf(NS, 'many-ranges')).length, 1);
  });

  test('a Service with 100 ports gets one address with every port in status', async () => {
    await lbService(NS, 'many-ports', { ports: Array.from({ length: 100 }, (_, i) => tcp(10_000 + i)) });
    await ingressOf(NS, 'many-ports');
    const svc = await kube.getService(NS, 'many-ports');
    assert.equal(svc.status?.loadBalancer?.ingress?.[0]?.ports?.length, 100);
  });

  test('500 unrelated annotations do not get in the way', async () => {
    const annotations = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`example.com/a${i}`, `v${i}`]));
    await lbService(NS, 'many-annotations', {}, annotations);
    assert.equal((await ingressOf(NS, 'many-annotations')).length, 1);
  });

  test('a Service of another loadBalancerClass is left alone: no finalizer, no event', async () => {
    const created = await lbService(NS, 'other-class', { loadBalancerClass: 'example.com/other' });
    await lbService(NS, 'after-other-class');
    await ingressOf(NS, 'after-other-class');
    const svc = await kube.getService(NS, 'other-class');
    assert.equal(svc.metadata?.resourceVersion, created.metadata?.resourceVersion);
    assert.deepEqual(await kube.events(NS, 'other-class'), []);
  });

  test('a delete racing the first sync leaves nothing behind: its requested address is free again', async () => {
    await lbService(NS, 'racer', {}, { [IPS]: '127.0.100.50' });
    await kube.deleteService(NS, 'racer');
    await waitFor('racer to be gone', async () => !(await kube.serviceExists(NS, 'racer')));
    await lbService(NS, 'after-racer', {}, { [IPS]: '127.0.100.50' });
    assert.deepEqual(await ingressOf(NS, 'after-racer'), ['127.0.100.50']);
  });

  test('in a terminating namespace, where no event can be written, cleanup still completes', async () => {
    await plane().createNamespace('doomed');
    await lbService('doomed', 'web', {}, { [IPS]: '127.0.100.51' });
    await ingressOf('doomed', 'web');
    await plane().core.deleteNamespace({ name: 'doomed' });
    await waitFor(
      'doomed to terminate',
      async () => (await plane().core.readNamespace({ name: 'doomed' })).status?.phase === 'Terminating',
    );
    await kube.deleteService('doomed', 'web');
    await waitFor('doomed/web to be gone', async () => !(await kube.serviceExists('doomed', 'web')));
    await waitFor('the refused event to be logged', () =>
      mainLogs.some((l) => l.includes('could not record event') && l.includes('doomed/web') && l.includes('is being terminated')),
    );
    await lbService(NS, 'after-doomed', {}, { [IPS]: '127.0.100.51' });
    assert.deepEqual(await ingressOf(NS, 'after-doomed'), ['127.0.100.51']);
  });

  test('the control Service kept its address and is synced after all the bad ones', async () => {
    await kube.patchService(NS, 'control', { spec: { ports: [tcp(8080), tcp(8081)] } });
    const svc = await waitFor('control to publish port 8081', async () => {
      const s = await kube.getService(NS, 'control');
      return s.status?.loadBalancer?.ingress?.[0]?.ports?.some((p) => p.port === 8081) ? s : undefined;
    });
    assert.deepEqual(ingressIPs(svc), ['127.0.100.10']);
    assert.deepEqual(svc.metadata?.finalizers, [LB_FINALIZER]);
  });

  test('an exhausted pool: the waiting Service gets the address as soon as it is released, not after its backoff', async () => {
    await lbService(NS, 'holder', { loadBalancerClass: REQUEUE_CLASS });
    assert.deepEqual(await ingressOf(NS, 'holder'), ['127.0.101.1']);
    await lbService(NS, 'waiter', { loadBalancerClass: REQUEUE_CLASS });
    await warning(NS, 'waiter', 'SyncLoadBalancerFailed', 'no free IPv4 address left in "requeue"');
    await waitFor('the waiter to back off', () =>
      waitingLogs.some((l) => l.includes('hostile/waiter') && l.includes('"backoffMs":1800000')),
    );
    await kube.deleteService(NS, 'holder');
    assert.deepEqual(await ingressOf(NS, 'waiter'), ['127.0.101.1']);
    const requeue = waitingLogs.find((l) => l.includes('capacity freed; retrying Services waiting for it'));
    assert.ok(requeue && JSON.parse(requeue).services.includes(`${NS}/waiter`), requeue);
    // What kubectl shows: the last failure happened no later than the success. (Not the resourceVersions: a
    // repeat of the failure waits for its key's write in flight, so its count can be written after the success.)
    const event = (reason: string) => kube.hasEvent(NS, 'waiter', reason);
    const ensured = await waitFor('the EnsuredLoadBalancer event', () => event('EnsuredLoadBalancer'));
    const failed = await event('SyncLoadBalancerFailed');
    assert.ok(Date.parse(String(failed?.lastTimestamp)) <= Date.parse(String(ensured.firstTimestamp)), JSON.stringify([failed, ensured]));
  });

  describe('nodes', () => {
    test('nodes without addresses, with garbage addresses or with 50 addresses: a Warning names the unusable ones', async () => {
      await plane().createNode('node-empty', {});
      await plane().createNode('node-garbage', {
        addresses: [
          { type: 'InternalIP', address: 'not-an-ip' },
          { type: 'InternalIP', address: '999.1.1.1' },
          { type: 'Hostname', address: '127.0.0.9' },
        ],
      });
      await plane().createNode('node-fifty', {
        addresses: Array.from({ length: 50 }, (_, i) => ({ type: i % 2 ? 'ExternalIP' : 'InternalIP', address: `127.0.1.${i + 1}` })),
      });
      const event = await warning(
        NS,
        'control',
        'NodeWithoutAddress',
        'nodes "node-empty", "node-garbage" have no valid InternalIP address',
      );
      assert.doesNotMatch(event.message ?? '', /node-fifty/);
      const svc = await kube.getService(NS, 'control');
      assert.deepEqual(ingressIPs(svc), ['127.0.100.10']);
    });
  });
});
