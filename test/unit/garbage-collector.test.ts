// The garbage collector: which owned load balancers are orphans, and deleting them (or only logging, in dry run).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { collectGarbage, isOrphan } from '../../src/controller/garbage-collector.ts';
import { LB_FINALIZER } from '../../src/controller/predicates.ts';
import type { ObjectCache } from '../../src/kube/informer.ts';
import { defaultLoadBalancerName } from '../../src/providers/provider.ts';
import type {
  DesiredLoadBalancer,
  IngressStatus,
  LoadBalancerIdentity,
  LoadBalancerProvider,
  ObservedLoadBalancer,
  OwnedLoadBalancer,
} from '../../src/providers/provider.ts';

const CLUSTER = 'prod';

function identity(namespace: string, name: string, uid: string, clusterName = CLUSTER): LoadBalancerIdentity {
  return { clusterName, namespace, name, uid, lbName: defaultLoadBalancerName(uid) };
}

function service(namespace: string, name: string, uid: string, spec: V1Service['spec'] = {}, finalizers?: string[]): V1Service {
  return { metadata: { namespace, name, uid, ...(finalizers ? { finalizers } : {}) }, spec: { type: 'LoadBalancer', ...spec } };
}

class MapCache implements ObjectCache<V1Service> {
  private readonly byKey = new Map<string, V1Service>();

  constructor(services: V1Service[]) {
    for (const svc of services) this.byKey.set(`${svc.metadata!.namespace}/${svc.metadata!.name}`, svc);
  }

  get(name: string, namespace?: string): V1Service | undefined {
    return this.byKey.get(`${namespace}/${name}`);
  }

  list(): readonly V1Service[] {
    return [...this.byKey.values()];
  }
}

/** Holds owned load balancers in memory and records deletes; `failDelete` names lbNames whose delete throws. */
class MemoryProvider implements LoadBalancerProvider {
  readonly name = 'memory';
  readonly deleted: string[] = [];
  readonly deleteAttempts: string[] = [];
  private readonly owned: LoadBalancerIdentity[];
  private readonly failDelete: Set<string>;

  constructor(owned: LoadBalancerIdentity[], failDelete: string[] = []) {
    this.owned = [...owned];
    this.failDelete = new Set(failDelete);
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async get(): Promise<ObservedLoadBalancer | undefined> {
    return undefined;
  }
  async ensure(_desired: DesiredLoadBalancer): Promise<IngressStatus[]> {
    throw new Error('the garbage collector never ensures');
  }
  async updateTargets(_desired: DesiredLoadBalancer): Promise<void> {
    throw new Error('the garbage collector never updates targets');
  }
  async delete(id: LoadBalancerIdentity): Promise<void> {
    this.deleteAttempts.push(id.lbName);
    if (this.failDelete.has(id.lbName)) throw new Error(`cloud refused to delete ${id.lbName}`);
    const i = this.owned.findIndex((o) => o.lbName === id.lbName);
    if (i >= 0) this.owned.splice(i, 1);
    this.deleted.push(id.lbName);
  }
  async listOwned(): Promise<OwnedLoadBalancer[]> {
    return this.owned.map((id) => ({ identity: id }));
  }
  names(): string[] {
    return this.owned.map((o) => o.lbName);
  }
}

/** A logger whose output is kept, to check what a dry run reports. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

const silent = pino({ level: 'silent' });

const live = identity('shop', 'web', 'uid-live');
const gone = identity('shop', 'deleted', 'uid-gone');
const recreated = identity('shop', 'api', 'uid-old');
const retyped = identity('shop', 'now-clusterip', 'uid-retyped');
const cleaningUp = identity('shop', 'cleanup-pending', 'uid-cleanup');
const otherCluster = identity('shop', 'deleted', 'uid-gone', 'staging');

const services = new MapCache([
  service('shop', 'web', 'uid-live'),
  service('shop', 'api', 'uid-new'),
  service('shop', 'now-clusterip', 'uid-retyped', { type: 'ClusterIP' }),
  service('shop', 'cleanup-pending', 'uid-cleanup', { type: 'ClusterIP' }, [LB_FINALIZER]),
]);

test('isOrphan: no Service, or a Service with another UID, or one that no longer wants a load balancer', () => {
  assert.equal(isOrphan(live, services, null), false, 'live Service');
  assert.equal(isOrphan(gone, services, null), true, 'Service gone');
  assert.equal(isOrphan(recreated, services, null), true, 'same name, new UID');
  assert.equal(isOrphan(retyped, services, null), true, 'ClusterIP without finalizer');
  assert.equal(isOrphan(cleaningUp, services, null), false, 'finalizer still set: the reconciler cleans up');
  assert.equal(isOrphan(identity('other', 'web', 'uid-live'), services, null), true, 'same name in another namespace');
});

test('isOrphan: an identity known only by its UID is matched by UID', () => {
  assert.equal(isOrphan(identity('', '', 'uid-live'), services, null), false, 'a live Service has that UID');
  assert.equal(isOrphan(identity('', '', 'uid-gone'), services, null), true, 'no Service has that UID');
  assert.equal(isOrphan(identity('', '', 'uid-retyped'), services, null), true, 'that Service no longer wants one');
});

test('isOrphan: an identity known only by the default name is matched through the UID it came from', () => {
  const uid = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
  const cache = new MapCache([service('shop', 'internal', uid)]);
  const byName = (lbName: string): LoadBalancerIdentity => ({ clusterName: CLUSTER, namespace: '', name: '', uid: '', lbName });
  assert.equal(isOrphan(byName(defaultLoadBalancerName(uid)), cache, null), false, 'the live Service claims its frontend');
  assert.equal(
    isOrphan(byName(defaultLoadBalancerName('7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f')), cache, null),
    true,
    'no Service claims it',
  );
});

test('isOrphan is class-aware: a Service moved to another class keeps no load balancer of ours', () => {
  const classed = new MapCache([service('shop', 'web', 'uid-live', { loadBalancerClass: 'example.com/mine' })]);
  assert.equal(isOrphan(live, classed, 'example.com/mine'), false);
  assert.equal(isOrphan(live, classed, null), true);
});

test('collectGarbage deletes orphans of this cluster, keeps live ones and ignores other clusters', async () => {
  const provider = new MemoryProvider([live, gone, recreated, retyped, cleaningUp, otherCluster]);
  const found = await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: null, dryRun: false, provider, services, logger: silent });
  assert.deepEqual(found, [gone, recreated, retyped]);
  assert.deepEqual(provider.deleted, [gone.lbName, recreated.lbName, retyped.lbName]);
  assert.deepEqual(provider.names(), [live.lbName, cleaningUp.lbName, otherCluster.lbName]);
});

test('collectGarbage in dry run deletes nothing and logs each orphan', async () => {
  const provider = new MemoryProvider([live, gone, recreated]);
  const { logger, lines } = capturingLogger();
  const found = await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: null, dryRun: true, provider, services, logger });
  assert.deepEqual(found, [gone, recreated]);
  assert.deepEqual(provider.deleteAttempts, []);
  assert.deepEqual(provider.names(), [live.lbName, gone.lbName, recreated.lbName]);
  assert.deepEqual(
    lines.map((l) => [l.service, l.uid, l.lbName]),
    [
      ['shop/deleted', 'uid-gone', gone.lbName],
      ['shop/api', 'uid-old', recreated.lbName],
    ],
  );
  assert.ok(lines.every((l) => /dry run/.test(String(l.msg))));
});

test('collectGarbage goes on after a failing delete, and the failure is retried on the next pass', async () => {
  const provider = new MemoryProvider([gone, recreated, retyped], [recreated.lbName]);
  const found = await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: null, dryRun: false, provider, services, logger: silent });
  assert.deepEqual(found, [gone, recreated, retyped]);
  assert.deepEqual(provider.deleteAttempts, [gone.lbName, recreated.lbName, retyped.lbName]);
  assert.deepEqual(provider.names(), [recreated.lbName]);

  const again = await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: null, dryRun: false, provider, services, logger: silent });
  assert.deepEqual(again, [recreated]);
});

test('collectGarbage with nothing owned does nothing', async () => {
  const provider = new MemoryProvider([]);
  assert.deepEqual(
    await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: null, dryRun: false, provider, services, logger: silent }),
    [],
  );
  assert.deepEqual(provider.deleteAttempts, []);
});

test('collectGarbage for a classed controller: unclassed Services do not keep its load balancers alive', async () => {
  const cls = 'example.com/mine';
  const mine = identity('shop', 'mine', 'uid-mine');
  const unclassed = identity('shop', 'web', 'uid-live');
  const cache = new MapCache([service('shop', 'mine', 'uid-mine', { loadBalancerClass: cls }), service('shop', 'web', 'uid-live')]);
  const provider = new MemoryProvider([mine, unclassed]);
  await collectGarbage({ clusterName: CLUSTER, loadBalancerClass: cls, dryRun: false, provider, services: cache, logger: silent });
  assert.deepEqual(provider.names(), [mine.lbName]);
});
