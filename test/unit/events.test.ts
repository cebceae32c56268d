// The event recorder: upstream fields, client-go's correlation (series, aggregation, spam filter), bounded writers, nothing dropped at scale.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/client.ts';
import { EventCorrelator, EventRecorder, defaultCorrelatorLimits, type DropReason } from '../../src/kube/events.ts';

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
/** How an Event names svc. */
const webReference = { apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'web', uid: 'u1', resourceVersion: '7' };

test('an event names the Service, with the upstream fields', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'service-lb-controller', 'host_1', pino({ level: 'silent' }));
  await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'Error syncing load balancer: no');
  const [req] = fake.requests;
  assert.equal(req?.method, 'POST');
  assert.equal(req?.path, '/api/v1/namespaces/shop/events');
  assert.deepEqual(req?.body.involvedObject, webReference);
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

const silent = pino({ level: 'silent' });
const service = (i: number): V1Service => ({ metadata: { name: `svc-${i}`, namespace: 'bench', uid: `uid-${i}` } });

function dropCounter() {
  const dropped: Partial<Record<DropReason, number>> = {};
  return { dropped, onDropped: (reason: DropReason) => (dropped[reason] = (dropped[reason] ?? 0) + 1) };
}

test('an event waiting to be written holds the names of its Service, not the Service object', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const fake = fakeClient();
  let idle!: () => void;
  const whenIdle = new Promise<void>((resolve) => (idle = resolve));
  const recorder = new EventRecorder(fake.client, 'c', 'i', silent, { whenIdle: () => whenIdle });
  // Built and handed over in a function of its own, so that nothing here keeps the object alive.
  const record = () => {
    const superseded: V1Service = {
      metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }] },
    };
    return {
      written: recorder.record(superseded, 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer'),
      ref: new WeakRef(superseded),
    };
  };
  const { written, ref } = record();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(ref.deref(), undefined, 'the Service object was collected while its event waited');
  assert.equal(fake.requests.length, 0);
  idle();
  await written;
  assert.deepEqual(fake.requests[0]?.body.involvedObject, webReference);
});

test('several writers, never more than configured, started in the order recorded; close() drops and counts what is queued', async () => {
  const fake = fakeClient();
  const drops = dropCounter();
  const recorder = new EventRecorder(fake.client, 'c', 'i', silent, { writers: 4, onDropped: drops.onDropped });
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => recorder.record(service(i), 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer')),
  );
  assert.equal(fake.maxInFlight(), 4);
  assert.deepEqual(
    fake.requests.map((r) => (r.body.involvedObject as { uid: string }).uid),
    Array.from({ length: 20 }, (_, i) => `uid-${i}`),
  );

  const queued = Array.from({ length: 10 }, (_, i) => recorder.record(service(100 + i), 'Normal', 'A', 'a'));
  recorder.close();
  await Promise.all(queued);
  await recorder.record(svc, 'Normal', 'D', 'd');
  // The four already handed to writers finish; the six still queued, and anything after close(), do not.
  assert.equal(fake.requests.length, 24);
  assert.deepEqual(drops.dropped, { shutdown: 6 });
});

test('repeats of an event still waiting to be written fold into it: one write carrying the count', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'c', 'i', silent, { writers: 1 });
  const first = recorder.record(service(0), 'Normal', 'Busy', 'writer busy');
  const repeats = Array.from({ length: 7 }, () => recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', 'boom'));
  await Promise.all([first, ...repeats]);
  assert.deepEqual(
    fake.requests.map((r) => [r.method, r.body.count]),
    [
      ['POST', 1],
      ['POST', 7],
    ],
  );
});

test('past ten distinct messages for one Service, type and reason, they are combined into one Event', async () => {
  const fake = fakeClient();
  const recorder = new EventRecorder(fake.client, 'c', 'i', silent);
  for (let i = 1; i <= 12; i++) await recorder.record(svc, 'Warning', 'SyncLoadBalancerFailed', `error ${i}`);
  assert.deepEqual(
    fake.requests.map((r) => r.method),
    [...Array(9).fill('POST'), 'POST', 'PATCH', 'PATCH'],
  );
  assert.equal(fake.requests[9]?.body.message, '(combined from similar events): error 10');
  assert.equal(fake.requests[11]?.path, '/api/v1/namespaces/shop/events/web.10');
  assert.deepEqual(fake.requests[11]?.body.count, 3);
  assert.equal(fake.requests[11]?.body.message, '(combined from similar events): error 12');
});

test('the spam filter lets 25 events about one Service through, then one per 5 minutes, and counts the rest', () => {
  let now = 0;
  const correlator = new EventCorrelator(defaultCorrelatorLimits, () => now);
  const passed = Array.from({ length: 30 }, (_, i) => correlator.correlate(svc, 'Normal', `Reason${i}`, 'm') !== undefined);
  assert.deepEqual(passed, [...Array(25).fill(true), ...Array(5).fill(false)]);
  // Another Service has its own bucket.
  assert.ok(correlator.correlate(service(1), 'Normal', 'Reason', 'm'));
  now += 4 * 60_000;
  assert.equal(correlator.correlate(svc, 'Normal', 'Late', 'm'), undefined);
  now += 60_000;
  assert.ok(correlator.correlate(svc, 'Normal', 'Late', 'm'));
  assert.equal(correlator.correlate(svc, 'Normal', 'Late', 'm'), undefined);
});

test('1000 Services created and then a node added: every event written, none dropped, writers bounded', async () => {
  const fake = fakeClient();
  const drops = dropCounter();
  const recorder = new EventRecorder(fake.client, 'c', 'i', silent, { onDropped: drops.onDropped });
  const all: Promise<void>[] = [];
  // As the reconciler does: it never waits for an event, so the whole burst is queued before any write ends.
  for (let i = 0; i < 1000; i++) all.push(recorder.record(service(i), 'Normal', 'EnsuringLoadBalancer', 'Ensuring load balancer'));
  for (let i = 0; i < 1000; i++) all.push(recorder.record(service(i), 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer'));
  for (let i = 0; i < 1000; i++)
    all.push(recorder.record(service(i), 'Normal', 'UpdatedLoadBalancer', 'Updated load balancer with new hosts'));
  // A Service stuck failing: its repeats join the one waiting entry instead of queueing up.
  for (let n = 0; n < 20; n++)
    all.push(recorder.record(service(7), 'Warning', 'SyncLoadBalancerFailed', 'Error syncing load balancer: quota'));
  await Promise.all(all);
  assert.deepEqual(drops.dropped, {});
  assert.ok(fake.maxInFlight() <= 4, `${fake.maxInFlight()} writes in flight`);
  const reasons = new Map<string, number>();
  for (const r of fake.requests) if (r.method === 'POST') reasons.set(String(r.body.reason), (reasons.get(String(r.body.reason)) ?? 0) + 1);
  assert.equal(reasons.get('EnsuringLoadBalancer'), 1000);
  assert.equal(reasons.get('EnsuredLoadBalancer'), 1000);
  assert.equal(reasons.get('UpdatedLoadBalancer'), 1000);
  const failures = fake.requests.filter((r) => r.body.reason === 'SyncLoadBalancerFailed' || r.method === 'PATCH');
  assert.equal(failures.length, 1, 'twenty repeats queued behind the burst are one write');
  assert.equal(failures[0]?.body.count, 20);
});

test('a write the API server throttles is retried after its Retry-After; one it rejects is dropped and counted', async () => {
  const drops = dropCounter();
  const attempts: string[] = [];
  const client = {
    async request(method: string, _path: string, body: Record<string, unknown>) {
      attempts.push(String(body.reason));
      if (body.reason === 'Throttled' && attempts.filter((a) => a === 'Throttled').length === 1)
        throw new KubeApiError(429, 'TooManyRequests', 'slow down', 10);
      if (body.reason === 'Invalid') throw new KubeApiError(422, 'Invalid', 'no');
      return method === 'POST' ? { metadata: { name: 'e.1' } } : {};
    },
  } as unknown as KubeClient;
  const recorder = new EventRecorder(client, 'c', 'i', silent, { onDropped: drops.onDropped });
  await recorder.record(svc, 'Normal', 'Throttled', 'm');
  await recorder.record(svc, 'Normal', 'Invalid', 'm');
  assert.deepEqual(attempts, ['Throttled', 'Throttled', 'Invalid']);
  assert.deepEqual(drops.dropped, { write_failed: 1 });
});
