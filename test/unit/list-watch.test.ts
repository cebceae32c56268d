// ListWatch against a fake API server: list, watch events, a closed watch resumed, 410 Gone re-listed.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { ListWatch } from '../../src/kube/list-watch.ts';

const obj = (name: string, rv: string, extra: object = {}): KubernetesObject => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv, ...extra },
});

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

test('lists, follows the watch, resumes a closed watch, and re-lists after 410 Gone with deletions reported', async (t) => {
  const lists = [
    { metadata: { resourceVersion: '10' }, items: [obj('a', '1', { managedFields: [{ manager: 'x' }] }), obj('b', '2')] },
    { metadata: { resourceVersion: '20' }, items: [obj('a', '11'), obj('d', '20')] },
  ];
  const watches: string[] = [];
  const open: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.searchParams.get('watch') !== 'true') {
      res.end(JSON.stringify(lists.shift()));
      return;
    }
    const rv = url.searchParams.get('resourceVersion')!;
    watches.push(rv);
    res.writeHead(200, { 'content-type': 'application/json' });
    const send = (type: string, object: object) => res.write(`${JSON.stringify({ type, object })}\n`);
    if (rv === '10') {
      send('MODIFIED', obj('a', '11'));
      send('DELETED', obj('b', '12'));
      // One event split across two writes.
      const line = `${JSON.stringify({ type: 'ADDED', object: obj('c', '13') })}\n`;
      res.write(line.slice(0, 10));
      setTimeout(() => res.end(line.slice(10)), 20);
    } else if (rv === '13') {
      send('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
      res.end();
    } else open.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new KubeClient({
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }),
    getCurrentUser: () => null,
    applyToHTTPSOptions: async () => {},
  });
  const lw = new ListWatch<KubernetesObject>('/api/v1/services', client, () => client.request('GET', '/api/v1/services'));
  const events: string[] = [];
  lw.on('add', (o) => events.push(`add ${o.metadata!.name} ${o.metadata!.resourceVersion}`));
  lw.on('update', (o) => events.push(`update ${o.metadata!.name} ${o.metadata!.resourceVersion}`));
  lw.on('delete', (o) => events.push(`delete ${o.metadata!.name}`));
  const errors: unknown[] = [];
  lw.on('error', (err) => errors.push(err));
  t.after(async () => {
    await lw.stop();
    for (const res of open) res.end();
    server.close();
    await client.close();
  });

  await lw.start();
  await until('the watch after the re-list', () => watches.includes('20'));
  assert.deepEqual(watches, ['10', '13', '20']);
  assert.deepEqual(events, ['add a 1', 'add b 2', 'update a 11', 'delete b', 'add c 13', 'delete c', 'add d 20']);
  assert.deepEqual(
    lw.list().map((o) => o.metadata!.name),
    ['a', 'd'],
  );
  assert.equal(lw.get('a', 'ns')?.metadata?.managedFields, undefined, 'managedFields are not kept');
  assert.equal(lw.latestResourceVersion(), '20');
  assert.deepEqual(errors, []);
});

test('a failing list is reported as an error and nothing is watched', async () => {
  let watched = false;
  const server = createServer((req, res) => {
    if (req.url!.includes('watch=true')) watched = true;
    res.writeHead(500).end('{"kind":"Status","message":"boom"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const client = new KubeClient({
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }),
    getCurrentUser: () => null,
    applyToHTTPSOptions: async () => {},
  });
  const lw = new ListWatch<KubernetesObject>('/api/v1/nodes', client, () => client.request('GET', '/api/v1/nodes'));
  const errors: unknown[] = [];
  lw.on('error', (err) => errors.push(err));
  await lw.start();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /500 boom/);
  assert.equal(watched, false);
  await lw.stop();
  server.close();
  await client.close();
});
