// Events at scale against a real API server: a burst of Services and then a node add, every event written, none dropped.
import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { after, before, describe, test } from 'node:test';
import { useControlPlane } from '../harness/node-test.ts';
import { startTestController, TestKube, waitFor, type TestController } from '../support/controller.ts';
import { metricTotal } from '../support/metrics.ts';

/** Enough to keep every writer busy for a while on this machine; the 1000-Service case is a unit test. */
const SERVICES = 150;

describe('events at scale', () => {
  let ctl: TestController;
  let kube: TestKube;
  after(async () => {
    await ctl?.stop();
  });
  const plane = useControlPlane();

  before(async () => {
    kube = new TestKube(plane());
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] });
    await plane().createNamespace('burst');
    ctl = await startTestController(plane(), { controller: { workers: 16, resyncPeriod: '1h' } });
  });

  const eventsByReason = async () => {
    const list = await kube.client.request<{ items: CoreV1Event[] }>('GET', '/api/v1/namespaces/burst/events');
    const byReason = new Map<string, Set<string>>();
    for (const e of list.items) {
      const names = byReason.get(e.reason ?? '') ?? new Set<string>();
      names.add(e.involvedObject.name ?? '');
      byReason.set(e.reason ?? '', names);
    }
    return byReason;
  };

  const dropped = () => metricTotal(`${ctl.running.metricsUrl}/metrics`, 'service_lb_events_dropped_total');

  test(`${SERVICES} Services and then a node add: each Service gets its Ensuring, Ensured and Updated events`, async () => {
    const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
    await Promise.all(
      names.map((name) => kube.createService('burst', name, { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] })),
    );
    await waitFor('every Ensured event', async () => (await eventsByReason()).get('EnsuredLoadBalancer')?.size === SERVICES, 120_000);
    await plane().createNode('node-b', { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] });
    await waitFor('every Updated event', async () => (await eventsByReason()).get('UpdatedLoadBalancer')?.size === SERVICES, 120_000);
    const byReason = await eventsByReason();
    assert.equal(byReason.get('EnsuringLoadBalancer')?.size, SERVICES);
    assert.equal(await dropped(), 0);
  });
});
