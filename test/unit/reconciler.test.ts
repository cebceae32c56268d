// The reconciler's decisions, with a fake ServiceWriter and a recording provider: what is called, in which order, with which events.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AppliedState } from '../../src/controller/applied-state.ts';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { LB_FINALIZER } from '../../src/controller/predicates.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import type { ServiceWriter } from '../../src/controller/service-writer.ts';
import type { ObjectCache } from '../../src/kube/informer.ts';
import { ProviderError, type IngressStatus } from '../../src/providers/provider.ts';
import { RecordingProvider } from '../fakes/recording-provider.ts';

const KEY = 'shop/web';

class MapCache<T extends { metadata?: { namespace?: string; name?: string } }> implements ObjectCache<T> {
  readonly byKey = new Map<string, T>();

  put(obj: T): void {
    this.byKey.set(`${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj);
  }

  remove(namespace: string, name: string): void {
    this.byKey.delete(`${namespace}/${name}`);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.byKey.get(`${namespace ?? ''}/${name}`);
  }

  list(): readonly T[] {
    return [...this.byKey.values()];
  }
}

/** Applies each write to the cached Service, as the API server and then the informer would. */
class FakeWriter implements ServiceWriter {
  private readonly services: MapCache<V1Service>;
  private readonly log: string[];
  private version = 100;

  constructor(services: MapCache<V1Service>, log: string[]) {
    this.services = services;
    this.log = log;
  }

  private store(svc: V1Service): V1Service {
    const next = structuredClone(svc);
    next.metadata!.resourceVersion = String(++this.version);
    this.services.put(next);
    return next;
  }

  async assignNodePorts(svc: V1Service): Promise<V1Service> {
    this.log.push('writer:assignNodePorts');
    let port = 31000;
    return this.store({ ...svc, spec: { ...svc.spec, ports: svc.spec!.ports!.map((p) => (p.nodePort ? p : { ...p, nodePort: port++ })) } });
  }

  async addFinalizer(svc: V1Service): Promise<V1Service> {
    this.log.push('writer:addFinalizer');
    return this.store({ ...svc, metadata: { ...svc.metadata, finalizers: [...(svc.metadata?.finalizers ?? []), LB_FINALIZER] } });
  }

  async removeFinalizer(svc: V1Service): Promise<void> {
    this.log.push('writer:removeFinalizer');
    this.store({ ...svc, metadata: { ...svc.metadata, finalizers: svc.metadata!.finalizers!.filter((f) => f !== LB_FINALIZER) } });
  }

  async patchStatus(svc: V1Service, ingress: readonly IngressStatus[]): Promise<V1Service | undefined> {
    this.log.push(ingress.length ? 'writer:patchStatus' : 'writer:clearStatus');
    return this.store({ ...svc, status: { loadBalancer: ingress.length ? { ingress: structuredClone([...ingress]) } : {} } });
  }
}

let services: MapCache<V1Service>;
let nodes: MapCache<V1Node>;
let provider: RecordingProvider;
let applied: AppliedState;
let log: string[];
let events: { type: string; reason: string; message: string }[];
let reconciler: Reconciler;

beforeEach(() => {
  services = new MapCache();
  nodes = new MapCache();
  provider = new RecordingProvider();
  applied = new AppliedState();
  log = [];
  events = [];
  // A fault that never fires: it only puts provider calls into the one ordered log.
  provider.inject((call) => void log.push(`provider:${call.op}`));
  reconciler = new Reconciler({
    clusterName: 'test',
    loadBalancerClass: null,
    services,
    nodes,
    applied,
    writer: new FakeWriter(services, log),
    provider,
    events: {
      record: async (_svc, type, reason, message) => {
        events.push({ type, reason, message });
      },
    },
    metrics: createControllerMetrics(new Registry()),
    logger: pino({ level: 'silent' }),
  });
  nodes.put(node('n1'));
});

function node(name: string): V1Node {
  return { metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: `10.0.0.${name.slice(1)}` }] } };
}

function service(mutate: (s: V1Service) => void = () => {}, uid = 'uid-1'): V1Service {
  const s: V1Service = {
    metadata: { namespace: 'shop', name: 'web', uid, resourceVersion: '1' },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] },
  };
  mutate(s);
  services.put(s);
  return s;
}

/** The Service as the cache has it now (after the fake writer's updates). */
function cached(): V1Service {
  return services.get('web', 'shop')!;
}

/** A Service that was reconciled once; the log and events start empty again. */
async function provisioned(): Promise<void> {
  service();
  await reconciler.sync(KEY);
  log.length = 0;
  events.length = 0;
}

const reasons = () => events.map((e) => e.reason);

test('a new Service: NodePorts (when 0), then the finalizer, before ensure; then status', async () => {
  service((s) => (s.spec!.ports![0]!.nodePort = 0));
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['writer:assignNodePorts', 'writer:addFinalizer', 'provider:ensure', 'writer:patchStatus']);
  assert.deepEqual(reasons(), ['EnsuringLoadBalancer', 'EnsuredLoadBalancer']);
  assert.equal(provider.callsFor(KEY, 'ensure')[0]?.desired?.listeners[0]?.nodePort, 31000);
  assert.equal(cached().status?.loadBalancer?.ingress?.length, 1);
});

test('a Service with its NodePorts and finalizer: no write before ensure', async () => {
  service((s) => (s.metadata!.finalizers = [LB_FINALIZER]));
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:ensure', 'writer:patchStatus']);
});

test('an unchanged resync: no provider call, no write, no event', async () => {
  await provisioned();
  await reconciler.sync(KEY);
  assert.deepEqual(log, []);
  assert.deepEqual(events, []);
});

test('only the targets changed: updateTargets, UpdatedLoadBalancer, no status patch', async () => {
  await provisioned();
  nodes.put(node('n2'));
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:updateTargets']);
  assert.deepEqual(reasons(), ['UpdatedLoadBalancer']);
  assert.deepEqual(provider.callsFor(KEY, 'updateTargets')[0]?.targets, ['n1', 'n2']);
});

test('a provider that says the targets did not change (false): no UpdatedLoadBalancer, and the change is still applied', async () => {
  await provisioned();
  provider.updateTargetsResult = false;
  nodes.put({ metadata: { name: 'n2' }, status: { addresses: [{ type: 'ExternalIP', address: '203.0.113.2' }] } });
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:updateTargets']);
  assert.deepEqual(events, []);
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:updateTargets'], 'the new target set is remembered');

  provider.updateTargetsResult = true;
  nodes.put(node('n3'));
  await reconciler.sync(KEY);
  assert.deepEqual(reasons(), ['UpdatedLoadBalancer']);
});

test('a node without any address is no target change: no provider call, no event', async () => {
  await provisioned();
  nodes.put({ metadata: { name: 'bare' }, status: {} });
  await reconciler.sync(KEY);
  assert.deepEqual(log, []);
  assert.deepEqual(events, []);
  // Once it has an address, it is a change like any other.
  nodes.put(node('n7'));
  nodes.put({ metadata: { name: 'bare' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.99' }] } });
  await reconciler.sync(KEY);
  assert.deepEqual(provider.callsFor(KEY, 'updateTargets').at(-1)?.targets, ['bare', 'n1', 'n7']);
});

test('stale after markAllStale: a full ensure without Normal events', async () => {
  await provisioned();
  applied.markAllStale();
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:ensure']);
  assert.deepEqual(events, []);
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:ensure'], 'stale only once');
});

test('a failed ensure: SyncLoadBalancerFailed, the next sync ensures again, and a vanished Service is still deleted', async () => {
  service();
  provider.failNext('ensure', 1, () => new ProviderError('cloud says no', { retryable: true }));
  await assert.rejects(reconciler.sync(KEY), /cloud says no/);
  assert.deepEqual(events.at(-1), {
    type: 'Warning',
    reason: 'SyncLoadBalancerFailed',
    message: 'Error syncing load balancer: cloud says no',
  });
  assert.equal(applied.has(KEY), true, 'the identity is kept for cleanup');

  await reconciler.sync(KEY);
  assert.equal(provider.callsFor(KEY, 'ensure').length, 2, 'the spec did not change, yet the next sync is a full ensure');

  provider.failNext('ensure', 1, () => new ProviderError('cloud says no', { retryable: true }));
  applied.markAllStale();
  await assert.rejects(reconciler.sync(KEY));
  services.remove('shop', 'web');
  log.length = 0;
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:delete']);
  assert.equal(provider.callsFor(KEY, 'delete')[0]?.uid, 'uid-1');
  assert.equal(applied.has(KEY), false);
});

test('a failed host update: UpdateLoadBalancerFailed, then a full ensure', async () => {
  await provisioned();
  nodes.put(node('n2'));
  provider.failNext('updateTargets', 1, () => new ProviderError('throttled', { retryable: true }));
  await assert.rejects(reconciler.sync(KEY), /throttled/);
  assert.equal(events.at(-1)?.reason, 'UpdateLoadBalancerFailed');
  assert.equal(events.at(-1)?.message, 'Error updating load balancer with new hosts [n1, n2]: throttled');
  log.length = 0;
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:ensure']);
});

test('type changed away from LoadBalancer: delete, then status cleared, then finalizer removed', async () => {
  await provisioned();
  services.put({ ...cached(), spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:get', 'provider:delete', 'writer:clearStatus', 'writer:removeFinalizer']);
  assert.deepEqual(reasons(), ['DeletingLoadBalancer', 'DeletedLoadBalancer']);
  assert.equal(applied.has(KEY), false);
  assert.equal(cached().metadata?.finalizers?.length, 0);
  assert.equal(provider.maxConcurrentPerService, 1, 'get ends before delete starts');
});

test('being deleted with our finalizer: delete and finalizer removal, no status write', async () => {
  await provisioned();
  services.put({ ...cached(), metadata: { ...cached().metadata, deletionTimestamp: new Date() } });
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:get', 'provider:delete', 'writer:removeFinalizer']);
});

test('cleanup when the provider has nothing: delete is still called, but nothing is announced', async () => {
  service((s) => {
    s.metadata!.finalizers = [LB_FINALIZER];
    s.metadata!.deletionTimestamp = new Date();
  });
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:get', 'provider:delete', 'writer:removeFinalizer']);
  assert.deepEqual(events, []);
});

test('cleanup when the provider cannot tell whether a load balancer exists: SyncLoadBalancerFailed, finalizer kept', async () => {
  await provisioned();
  services.put({ ...cached(), metadata: { ...cached().metadata, deletionTimestamp: new Date() } });
  provider.failNext('get', 1, () => new ProviderError('timeout', { retryable: true }));
  await assert.rejects(reconciler.sync(KEY), /timeout/);
  assert.deepEqual(log, ['provider:get']);
  assert.equal(events.at(-1)?.message, 'Error syncing load balancer: failed to check if load balancer exists before cleanup: timeout');
});

test('being deleted without our finalizer: nothing at all', async () => {
  service((s) => (s.metadata!.deletionTimestamp = new Date()));
  await reconciler.sync(KEY);
  assert.deepEqual(log, []);
  assert.deepEqual(events, []);
});

test('re-created under a new UID: the old identity is deleted, the new one ensured', async () => {
  await provisioned();
  service(() => {}, 'uid-2');
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:delete', 'writer:addFinalizer', 'provider:ensure', 'writer:patchStatus']);
  assert.equal(provider.callsFor(KEY, 'delete')[0]?.uid, 'uid-1');
  assert.equal(provider.callsFor(KEY, 'ensure').at(-1)?.uid, 'uid-2');
});

test('the ingress the Service already shows is not patched again', async () => {
  service((s) => {
    s.metadata!.finalizers = [LB_FINALIZER];
    s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'VIP', ports: [{ port: 80, protocol: 'TCP' }] }] } };
  });
  await reconciler.sync(KEY);
  assert.deepEqual(log, ['provider:ensure']);
});

test('a bad source range: SyncLoadBalancerFailed naming it, a non-retryable error, and no provider call; others keep working', async () => {
  service((s) => (s.spec!.loadBalancerSourceRanges = ['10.0.0.0/8', ' 192.0.2.300/32 ', 'nope']));
  services.put({
    metadata: { namespace: 'shop', name: 'other', uid: 'uid-3' },
    spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP', nodePort: 30081 }] },
  });
  const err = await reconciler.sync(KEY).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProviderError);
  assert.equal(err.retryable, false);
  assert.deepEqual(events.at(-1), {
    type: 'Warning',
    reason: 'SyncLoadBalancerFailed',
    message: 'Error syncing load balancer: loadBalancerSourceRanges: "192.0.2.300/32", "nope" are not CIDRs',
  });
  assert.equal(provider.callsFor(KEY, 'ensure').length, 0);

  await reconciler.sync('shop/other');
  assert.equal(provider.callsFor('shop/other', 'ensure').length, 1);
});

test('source ranges reach the provider trimmed, canonical and without duplicates', async () => {
  service(
    (s) =>
      (s.metadata!.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': ' 10.0.0.0/8,, FD00:0::/64 ,10.0.0.0/8' }),
  );
  await reconciler.sync(KEY);
  assert.deepEqual(provider.callsFor(KEY, 'ensure')[0]?.desired?.sourceRanges, ['10.0.0.0/8', 'fd00::/64']);
});
