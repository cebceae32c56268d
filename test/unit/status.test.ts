// Status comparison and the status patch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1LoadBalancerIngress } from '@kubernetes/client-node';
import { ingressEqual, statusPatch } from '../../src/controller/status.ts';
import type { IngressStatus } from '../../src/providers/provider.ts';

/** What the API server holds today. */
const published: V1LoadBalancerIngress[] = [
  {
    ip: '192.0.2.1',
    ipMode: 'Proxy',
    ports: [
      { port: 80, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ],
  },
  { hostname: 'lb-1.example.com' },
];

/** The same, as a provider would return it. */
function wanted(): IngressStatus[] {
  return [
    {
      ip: '192.0.2.1',
      ipMode: 'Proxy',
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ],
    },
    { hostname: 'lb-1.example.com' },
  ];
}

test('ingressEqual: the same entries are equal', () => {
  assert.equal(ingressEqual(published, wanted()), true);
});

test('ingressEqual ignores the order of entries and of ports', () => {
  const reordered = wanted().reverse();
  reordered[1]!.ports = [
    { port: 53, protocol: 'TCP' },
    { port: 80, protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
  ];
  assert.equal(ingressEqual(published, reordered), true);
});

test('ingressEqual: no status and nothing wanted are equal', () => {
  assert.equal(ingressEqual(undefined, []), true);
  assert.equal(ingressEqual([], []), true);
});

test('ingressEqual detects a difference in ip, hostname, ipMode, ports or the number of entries', () => {
  const changes: Array<[string, (w: IngressStatus[]) => void]> = [
    ['ip', (w) => (w[0]!.ip = '192.0.2.2')],
    ['hostname', (w) => (w[1]!.hostname = 'lb-2.example.com')],
    ['ip added to the hostname entry', (w) => (w[1]!.ip = '192.0.2.3')],
    ['ipMode Proxy -> VIP', (w) => (w[0]!.ipMode = 'VIP')],
    ['ipMode removed', (w) => delete w[0]!.ipMode],
    ['ipMode added', (w) => (w[1]!.ipMode = 'VIP')],
    ['port number', (w) => (w[0]!.ports![0]!.port = 8080)],
    ['port protocol', (w) => (w[0]!.ports![0]!.protocol = 'SCTP')],
    ['port removed', (w) => w[0]!.ports!.pop()],
    ['port added', (w) => w[0]!.ports!.push({ port: 443, protocol: 'TCP' })],
    ['ports removed', (w) => delete w[0]!.ports],
    ['port error', (w) => (w[0]!.ports![0]!.error = 'Pending')],
    ['entry removed', (w) => w.pop()],
    ['entry added', (w) => w.push({ ip: '192.0.2.9' })],
    ['all removed', (w) => w.splice(0)],
  ];
  for (const [name, change] of changes) {
    const w = wanted();
    change(w);
    assert.equal(ingressEqual(published, w), false, name);
  }
  assert.equal(ingressEqual(undefined, wanted()), false, 'nothing published yet');
});

// The API server drops empty lists and undefined fields (omitempty), so publishing either of these reads back
// as the plain entry; treating them as different would patch the status on every sync.
test('ingressEqual: an empty ports list is the same as no ports', () => {
  assert.equal(ingressEqual([{ ip: '192.0.2.1' }], [{ ip: '192.0.2.1', ports: [] }]), true);
});

test('ingressEqual: a field present but undefined is the same as an absent field', () => {
  assert.equal(ingressEqual([{ ip: '192.0.2.1' }], [{ ip: '192.0.2.1', hostname: undefined, ipMode: undefined }]), true);
});

// The API server (1.30 and later) stores an ip entry without ipMode as ipMode VIP; older ones drop the field.
test('ingressEqual: an ip entry without ipMode is the same as ipMode VIP, and not as Proxy', () => {
  assert.equal(ingressEqual([{ ip: '192.0.2.1', ipMode: 'VIP' }], [{ ip: '192.0.2.1' }]), true, 'the API server added VIP');
  assert.equal(ingressEqual([{ ip: '192.0.2.1' }], [{ ip: '192.0.2.1', ipMode: 'VIP' }]), true, 'an API server that drops ipMode');
  assert.equal(ingressEqual([{ ip: '192.0.2.1', ipMode: 'Proxy' }], [{ ip: '192.0.2.1' }]), false);
  assert.equal(ingressEqual([{ hostname: 'lb-1.example.com', ipMode: 'VIP' }], [{ hostname: 'lb-1.example.com' }]), false);
});

test('statusPatch writes the entries through a merge patch on status.loadBalancer.ingress', () => {
  const patch = statusPatch([{ ip: '192.0.2.1', ipMode: 'VIP', ports: [{ port: 443, protocol: 'TCP' }] }]);
  assert.deepEqual(patch, {
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.1', ipMode: 'VIP', ports: [{ port: 443, protocol: 'TCP' }] }] } },
  });
});

test('statusPatch with no entries sets ingress to null, which clears it', () => {
  assert.deepEqual(statusPatch([]), { status: { loadBalancer: { ingress: null } } });
});

test('statusPatch keeps every entry and port, and a patched status compares equal to what was wanted', () => {
  const w = wanted();
  const patch = statusPatch(w);
  const ingress = patch.status.loadBalancer.ingress!;
  assert.equal(ingress.length, 2);
  assert.equal(ingress.flatMap((e) => e.ports ?? []).length, 3);
  assert.equal(ingressEqual(ingress as V1LoadBalancerIngress[], w), true);
  assert.deepEqual(w, wanted(), 'the input is not mutated');
});
