// The controller as deployed: with exactly the RBAC in deploy/ (a ServiceAccount token), two replicas
// with leader election, one of which crashes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { useControlPlane } from '../harness/node-test.ts';
import { ControllerProcess } from '../support/controller-process-client.ts';
import { TestKube, waitFor } from '../support/controller.ts';
import { shippedRbacKubeconfig } from '../support/shipped-rbac.ts';

describe('deployed with the manifests RBAC, two replicas', () => {
  const replicas: ControllerProcess[] = [];
  let kube: TestKube;
  // Registered before the control plane's own hook, so the replicas stop while it is still up.
  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
  });
  const plane = useControlPlane();

  before(async () => {
    const kubeconfigPath = await shippedRbacKubeconfig(plane());
    kube = new TestKube(plane());
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] });
    for (let i = 0; i < 2; i++) {
      const replica = new ControllerProcess({
        kubeconfig: kubeconfigPath,
        config: {
          controller: { backoff: { initial: '200ms', max: '2s' } },
          // Short timings keep the test quick; the semantics are client-go's.
          leaderElection: {
            enabled: true,
            namespace: 'kube-system',
            leaseName: 'service-lb-controller',
            leaseDuration: '4s',
            renewDeadline: '3s',
            retryPeriod: '500ms',
          },
          logging: { level: (process.env.SLC_TEST_LOG_LEVEL ?? 'warn') as 'warn' },
        },
      });
      replicas.push(replica);
      await replica.whenReady();
    }
  });

  async function leaderAndFollower(): Promise<[ControllerProcess, ControllerProcess]> {
    const [a, b] = replicas as [ControllerProcess, ControllerProcess];
    const sa = await a.stats();
    return (sa.byOp.ensure ?? 0) > 0 ? [a, b] : [b, a];
  }

  test('the ServiceAccount can do the whole job: finalizer, NodePorts, status, events, cleanup', async () => {
    await kube.createService('default', 'web', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] });
    await kube.createService('default', 'no-np', {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ports: [{ port: 81, protocol: 'TCP' }],
    });
    for (const name of ['web', 'no-np']) {
      const svc = await waitFor(`${name} to get an ingress`, async () => {
        const s = await kube.getService('default', name);
        return s.status?.loadBalancer?.ingress?.length ? s : undefined;
      });
      assert.ok(svc.spec?.ports?.[0]?.nodePort);
      await waitFor(`${name}: EnsuredLoadBalancer event`, () => kube.hasEvent('default', name, 'EnsuredLoadBalancer'));
    }
    await kube.deleteService('default', 'no-np');
    await waitFor('no-np to be gone', async () => !(await kube.serviceExists('default', 'no-np')));
  });

  test('only the leader reconciles; after it crashes the other takes over', async () => {
    const [leader, follower] = await leaderAndFollower();
    const web = await kube.getService('default', 'web');
    assert.deepEqual((await leader.stats()).lbs, [web.metadata!.uid]);
    assert.deepEqual((await follower.stats()).byOp, {});

    await leader.kill();
    const late = await kube.createService('default', 'late', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] });
    await waitFor(
      'the new leader to serve a new Service',
      async () => (await kube.getService('default', 'late')).status?.loadBalancer?.ingress?.length,
      60_000,
    );
    const taken = await follower.stats();
    assert.deepEqual(taken.lbs.sort(), [web.metadata!.uid!, late.metadata!.uid!].sort());
  });
});
