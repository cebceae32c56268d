// The upstream conformance checklist (shared/reference/upstream-service-controller.md), on a real
// kube-apiserver, plus the behaviours where this controller goes further.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LB_FINALIZER } from '../../src/controller/predicates.ts';
import { ProviderError } from '../../src/providers/provider.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { metricTotal } from '../support/metrics.ts';
import { ingressIPs, startTestController, TestKube, waitFor, type TestController } from '../support/controller.ts';

describe('service load balancer controller on a real API server', () => {
  const plane = useControlPlane();
  let kube: TestKube;
  let ctl: TestController;
  let nsCounter = 0;

  async function namespace(): Promise<string> {
    const name = `t${++nsCounter}-${Date.now().toString(36)}`;
    await plane().createNamespace(name);
    return name;
  }

  const tcp = (port: number, extra: Record<string, unknown> = {}) => ({ name: `tcp-${port}`, port, protocol: 'TCP', ...extra });

  async function lbService(ns: string, name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
    return kube.createService(ns, name, { type: 'LoadBalancer', ports: [tcp(80)], ...spec }, metadata);
  }

  async function waitForIngress(ns: string, name: string) {
    return waitFor(`${ns}/${name} to get an ingress`, async () => {
      const svc = await kube.getService(ns, name);
      return svc.status?.loadBalancer?.ingress?.length ? svc : undefined;
    });
  }

  /** Waits until the controller has processed every key it had queued (all earlier events handled). */
  async function settle(ns: string): Promise<void> {
    const sentinel = `sentinel-${Math.random().toString(36).slice(2, 8)}`;
    await lbService(ns, sentinel);
    await waitForIngress(ns, sentinel);
  }

  before(async () => {
    kube = new TestKube(plane());
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], providerID: 'test://node-a' });
    await plane().createNode('node-b', { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }], providerID: 'test://node-b' });
    ctl = await startTestController(plane(), { controller: { resyncPeriod: '1h' } });
  });

  after(async () => {
    await ctl?.stop();
  });

  describe('which Services are handled (1, 2, 16)', () => {
    test('ClusterIP gets nothing; TCP and UDP LoadBalancers get a load balancer, status and finalizer', async () => {
      const ns = await namespace();
      await kube.createService(ns, 'plain', { type: 'ClusterIP', ports: [tcp(80)] });
      await lbService(ns, 'web');
      await lbService(ns, 'dns', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
      for (const name of ['web', 'dns']) {
        const svc = await waitForIngress(ns, name);
        assert.deepEqual(svc.metadata?.finalizers, [LB_FINALIZER]);
        assert.equal(ingressIPs(svc).length, 1);
      }
      const dns = ctl.provider.callsFor(`${ns}/dns`, 'ensure')[0];
      assert.deepEqual(
        dns?.desired?.listeners.map((l) => l.protocol),
        ['UDP'],
      );
      assert.deepEqual(dns?.targets, ['node-a', 'node-b']);
      const plain = await kube.getService(ns, 'plain');
      assert.equal(ctl.provider.callsFor(`${ns}/plain`).length, 0);
      assert.equal(plain.metadata?.finalizers, undefined);
    });

    test('a loadBalancerClass this controller does not own: no cloud call, no patch', async () => {
      const ns = await namespace();
      const created = await lbService(ns, 'other', { loadBalancerClass: 'example.com/other' });
      await settle(ns);
      const now = await kube.getService(ns, 'other');
      assert.equal(ctl.provider.callsFor(`${ns}/other`).length, 0);
      assert.equal(now.metadata?.resourceVersion, created.metadata?.resourceVersion);
    });

    test('TCP and UDP on the same port number both reach the provider', async () => {
      const ns = await namespace();
      await lbService(ns, 'mixed', {
        ports: [
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
        ],
      });
      const svc = await waitForIngress(ns, 'mixed');
      const listeners = ctl.provider.callsFor(`${ns}/mixed`, 'ensure')[0]?.desired?.listeners ?? [];
      assert.deepEqual(
        listeners.map((l) => `${l.protocol}/${l.port}`),
        ['TCP/53', 'UDP/53'],
      );
      assert.deepEqual(svc.status?.loadBalancer?.ingress?.[0]?.ports?.map((p) => p.protocol).sort(), ['TCP', 'UDP']);
    });
  });

  describe('lifecycle (3, 4, 5, UID change, deletion without our finalizer)', () => {
    test('LoadBalancer -> ClusterIP: load balancer deleted, status cleared, finalizer removed', async () => {
      const ns = await namespace();
      const created = await lbService(ns, 'web');
      await waitForIngress(ns, 'web');
      await kube.patchService(ns, 'web', {
        spec: { type: 'ClusterIP', ports: [{ name: 'tcp-80', port: 80, protocol: 'TCP', nodePort: null }] },
      });
      const svc = await waitFor('cleanup', async () => {
        const s = await kube.getService(ns, 'web');
        return !s.metadata?.finalizers?.length && !s.status?.loadBalancer?.ingress ? s : undefined;
      });
      assert.equal(svc.spec?.type, 'ClusterIP');
      assert.equal(ctl.provider.lbs.has(created.metadata!.uid!), false);
      assert.ok(await waitFor('DeletedLoadBalancer event', () => kube.hasEvent(ns, 'web', 'DeletedLoadBalancer')));
    });

    // Found by the chaos suite: the class changed (through ClusterIP) during an API server outage.
    test('a class change the controller did not see happen: load balancer deleted, finalizer removed', async () => {
      const ns = await namespace();
      await lbService(ns, 'moved');
      await waitForIngress(ns, 'moved');
      await ctl.stop();
      await kube.patchService(ns, 'moved', {
        spec: { type: 'ClusterIP', ports: [{ name: 'tcp-80', port: 80, protocol: 'TCP', nodePort: null }] },
      });
      await kube.patchService(ns, 'moved', { spec: { type: 'LoadBalancer', loadBalancerClass: 'example.com/other' } });
      ctl = await startTestController(plane(), { controller: { resyncPeriod: '1h' } });
      const svc = await waitFor('cleanup', async () => {
        const s = await kube.getService(ns, 'moved');
        return !s.metadata?.finalizers?.includes(LB_FINALIZER) ? s : undefined;
      });
      assert.equal(svc.spec?.loadBalancerClass, 'example.com/other');
      assert.equal(svc.status?.loadBalancer?.ingress, undefined);
      assert.equal(ctl.provider.callsFor(`${ns}/moved`, 'delete').length, 1);
      assert.equal(ctl.provider.callsFor(`${ns}/moved`, 'ensure').length, 0);
    });

    test('deleted Service: load balancer deleted, finalizer removed, object gone', async () => {
      const ns = await namespace();
      const created = await lbService(ns, 'web');
      await waitForIngress(ns, 'web');
      await kube.deleteService(ns, 'web');
      await waitFor('the Service to be gone', async () => !(await kube.serviceExists(ns, 'web')));
      assert.equal(ctl.provider.lbs.has(created.metadata!.uid!), false);
      assert.equal(ctl.provider.callsFor(`${ns}/web`, 'delete').length >= 1, true);
    });

    test('a Service that already has the finalizer gets no second one', async () => {
      const ns = await namespace();
      await lbService(ns, 'pre', {}, { finalizers: [LB_FINALIZER] });
      const svc = await waitForIngress(ns, 'pre');
      assert.deepEqual(svc.metadata?.finalizers, [LB_FINALIZER]);
    });

    test('deleted and re-created under the same name: the old UID is deleted, the new one created', async () => {
      const ns = await namespace();
      const first = await lbService(ns, 'again');
      await waitForIngress(ns, 'again');
      await kube.deleteService(ns, 'again');
      await waitFor('first to be gone', async () => !(await kube.serviceExists(ns, 'again')));
      const second = await lbService(ns, 'again');
      await waitForIngress(ns, 'again');
      assert.notEqual(first.metadata?.uid, second.metadata?.uid);
      assert.equal(ctl.provider.lbs.has(first.metadata!.uid!), false);
      assert.equal(ctl.provider.lbs.has(second.metadata!.uid!), true);
    });

    test('being deleted with our finalizer already gone: the finalizer is never re-added', async () => {
      const ns = await namespace();
      await lbService(ns, 'held', {}, { finalizers: ['example.com/hold'] });
      await waitFor('our finalizer', async () => (await kube.getService(ns, 'held')).metadata?.finalizers?.includes(LB_FINALIZER));
      // Someone strips our finalizer by hand, then deletes; another finalizer keeps the object around.
      await kube.patchService(ns, 'held', { metadata: { finalizers: ['example.com/hold'] } });
      await kube.deleteService(ns, 'held');
      await settle(ns);
      const svc = await kube.getService(ns, 'held');
      assert.ok(svc.metadata?.deletionTimestamp);
      assert.deepEqual(svc.metadata?.finalizers, ['example.com/hold']);
      await kube.patchService(ns, 'held', { metadata: { finalizers: null } });
    });
  });

  describe('nodes (6, 7, 8, 9, 14)', () => {
    let ns: string;
    const key = () => `${ns}/nodes-lb`;
    const lastTargets = () => {
      const calls = ctl.provider.callsFor(key()).filter((c) => c.op === 'ensure' || c.op === 'updateTargets');
      return calls.at(-1)?.targets;
    };
    const updates = () => ctl.provider.callsFor(key(), 'updateTargets').length;

    before(async () => {
      ns = await namespace();
      await lbService(ns, 'nodes-lb');
      await waitForIngress(ns, 'nodes-lb');
    });

    test('node added: the new host is added once', async () => {
      const before = updates();
      await plane().createNode('node-c', { addresses: [{ type: 'InternalIP', address: '10.0.0.3' }], providerID: 'test://node-c' });
      await waitFor('node-c as a target', () => lastTargets()?.includes('node-c'));
      await settle(ns);
      assert.equal(updates() - before, 1);
      assert.deepEqual(lastTargets(), ['node-a', 'node-b', 'node-c']);
    });

    test('NotReady, Ready and an unrelated taint cause no cloud call', async () => {
      const before = ctl.provider.callsFor(key()).length;
      await plane().setNodeReady('node-c', false);
      await plane().patchNode('node-c', { spec: { taints: [{ key: 'example.com/dedicated', value: 'x', effect: 'NoSchedule' }] } });
      await plane().setNodeReady('node-c', true);
      await settle(ns);
      assert.equal(ctl.provider.callsFor(key()).length, before);
    });

    test('exclude label, ToBeDeleted taint and deletion remove the host', async () => {
      await plane().patchNode('node-c', { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } } });
      await waitFor('node-c excluded by label', () => !lastTargets()?.includes('node-c'));
      await plane().patchNode('node-c', { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'false' } } });
      await waitFor('node-c back ("false" includes)', () => lastTargets()?.includes('node-c'));
      await plane().patchNode('node-c', {
        spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1', effect: 'NoSchedule' }] },
      });
      await waitFor('node-c excluded by taint', () => !lastTargets()?.includes('node-c'));
      await plane().patchNode('node-c', { spec: { taints: null } });
      await waitFor('node-c back after the taint', () => lastTargets()?.includes('node-c'));
      await plane().deleteNode('node-c');
      await waitFor('node-c gone', () => !lastTargets()?.includes('node-c'));
      assert.deepEqual(lastTargets(), ['node-a', 'node-b']);
    });

    test('providerID set later updates the hosts', async () => {
      await plane().createNode('node-d', { addresses: [{ type: 'InternalIP', address: '10.0.0.4' }] });
      await waitFor('node-d as a target without providerID', () => lastTargets()?.includes('node-d'));
      const before = updates();
      await plane().patchNode('node-d', { spec: { providerID: 'test://node-d' } });
      await waitFor('an update for the providerID', () => updates() > before);
      const last = ctl.provider.callsFor(key(), 'updateTargets').at(-1);
      assert.equal(last?.desired?.targets.find((t) => t.nodeName === 'node-d')?.providerID, 'test://node-d');
      await plane().deleteNode('node-d');
      await waitFor('node-d gone', () => !lastTargets()?.includes('node-d'));
    });

    test('a label change updates the hosts, with the node labels in the targets', async () => {
      const before = updates();
      await plane().patchNode('node-a', { metadata: { labels: { 'example.com/pool': 'edge' } } });
      await waitFor('an update for the new label', () => updates() > before);
      const labelsOfA = () =>
        ctl.provider
          .callsFor(key(), 'updateTargets')
          .at(-1)
          ?.desired?.targets.find((t) => t.nodeName === 'node-a')?.labels;
      assert.equal(labelsOfA()?.['example.com/pool'], 'edge');
      const removed = updates();
      await plane().patchNode('node-a', { metadata: { labels: { 'example.com/pool': null } } });
      await waitFor('an update for the removed label', () => updates() > removed);
      assert.equal(labelsOfA()?.['example.com/pool'], undefined);
    });

    test('a slow host update racing node changes never leaves a stale node set, and one key is never synced twice at once', async () => {
      ctl.provider.setLatency('updateTargets', 1500);
      await plane().createNode('node-e', { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] });
      await waitFor('a slow update with node-e in flight', () =>
        ctl.provider.callsFor(key(), 'updateTargets').at(-1)?.targets?.includes('node-e'),
      );
      await plane().createNode('node-f', { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] });
      await plane().deleteNode('node-e');
      await waitFor('final node set', () => JSON.stringify(lastTargets()) === JSON.stringify(['node-a', 'node-b', 'node-f']));
      await settle(ns);
      assert.deepEqual(lastTargets(), ['node-a', 'node-b', 'node-f']);
      assert.equal(ctl.provider.maxConcurrentPerService, 1);
      ctl.provider.setLatency('updateTargets', 0);
      await plane().deleteNode('node-f');
      await waitFor('node-f gone', () => JSON.stringify(lastTargets()) === JSON.stringify(['node-a', 'node-b']));
    });

    test('a failed host update is retried as a full ensure, with a Warning event', async () => {
      ctl.provider.failNext('updateTargets', 1, () => new Error('cloud said no'), key());
      await plane().createNode('node-g', { addresses: [{ type: 'InternalIP', address: '10.0.0.7' }] });
      await waitFor('UpdateLoadBalancerFailed event', () => kube.hasEvent(ns, 'nodes-lb', 'UpdateLoadBalancerFailed', 'cloud said no'));
      await waitFor('node-g through a full ensure', () => ctl.provider.callsFor(key(), 'ensure').at(-1)?.targets?.includes('node-g'));
      await plane().deleteNode('node-g');
      await waitFor('node-g gone', () => !lastTargets()?.includes('node-g'));
    });
  });

  describe('status (12, 17) and ports', () => {
    test('an unchanged ingress is not patched; a port change updates ports and keeps ipMode', async () => {
      const ns = await namespace();
      await lbService(ns, 'ports', { ports: [tcp(80), tcp(443)] });
      const first = await waitForIngress(ns, 'ports');
      assert.equal(first.status?.loadBalancer?.ingress?.[0]?.ipMode, 'VIP');
      await kube.patchService(ns, 'ports', { metadata: { labels: { touched: 'yes' } } });
      await settle(ns);
      const labelled = await kube.getService(ns, 'ports');
      // Only our label change bumped the version: no status patch followed it.
      assert.equal(Number(labelled.metadata?.resourceVersion) > Number(first.metadata?.resourceVersion), true);
      assert.deepEqual(labelled.status, first.status);

      await kube.patchService(ns, 'ports', { spec: { ports: [tcp(80), tcp(8443)] } });
      const changed = await waitFor('ports in status', async () => {
        const s = await kube.getService(ns, 'ports');
        const ports = s.status?.loadBalancer?.ingress?.[0]?.ports?.map((p) => p.port);
        return JSON.stringify(ports) === JSON.stringify([80, 8443]) ? s : undefined;
      });
      assert.equal(changed.status?.loadBalancer?.ingress?.[0]?.ipMode, 'VIP');
      assert.deepEqual(ingressIPs(changed), ingressIPs(first));
    });

    test('a provider that leaves ipMode out: the API server stores VIP, and resyncs send no status PATCH', async () => {
      const ns = await namespace();
      const bare = await startTestController(
        plane(),
        { loadBalancerClass: 'example.com/no-ip-mode', controller: { resyncPeriod: '500ms' } },
        { ipMode: null },
      );
      try {
        await lbService(ns, 'bare', { loadBalancerClass: 'example.com/no-ip-mode' });
        const svc = await waitForIngress(ns, 'bare');
        assert.equal(svc.status?.loadBalancer?.ingress?.[0]?.ipMode, 'VIP');
        const url = `${bare.running.metricsUrl}/metrics`;
        const metrics = async () => ({
          syncs: await metricTotal(url, 'service_lb_sync_duration_seconds_count'),
          statusPatches: await metricTotal(url, 'service_lb_kube_api_requests_total', { verb: 'PATCH', resource: 'services/status' }),
        });
        const before = await metrics();
        // Such a PATCH stores nothing new, so it shows in the controller's requests, not in the resourceVersion.
        await waitFor('three resyncs', async () => (await metrics()).syncs >= before.syncs + 3);
        assert.equal((await metrics()).statusPatches, before.statusPatches);
        assert.equal(ctl.provider.callsFor(`${ns}/bare`).length, 0, 'the other controller left it alone');
      } finally {
        await bare.stop();
      }
    });

    test('allocateLoadBalancerNodePorts: false: the controller allocates a NodePort before asking the provider', async () => {
      const ns = await namespace();
      await lbService(ns, 'no-np', {
        allocateLoadBalancerNodePorts: false,
        ports: [tcp(80), { name: 'udp-80', port: 80, protocol: 'UDP' }, tcp(81)],
      });
      const svc = await waitForIngress(ns, 'no-np');
      const nodePorts = svc.spec?.ports?.map((p) => p.nodePort) ?? [];
      assert.equal(
        nodePorts.every((p) => p !== undefined && p >= 30000 && p <= 32767),
        true,
      );
      assert.equal(nodePorts[0], nodePorts[1], 'TCP and UDP on one port number share the NodePort');
      const ensure = ctl.provider.callsFor(`${ns}/no-np`, 'ensure')[0];
      assert.equal(
        ensure?.desired?.listeners.every((l) => l.nodePort > 0),
        true,
      );
    });
  });

  describe('failures and bad input (10, 15, provider rejections)', () => {
    test('a Service the provider rejects gets a Warning event and backs off; others are unaffected', async () => {
      const ns = await namespace();
      ctl.provider.reject(`${ns}/bad`, 'protocol SCTP is not supported');
      await lbService(ns, 'bad');
      await lbService(ns, 'good');
      await waitForIngress(ns, 'good');
      const event = await waitFor('SyncLoadBalancerFailed', () =>
        kube.hasEvent(ns, 'bad', 'SyncLoadBalancerFailed', 'protocol SCTP is not supported'),
      );
      assert.equal(event.type, 'Warning');
      assert.equal(event.message, 'Error syncing load balancer: protocol SCTP is not supported');
      await waitFor('a retry with backoff', () => ctl.provider.callsFor(`${ns}/bad`, 'ensure').length >= 2);
      const bad = await kube.getService(ns, 'bad');
      assert.equal(bad.status?.loadBalancer?.ingress, undefined);
    });

    test('transient provider failures back off and converge', async () => {
      const ns = await namespace();
      ctl.provider.failNext('ensure', 3, () => new ProviderError('throttled', { retryable: true }), `${ns}/flaky`);
      await lbService(ns, 'flaky');
      await waitForIngress(ns, 'flaky');
      assert.equal(ctl.provider.callsFor(`${ns}/flaky`, 'ensure').length, 4);
    });

    test('a Service deleted in the middle of its sync is not an error, and its load balancer does not leak', async () => {
      const ns = await namespace();
      ctl.provider.setLatency('ensure', 2000);
      const created = await lbService(ns, 'vanishing');
      const uid = created.metadata!.uid!;
      try {
        await waitFor('the ensure to be in flight', () => ctl.provider.callsFor(`${ns}/vanishing`, 'ensure').length > 0);
        await waitFor('our finalizer', async () => (await kube.getService(ns, 'vanishing')).metadata?.finalizers?.length);
        await kube.patchService(ns, 'vanishing', { metadata: { finalizers: null } });
        await kube.deleteService(ns, 'vanishing');
      } finally {
        ctl.provider.setLatency('ensure', 0);
      }
      await waitFor('the load balancer to be deleted', () => !ctl.provider.lbs.has(uid));
      assert.equal(await kube.hasEvent(ns, 'vanishing', 'SyncLoadBalancerFailed'), undefined);
    });
  });

  describe('garbage collection and drift repair', () => {
    test('an owned load balancer whose Service is gone is collected', async () => {
      const ns = await namespace();
      await lbService(ns, 'kept');
      const kept = await waitForIngress(ns, 'kept');
      const orphan = {
        clusterName: 'kubernetes',
        namespace: ns,
        name: 'ghost',
        uid: '00000000-0000-0000-0000-000000000001',
        lbName: 'a0000',
      };
      ctl.provider.lbs.set(orphan.uid, { identity: orphan, desired: undefined as never, ingress: [] });
      await ctl.running.controller.collectGarbage();
      assert.equal(ctl.provider.lbs.has(orphan.uid), false);
      assert.equal(ctl.provider.lbs.has(kept.metadata!.uid!), true);
    });

    test('with a short resync period, a load balancer deleted behind our back is re-created', async () => {
      const plane_ = plane();
      const drift = await startTestController(plane_, { loadBalancerClass: 'example.com/drift', controller: { resyncPeriod: '1s' } });
      try {
        const ns = await namespace();
        const svc = await lbService(ns, 'drifty', { loadBalancerClass: 'example.com/drift' });
        await waitForIngress(ns, 'drifty');
        const uid = svc.metadata!.uid!;
        assert.equal(drift.provider.dropBehindTheBack(uid), true);
        await waitFor('the load balancer to be back', () => drift.provider.lbs.has(uid));
        assert.equal(ctl.provider.callsFor(`${ns}/drifty`).length, 0, 'the default-class controller left it alone');

        // The API server clears the class with the type: the recorded class still says whose cleanup it is.
        await kube.patchService(ns, 'drifty', {
          spec: { type: 'ClusterIP', ports: [{ name: 'tcp-80', port: 80, protocol: 'TCP', nodePort: null }] },
        });
        const cleaned = await waitFor('the classed controller to clean up', async () => {
          const s = await kube.getService(ns, 'drifty');
          return !s.metadata?.finalizers?.length ? s : undefined;
        });
        assert.equal(cleaned.spec?.loadBalancerClass, undefined);
        assert.equal(drift.provider.lbs.has(uid), false);
        assert.equal(ctl.provider.callsFor(`${ns}/drifty`).length, 0, 'still nothing from the default-class controller');
      } finally {
        await drift.stop();
      }
    });
  });
});
