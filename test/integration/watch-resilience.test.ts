// Informers that never give up: connections cut, the API server unreachable, history compacted (410
// Gone), a watch gone silent, a request swallowed. Nothing that happened meanwhile is missed.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { LB_FINALIZER } from '../../src/controller/predicates.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { startTestController, TestKube, waitFor, type TestController } from '../support/controller.ts';
import { metricTotal } from '../support/metrics.ts';
import { TcpRelay } from '../support/tcp-relay.ts';

describe('watch resilience', () => {
  let relay: TcpRelay;
  let ctl: TestController;
  let kube: TestKube;
  let kubeconfig: string;
  after(async () => {
    await ctl?.stop();
    await relay?.close();
  });
  // No watch cache and compaction every second: a watch resumed after an outage gets 410 Gone.
  const plane = useControlPlane({ extraApiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'] });

  before(async () => {
    kube = new TestKube(plane());
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] });
    relay = new TcpRelay(Number(new URL(plane().server).port));
    const port = await relay.listen();
    kubeconfig = join(plane().dir, 'relayed.kubeconfig');
    writeFileSync(kubeconfig, readFileSync(plane().kubeconfigPath, 'utf8').replace(plane().server, `https://127.0.0.1:${port}`));
    ctl = await startTestController(plane(), { controller: { resyncPeriod: '1h' } }, {}, kubeconfig);
  });

  /** LIST requests for Services so far: one per (re-)list, watches aside. */
  const serviceLists = () =>
    metricTotal(`${ctl.running.metricsUrl}/metrics`, 'service_lb_kube_api_requests_total', {
      verb: 'GET',
      resource: 'services',
      code: '200',
    });

  const ingressOf = async (name: string) => (await kube.getService('default', name)).status?.loadBalancer?.ingress?.length;

  test('after an outage long enough for 410 Gone, changes made meanwhile are all seen', async () => {
    const doomed = await kube.createService('default', 'doomed', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] });
    await waitFor('doomed to get an ingress', () => ingressOf('doomed'));
    const listsBefore = await serviceLists();

    relay.cut(true);
    // While the controller is cut off: a new Service appears, and one vanishes without our cleanup.
    const born = await kube.createService('default', 'born', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] });
    await kube.patchService('default', 'doomed', { metadata: { finalizers: null } });
    await kube.deleteService('default', 'doomed');
    for (let i = 0; i < 5; i++) await kube.patchService('default', 'born', { metadata: { labels: { churn: String(i) } } });
    await new Promise((resolve) => setTimeout(resolve, 3000)); // let compaction pass the informers' resourceVersion
    relay.restore();

    await waitFor('born to get an ingress', () => ingressOf('born'), 60_000);
    await waitFor('the vanished Service to lose its load balancer', () => !ctl.provider.lbs.has(doomed.metadata!.uid!), 60_000);
    assert.equal(ctl.provider.lbs.has(born.metadata!.uid!), true);
    assert.ok((await serviceLists()) > listsBefore, 'the informer re-listed after 410 Gone');
    assert.equal(doomed.metadata?.finalizers?.includes(LB_FINALIZER) ?? false, false);
  });

  // The cause of this suite's old flake: a sync request in flight when the relay froze timed out, and
  // undici kept the HTTP/2 session that then died of a TLS error, so every later request failed at once.
  test('a request swallowed by a frozen connection does not break the requests after it', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const client = new KubeClient(kc, () => {}, { requestTimeoutMs: 2_000 });
    try {
      await client.request('GET', '/api/v1/nodes');
      relay.freeze();
      await assert.rejects(client.request('GET', '/api/v1/nodes'), /aborted due to timeout/);
      relay.restore();
      for (let i = 0; i < 3; i++) await client.request('GET', '/api/v1/nodes');
    } finally {
      relay.restore();
      await client.close();
    }
  });

  test('a watch that goes silent is restarted', async () => {
    relay.freeze();
    const quiet = await kube.createService('default', 'quiet', { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // Frozen, not closed: only an inactivity timeout on the watch can notice.
    relay.restore();
    await waitFor('quiet to get an ingress after the watch is re-established', () => ingressOf('quiet'), 90_000);
    assert.equal(ctl.provider.lbs.has(quiet.metadata!.uid!), true);
  });
});
