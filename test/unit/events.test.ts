// The event recorder: upstream fields, correlation of repeats, one writer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { KubeClient } from '../../src/kube/client.ts';
import { EventRecorder } from '../../src/kube/events.ts';

interface Request {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

/** Stands in for the API client: records requests, answers POSTs with a named Event, one tick later. */
function fakeClient() {
  const requests: Request[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let created = 0;
  const client = {
    async request(method: string, path: string, body: Record<string, unknown>) {
      requests.push({ method, path, body });
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return method === 'POST' ? { metadata: { name: `web.${++created}` } } : {};
    },
  };
  return { client: client as unknown as KubeClient, requests, maxInFlight: () => maxInFlight };
}

const svc: V1Service = { metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' } };

test('an event names the Service, with the upstream fields', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'service-lb-controller', 'host_1', pino({ level: 'silent' }));
  await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'Error syncing load balancer: no');
  const [req] = fake.requests;
  assert.equal(req?.method, 'POST');
  assert.equal(req?.path, '/api/v1/namespaces/shop/events');
  assert.deepEqual(req?.body.involvedObject, {
    apiVersion: 'v1',
    kind: 'Service',
    namespace: 'shop',
    name: 'web',
    uid: 'u1',
    resourceVersion: '7',
  });
  assert.equal(req?.body.type, 'Warning');
  assert.equal(req?.body.reason, 'SyncLoadBalancerFailed');
  assert.deepEqual(req?.body.source, { component: 'service-lb-controller' });
});

test('a repeat within the window bumps the count of the same Event instead of creating another', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'c', 'i', pino({ level: 'silent' }));
  await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'boom');
  await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'boom');
  await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'other');
  assert.deepEqual(
    fake.requests.map((r) => r.method),
    ['POST', 'PATCH', 'POST'],
  );
  assert.equal(fake.requests[1]?.path, '/api/v1/namespaces/shop/events/web.1');
  assert.equal(fake.requests[1]?.body.count, 2);
});

test('events are written one at a time, in order, and close() drops what is still queued', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'c', 'i', pino({ level: 'silent' }));
  const written = Array.from({ length: 5 }, (_, i) =>
    recorder.record({ ...svc, metadata: { ...svc.metadata, uid: `u${i}` } }, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer'),
  );
  await Promise.all(written);
  assert.equal(fake.maxInFlight(), 1);
  assert.deepEqual(
    fake.requests.map((r) => (r.body.involvedObject as { uid: string }).uid),
    ['u0', 'u1', 'u2', 'u3', 'u4'],
  );

  const queued = [
    recorder.record(svc, 'Normal', 'A', 'a'),
    recorder.record(svc, 'Normal', 'B', 'b'),
    recorder.record(svc, 'Normal', 'C', 'c'),
  ];
  recorder.close();
  await Promise.all(queued);
  await recorder.record(svc, 'Normal', 'D', 'd');
  assert.deepEqual(
    fake.requests.slice(5).map((r) => r.body.reason),
    ['A'],
  );
});
