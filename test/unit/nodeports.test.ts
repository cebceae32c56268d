// NodePort allocation for Services without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { assignNodePorts, nodePortsNeeded, pickFreePorts, usedNodePorts } from '../../src/controller/nodeports.ts';

function service(ports: V1ServicePort[], healthCheckNodePort?: number): V1Service {
  return {
    metadata: { namespace: 'ns', name: 's' },
    spec: { type: 'LoadBalancer', ports, ...(healthCheckNodePort ? { healthCheckNodePort } : {}) },
  };
}

test('usedNodePorts collects every NodePort and healthCheckNodePort of every Service', () => {
  const used = usedNodePorts([
    service(
      [
        { port: 80, nodePort: 30080 },
        { port: 443, nodePort: 30443 },
      ],
      32000,
    ),
    service([
      { port: 53, protocol: 'TCP', nodePort: 30053 },
      { port: 53, protocol: 'UDP', nodePort: 30053 },
    ]),
    service([{ port: 8080, nodePort: 0 }, { port: 9090 }]),
    { metadata: { name: 'no-spec' } },
  ]);
  assert.deepEqual([...used].sort(), [30053, 30080, 30443, 32000]);
});

test('usedNodePorts of nothing is empty', () => {
  assert.equal(usedNodePorts([]).size, 0);
});

test('pickFreePorts starts at the seed, skips used ports, and wraps around the range', () => {
  const range = { from: 30000, to: 30009 };
  assert.deepEqual(pickFreePorts(range, new Set(), 3, 0), [30000, 30001, 30002]);
  assert.deepEqual(pickFreePorts(range, new Set(), 3, 4), [30004, 30005, 30006]);
  assert.deepEqual(pickFreePorts(range, new Set([30005]), 3, 4), [30004, 30006, 30007]);
  assert.deepEqual(pickFreePorts(range, new Set([30009]), 3, 8), [30008, 30000, 30001], 'wraps past the end');
  assert.deepEqual(pickFreePorts(range, new Set(), 2, 23), [30003, 30004], 'a seed larger than the range is reduced');
});

test('pickFreePorts returns fewer ports when the range is nearly full, and none when it is full', () => {
  const range = { from: 30000, to: 30004 };
  const almost = new Set([30000, 30001, 30003, 30004]);
  assert.deepEqual(pickFreePorts(range, almost, 3, 1), [30002]);
  assert.deepEqual(pickFreePorts(range, new Set([...almost, 30002]), 1, 0), []);
});

test('pickFreePorts never returns a port twice or outside the range', () => {
  const range = { from: 30000, to: 30099 };
  const used = new Set([30010, 30050, 30099]);
  const picked = pickFreePorts(range, used, 200, 77);
  assert.equal(picked.length, 97);
  assert.equal(new Set(picked).size, picked.length);
  assert.ok(picked.every((p) => p >= range.from && p <= range.to && !used.has(p)));
});

test('pickFreePorts with a one-port range', () => {
  assert.deepEqual(pickFreePorts({ from: 30000, to: 30000 }, new Set(), 1, 12345), [30000]);
});

test('assignNodePorts fills ports at 0 in order and keeps ports that have one', () => {
  const svc = service([
    { name: 'a', port: 80, protocol: 'TCP', nodePort: 30080 },
    { name: 'b', port: 443, protocol: 'TCP' },
    { name: 'c', port: 8080, protocol: 'TCP', nodePort: 0 },
  ]);
  assert.deepEqual(assignNodePorts(svc, [31000, 31001]), [
    { name: 'a', port: 80, protocol: 'TCP', nodePort: 30080 },
    { name: 'b', port: 443, protocol: 'TCP', nodePort: 31000 },
    { name: 'c', port: 8080, protocol: 'TCP', nodePort: 31001 },
  ]);
  assert.equal(svc.spec!.ports![1]!.nodePort, undefined, 'the Service itself is not changed');
});

test('assignNodePorts: TCP and UDP on the same port number share one NodePort', () => {
  const svc = service([
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'dns-udp', port: 53, protocol: 'UDP' },
  ]);
  assert.equal(nodePortsNeeded(svc), 2);
  assert.deepEqual(
    assignNodePorts(svc, [31053, 31080]).map((p) => [p.name, p.nodePort]),
    [
      ['dns-tcp', 31053],
      ['http', 31080],
      ['dns-udp', 31053],
    ],
  );
});

// kube-apiserver's own allocator reuses the NodePort already set on a same-numbered port of another protocol.
test('assignNodePorts: a port at 0 reuses the NodePort of a same-numbered port that already has one', () => {
  const svc = service([
    { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053 },
    { name: 'dns-udp', port: 53, protocol: 'UDP' },
  ]);
  assert.equal(nodePortsNeeded(svc), 0);
  assert.deepEqual(
    assignNodePorts(svc, []).map((p) => [p.name, p.nodePort]),
    [
      ['dns-tcp', 30053],
      ['dns-udp', 30053],
    ],
  );
});

test('assignNodePorts throws when given fewer ports than needed', () => {
  const svc = service([{ port: 80 }, { port: 443 }]);
  assert.throws(() => assignNodePorts(svc, [31000]), /not enough free NodePorts/);
});

test('nodePortsNeeded counts distinct port numbers without a NodePort', () => {
  assert.equal(nodePortsNeeded(service([{ port: 80, nodePort: 30080 }])), 0);
  assert.equal(nodePortsNeeded(service([{ port: 80 }, { port: 443, nodePort: 0 }, { port: 8080, nodePort: 30808 }])), 2);
  assert.equal(
    nodePortsNeeded(
      service([
        { port: 53, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
      ]),
    ),
    1,
  );
  assert.equal(nodePortsNeeded({ metadata: { name: 'x' } }), 0);
});

test('the reconciler path: needed ports, picked around used ones, then assigned, never collide', () => {
  const others = [service([{ port: 80, nodePort: 30000 }], 30001)];
  const svc = service([
    { name: 'x', port: 53, protocol: 'TCP' },
    { name: 'y', port: 53, protocol: 'UDP' },
    { name: 'z', port: 80, protocol: 'TCP' },
  ]);
  const used = usedNodePorts(others);
  const picked = pickFreePorts({ from: 30000, to: 30002 }, used, nodePortsNeeded(svc), 0);
  assert.deepEqual(picked, [30002]);
  assert.throws(() => assignNodePorts(svc, picked), /not enough free NodePorts/);
  const wider = pickFreePorts({ from: 30000, to: 30003 }, used, nodePortsNeeded(svc), 0);
  assert.deepEqual(
    assignNodePorts(svc, wider).map((p) => p.nodePort),
    [30002, 30002, 30003],
  );
});
