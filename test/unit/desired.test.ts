// desiredLoadBalancer and its fingerprints: the desired state the core hands a provider.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import { desiredLoadBalancer, specFingerprint, targetsFingerprint } from '../../src/controller/desired.ts';
import { defaultLoadBalancerName } from '../../src/providers/provider.ts';
import { EXCLUDE_LB_LABEL, TO_BE_DELETED_TAINT } from '../../src/controller/predicates.ts';

const UID = '123e4567-e89b-12d3-a456-426614174000';

function service(mutate: (s: V1Service) => void = () => {}): V1Service {
  const s: V1Service = {
    metadata: { namespace: 'shop', name: 'web', uid: UID, annotations: { 'example.com/idle-timeout': '60' } },
    spec: {
      type: 'LoadBalancer',
      ports: [
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53, nodePort: 30053 },
        { name: 'dns-udp', protocol: 'UDP', port: 53, targetPort: 53, nodePort: 30054 },
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080, appProtocol: 'http' },
      ],
      externalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
    },
  };
  mutate(s);
  return s;
}

function node(name: string, mutate: (n: V1Node) => void = () => {}): V1Node {
  const n: V1Node = {
    metadata: { name, labels: {} },
    spec: { providerID: `test://${name}` },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [
        { type: 'InternalIP', address: `10.0.0.${name.length}` },
        { type: 'Hostname', address: name },
      ],
    },
  };
  mutate(n);
  return n;
}

test('loadBalancerName is "a" + the UID without dashes, cut to 32 characters', () => {
  const name = defaultLoadBalancerName(UID);
  assert.equal(name, 'a123e4567e89b12d3a45642661417400');
  assert.equal(name.length, 32);
  assert.equal(defaultLoadBalancerName('ab-cd'), 'aabcd', 'short UIDs are not padded');
  assert.notEqual(defaultLoadBalancerName(UID), defaultLoadBalancerName('223e4567-e89b-12d3-a456-426614174000'));
});

test('desiredLoadBalancer carries identity, listeners and the Service options', () => {
  const desired = desiredLoadBalancer(service(), [], 'prod');
  assert.deepEqual(desired.identity, {
    clusterName: 'prod',
    namespace: 'shop',
    name: 'web',
    uid: UID,
    lbName: 'a123e4567e89b12d3a45642661417400',
  });
  assert.deepEqual(desired.listeners, [
    { name: 'dns-tcp', protocol: 'TCP', port: 53, nodePort: 30053 },
    { name: 'dns-udp', protocol: 'UDP', port: 53, nodePort: 30054 },
    { name: 'http', protocol: 'TCP', port: 80, nodePort: 30080, appProtocol: 'http' },
  ]);
  assert.deepEqual(desired.healthCheck, { kind: 'tcp' });
  assert.equal(desired.externalTrafficPolicy, 'Cluster');
  assert.deepEqual(desired.sourceRanges, []);
  assert.deepEqual(desired.sessionAffinity, { type: 'None' });
  assert.deepEqual(desired.requestedIPs, []);
  assert.deepEqual(desired.ipFamilies, ['IPv4']);
  assert.deepEqual(desired.annotations, { 'example.com/idle-timeout': '60' });
  assert.deepEqual(desired.currentIngress, []);
  assert.deepEqual(desired.targets, []);
});

test('desiredLoadBalancer: a port without protocol or nodePort becomes TCP with nodePort 0', () => {
  const desired = desiredLoadBalancer(
    service((s) => (s.spec!.ports = [{ port: 443 }])),
    [],
    'c',
  );
  assert.deepEqual(desired.listeners, [{ name: '', protocol: 'TCP', port: 443, nodePort: 0 }]);
});

test('desiredLoadBalancer targets only eligible nodes, sorted by name, with or without providerID', () => {
  const nodes = [
    node('node-c'),
    node('node-a', (n) => delete n.spec!.providerID),
    node('node-excluded', (n) => (n.metadata!.labels![EXCLUDE_LB_LABEL] = 'true')),
    node('node-included-false', (n) => (n.metadata!.labels![EXCLUDE_LB_LABEL] = 'false')),
    node('node-tainted', (n) => (n.spec!.taints = [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }])),
    node('node-deleting', (n) => (n.metadata!.deletionTimestamp = new Date())),
    node('node-b', (n) => (n.status!.conditions = [{ type: 'Ready', status: 'False' }])),
  ];
  const { targets } = desiredLoadBalancer(service(), nodes, 'c');
  assert.deepEqual(
    targets.map((t) => t.nodeName),
    ['node-a', 'node-b', 'node-c', 'node-included-false'],
  );
  assert.deepEqual(targets[0], {
    nodeName: 'node-a',
    addresses: [
      { type: 'InternalIP', address: '10.0.0.6' },
      { type: 'Hostname', address: 'node-a' },
    ],
  });
  assert.equal(targets[0]!.providerID, undefined);
  assert.equal(targets[2]!.providerID, 'test://node-c');
  assert.deepEqual(targets[3]!.labels, { [EXCLUDE_LB_LABEL]: 'false' }, 'labels are passed on');
  // Input order does not matter.
  assert.deepEqual(desiredLoadBalancer(service(), [...nodes].reverse(), 'c').targets, targets);
});

test('desiredLoadBalancer: externalTrafficPolicy Local health-checks HTTP /healthz on the healthCheckNodePort', () => {
  const local = desiredLoadBalancer(
    service((s) => {
      s.spec!.externalTrafficPolicy = 'Local';
      s.spec!.healthCheckNodePort = 32123;
    }),
    [],
    'c',
  );
  assert.deepEqual(local.healthCheck, { kind: 'http', port: 32123, path: '/healthz' });
  assert.equal(local.externalTrafficPolicy, 'Local');

  const cluster = desiredLoadBalancer(
    service((s) => (s.spec!.healthCheckNodePort = 32123)),
    [],
    'c',
  );
  assert.deepEqual(cluster.healthCheck, { kind: 'tcp' });
  assert.equal(cluster.externalTrafficPolicy, 'Cluster');
});

test('desiredLoadBalancer: source ranges, ClientIP affinity, requested IP and dual stack', () => {
  const desired = desiredLoadBalancer(
    service((s) => {
      s.spec!.loadBalancerSourceRanges = ['203.0.113.0/24', '2001:db8::/64'];
      s.spec!.sessionAffinity = 'ClientIP';
      s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 900 } };
      s.spec!.loadBalancerIP = '192.0.2.7';
      s.spec!.ipFamilies = ['IPv6', 'IPv4'];
    }),
    [],
    'c',
  );
  assert.deepEqual(desired.sourceRanges, ['203.0.113.0/24', '2001:db8::/64']);
  assert.deepEqual(desired.sessionAffinity, { type: 'ClientIP', timeoutSeconds: 900 });
  assert.deepEqual(desired.requestedIPs, ['192.0.2.7']);
  assert.deepEqual(desired.ipFamilies, ['IPv6', 'IPv4']);
});

test('desiredLoadBalancer: ClientIP affinity without config has no timeout; None ignores a stale config', () => {
  const noConfig = desiredLoadBalancer(
    service((s) => (s.spec!.sessionAffinity = 'ClientIP')),
    [],
    'c',
  );
  assert.deepEqual(noConfig.sessionAffinity, { type: 'ClientIP' });
  const none = desiredLoadBalancer(
    service((s) => (s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 5 } })),
    [],
    'c',
  );
  assert.deepEqual(none.sessionAffinity, { type: 'None' });
});

test('desiredLoadBalancer: missing ipFamilies default to IPv4', () => {
  assert.deepEqual(
    desiredLoadBalancer(
      service((s) => delete s.spec!.ipFamilies),
      [],
      'c',
    ).ipFamilies,
    ['IPv4'],
  );
});

test('desiredLoadBalancer: currentIngress mirrors status, keeping ip, hostname, ipMode and ports', () => {
  const desired = desiredLoadBalancer(
    service((s) => {
      s.status = {
        loadBalancer: {
          ingress: [
            {
              ip: '192.0.2.1',
              ipMode: 'Proxy',
              ports: [
                { port: 53, protocol: 'UDP' },
                { port: 80, protocol: 'TCP', error: 'Pending' },
              ],
            },
            { hostname: 'lb.example.com' },
          ],
        },
      };
    }),
    [],
    'c',
  );
  assert.deepEqual(desired.currentIngress, [
    {
      ip: '192.0.2.1',
      ipMode: 'Proxy',
      ports: [
        { port: 53, protocol: 'UDP' },
        { port: 80, protocol: 'TCP', error: 'Pending' },
      ],
    },
    { hostname: 'lb.example.com' },
  ]);
});

test('specFingerprint ignores targets and current ingress, and changes with anything else', () => {
  const base = desiredLoadBalancer(service(), [node('n1')], 'c');
  const otherNodesAndStatus = desiredLoadBalancer(
    service((s) => (s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } })),
    [node('n1'), node('n2')],
    'c',
  );
  assert.equal(specFingerprint(otherNodesAndStatus), specFingerprint(base));

  const changes: Array<[string, (s: V1Service) => void]> = [
    ['nodePort', (s) => (s.spec!.ports![0]!.nodePort = 31000)],
    ['port added', (s) => s.spec!.ports!.push({ name: 'x', protocol: 'TCP', port: 8443, nodePort: 31443 })],
    ['source ranges', (s) => (s.spec!.loadBalancerSourceRanges = ['10.0.0.0/8'])],
    ['annotations', (s) => (s.metadata!.annotations = {})],
    ['affinity', (s) => (s.spec!.sessionAffinity = 'ClientIP')],
    ['eTP', (s) => (s.spec!.externalTrafficPolicy = 'Local')],
    ['requested IP', (s) => (s.spec!.loadBalancerIP = '192.0.2.9')],
    ['UID', (s) => (s.metadata!.uid = '00000000-0000-0000-0000-000000000000')],
  ];
  for (const [name, mutate] of changes) {
    assert.notEqual(specFingerprint(desiredLoadBalancer(service(mutate), [node('n1')], 'c')), specFingerprint(base), name);
  }
});

test('targetsFingerprint changes with the targets only', () => {
  const base = desiredLoadBalancer(service(), [node('n1')], 'c');
  assert.equal(
    targetsFingerprint(
      desiredLoadBalancer(
        service((s) => (s.spec!.ports![0]!.nodePort = 31000)),
        [node('n1')],
        'c',
      ),
    ),
    targetsFingerprint(base),
  );
  assert.notEqual(
    targetsFingerprint(desiredLoadBalancer(service(), [node('n1'), node('n2')], 'c')),
    targetsFingerprint(base),
    'node added',
  );
  assert.notEqual(targetsFingerprint(desiredLoadBalancer(service(), [], 'c')), targetsFingerprint(base), 'node removed');
  assert.notEqual(
    targetsFingerprint(desiredLoadBalancer(service(), [node('n1', (n) => (n.spec!.providerID = 'test://moved'))], 'c')),
    targetsFingerprint(base),
    'providerID changed',
  );
  assert.notEqual(
    targetsFingerprint(
      desiredLoadBalancer(service(), [node('n1', (n) => (n.status!.addresses = [{ type: 'InternalIP', address: '10.9.9.9' }]))], 'c'),
    ),
    targetsFingerprint(base),
    'address changed',
  );
  assert.notEqual(
    targetsFingerprint(desiredLoadBalancer(service(), [node('n1', (n) => (n.metadata!.labels!['role'] = 'edge'))], 'c')),
    targetsFingerprint(base),
    'label added',
  );
});

test('the deprecated source-ranges annotation applies only when spec.loadBalancerSourceRanges is empty', () => {
  const annotated = service((s) => {
    s.metadata!.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8, 192.168.1.0/24' };
    delete s.spec!.loadBalancerSourceRanges;
  });
  assert.deepEqual(desiredLoadBalancer(annotated, [], 'c').sourceRanges, ['10.0.0.0/8', '192.168.1.0/24']);
  const both = service((s) => {
    s.metadata!.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.0/8' };
    s.spec!.loadBalancerSourceRanges = ['203.0.113.0/24'];
  });
  assert.deepEqual(desiredLoadBalancer(both, [], 'c').sourceRanges, ['203.0.113.0/24']);
});

test('source ranges are trimmed, canonical and de-duplicated; a bad one fails the Service and is named', () => {
  const messy = service((s) => (s.spec!.loadBalancerSourceRanges = [' 10.0.0.0/8', '2001:DB8:0::/32', '10.0.0.0/8 ']));
  assert.deepEqual(desiredLoadBalancer(messy, [], 'c').sourceRanges, ['10.0.0.0/8', '2001:db8::/32']);
  const bad = service((s) => (s.spec!.loadBalancerSourceRanges = ['10.0.0.0/8', '10.0.0.0/33']));
  assert.throws(
    () => desiredLoadBalancer(bad, [], 'c'),
    (err: Error & { retryable?: boolean }) => {
      assert.equal(err.message, 'loadBalancerSourceRanges: "10.0.0.0/33" is not a CIDR');
      assert.equal(err.retryable, false);
      return true;
    },
  );
  const badAnnotation = service(
    (s) => (s.metadata!.annotations = { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.0.0.1' }),
  );
  assert.throws(
    () => desiredLoadBalancer(badAnnotation, [], 'c'),
    /annotation service.beta.kubernetes.io\/load-balancer-source-ranges: "10.0.0.1" is not a CIDR/,
  );
});
