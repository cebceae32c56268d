// Which Services and Node changes the controller acts on, by the upstream service controller's rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Node, V1Service } from '@kubernetes/client-node';
import {
  EXCLUDE_LB_LABEL,
  hasOwnedClass,
  isManagedBy,
  isOurs,
  MANAGED_CLASS_ANNOTATION,
  LB_FINALIZER,
  needsCleanup,
  nodeChangeNeedsSync,
  nodeIsEligible,
  serviceKeyOf,
  serviceNeedsUpdate,
  TO_BE_DELETED_TAINT,
  wantsLoadBalancer,
} from '../../src/controller/predicates.ts';

function service(spec: V1Service['spec'] = {}, metadata: V1Service['metadata'] = {}): V1Service {
  return { metadata: { namespace: 'ns', name: 'web', uid: 'uid-1', ...metadata }, spec: { type: 'LoadBalancer', ...spec } };
}

function node(mutate: (n: V1Node) => void = () => {}): V1Node {
  const n: V1Node = {
    metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } },
    spec: { providerID: 'aws:///us-east-1a/i-1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] },
  };
  mutate(n);
  return n;
}

test('wantsLoadBalancer: type LoadBalancer of the owned class only', () => {
  const cases: Array<[string, V1Service, string | null, boolean]> = [
    ['LoadBalancer, no class, controller owns no class', service(), null, true],
    ['ClusterIP', service({ type: 'ClusterIP' }), null, false],
    ['NodePort', service({ type: 'NodePort' }), null, false],
    ['ExternalName', service({ type: 'ExternalName' }), null, false],
    ['no spec', { metadata: { name: 'x' } }, null, false],
    ['LoadBalancer of another class', service({ loadBalancerClass: 'example.com/other' }), null, false],
    ['LoadBalancer of the owned class', service({ loadBalancerClass: 'example.com/mine' }), 'example.com/mine', true],
    ['LoadBalancer of a class the controller does not own', service({ loadBalancerClass: 'example.com/other' }), 'example.com/mine', false],
    ['LoadBalancer without class, controller owns a class', service(), 'example.com/mine', false],
  ];
  for (const [name, svc, owned, expected] of cases) assert.equal(wantsLoadBalancer(svc, owned), expected, name);
});

test('hasOwnedClass compares the class, with null meaning "no class"', () => {
  assert.equal(hasOwnedClass(service(), null), true);
  assert.equal(hasOwnedClass(service({ loadBalancerClass: 'c' }), null), false);
  assert.equal(hasOwnedClass(service({ loadBalancerClass: 'c' }), 'c'), true);
  assert.equal(hasOwnedClass(service({ loadBalancerClass: 'c' }), 'd'), false);
  assert.equal(hasOwnedClass(service(), 'c'), false);
});

test('needsCleanup: our finalizer, our class, and deleted or no longer a LoadBalancer', () => {
  const fin = { finalizers: ['example.com/other', LB_FINALIZER] };
  const deleting = { deletionTimestamp: new Date('2026-01-01T00:00:00Z') };
  const cases: Array<[string, V1Service, string | null, boolean]> = [
    ['LoadBalancer with finalizer', service({}, fin), null, false],
    ['being deleted with finalizer', service({}, { ...fin, ...deleting }), null, true],
    ['type changed to ClusterIP with finalizer', service({ type: 'ClusterIP' }, fin), null, true],
    ['type changed to NodePort with finalizer', service({ type: 'NodePort' }, fin), null, true],
    ['being deleted without our finalizer', service({}, { finalizers: ['example.com/other'], ...deleting }), null, false],
    ['ClusterIP without finalizer', service({ type: 'ClusterIP' }), null, false],
    [
      'another class, deleted, finalizer set (another controller owns it)',
      service({ loadBalancerClass: 'x' }, { ...fin, ...deleting }),
      null,
      false,
    ],
    ['owned class, deleted, finalizer set', service({ loadBalancerClass: 'x' }, { ...fin, ...deleting }), 'x', true],
    ['no class, deleted, finalizer set, controller owns a class', service({}, { ...fin, ...deleting }), 'x', false],
    // A class change goes through ClusterIP; a controller that missed it sees only the new class.
    [
      'now a LoadBalancer of another class, provisioned by us (recorded)',
      service({ loadBalancerClass: 'x' }, { ...fin, annotations: { [MANAGED_CLASS_ANNOTATION]: '' } }),
      null,
      true,
    ],
    [
      'now a LoadBalancer without class, provisioned by us as class x (recorded)',
      service({}, { ...fin, annotations: { [MANAGED_CLASS_ANNOTATION]: 'x' } }),
      'x',
      true,
    ],
    [
      'a LoadBalancer of class x, provisioned by x (recorded)',
      service({ loadBalancerClass: 'x' }, { ...fin, annotations: { [MANAGED_CLASS_ANNOTATION]: 'x' } }),
      null,
      false,
    ],
  ];
  for (const [name, svc, owned, expected] of cases) assert.equal(needsCleanup(svc, owned), expected, name);
});

test('nodeIsEligible: the exclude label counts unless it parses (Go ParseBool) as false', () => {
  const included = [undefined, 'false', 'False', 'FALSE', 'f', 'F', '0'];
  const excluded = ['true', 'True', 'TRUE', 't', 'T', '1', '', 'yes', 'no', 'off', 'fAlse', ' false', 'false '];
  for (const value of included) {
    const n = node((x) => {
      if (value !== undefined) x.metadata!.labels![EXCLUDE_LB_LABEL] = value;
    });
    assert.equal(nodeIsEligible(n), true, `label ${JSON.stringify(value)} includes the node`);
  }
  for (const value of excluded) {
    const n = node((x) => {
      x.metadata!.labels![EXCLUDE_LB_LABEL] = value;
    });
    assert.equal(nodeIsEligible(n), false, `label ${JSON.stringify(value)} excludes the node`);
  }
});

test('nodeIsEligible: the autoscaler taint and deletion exclude; readiness, other taints and no providerID do not', () => {
  assert.equal(nodeIsEligible(node()), true);
  assert.equal(nodeIsEligible({}), true, 'a bare node is eligible');
  assert.equal(
    nodeIsEligible(node((n) => (n.spec!.taints = [{ key: TO_BE_DELETED_TAINT, value: '1700000000', effect: 'NoSchedule' }]))),
    false,
  );
  assert.equal(nodeIsEligible(node((n) => (n.metadata!.deletionTimestamp = new Date()))), false);
  assert.equal(nodeIsEligible(node((n) => (n.status!.conditions = [{ type: 'Ready', status: 'False' }]))), true, 'NotReady');
  assert.equal(nodeIsEligible(node((n) => (n.status!.conditions = [{ type: 'Ready', status: 'Unknown' }]))), true, 'Unknown');
  assert.equal(
    nodeIsEligible(node((n) => (n.spec!.taints = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]))),
    true,
    'unrelated taint',
  );
  assert.equal(nodeIsEligible(node((n) => (n.spec!.unschedulable = true))), true, 'cordoned');
  assert.equal(nodeIsEligible(node((n) => delete n.spec!.providerID)), true, 'no providerID');
});

test('nodeChangeNeedsSync: an eligibility flip, a providerID, address or label change (targets are node IPs, picked by label)', () => {
  const base = node();
  const cases: Array<[string, (n: V1Node) => void, boolean]> = [
    ['nothing changed', () => {}, false],
    ['Ready -> NotReady', (n) => (n.status!.conditions = [{ type: 'Ready', status: 'False' }]), false],
    ['unrelated taint', (n) => (n.spec!.taints = [{ key: 'example.com/dedicated', value: 'db', effect: 'NoSchedule' }]), false],
    ['label added', (n) => (n.metadata!.labels!['node-role.kubernetes.io/edge'] = ''), true],
    ['label value changed', (n) => (n.metadata!.labels!['kubernetes.io/hostname'] = 'n1-renamed'), true],
    ['labels removed', (n) => delete n.metadata!.labels, true],
    ['address change', (n) => (n.status!.addresses = [{ type: 'InternalIP', address: '10.0.0.9' }]), true],
    ['resourceVersion bump', (n) => (n.metadata!.resourceVersion = '42'), false],
    ['exclude label "false" added (a label change)', (n) => (n.metadata!.labels![EXCLUDE_LB_LABEL] = 'false'), true],
    ['exclude label "true" added', (n) => (n.metadata!.labels![EXCLUDE_LB_LABEL] = 'true'), true],
    ['exclude label "" added', (n) => (n.metadata!.labels![EXCLUDE_LB_LABEL] = ''), true],
    ['autoscaler taint added', (n) => (n.spec!.taints = [{ key: TO_BE_DELETED_TAINT, effect: 'NoSchedule' }]), true],
    ['deletionTimestamp set', (n) => (n.metadata!.deletionTimestamp = new Date()), true],
    ['providerID changed', (n) => (n.spec!.providerID = 'aws:///us-east-1a/i-2'), true],
    ['providerID removed', (n) => delete n.spec!.providerID, true],
  ];
  for (const [name, mutate, expected] of cases) {
    const changed = node(mutate);
    assert.equal(nodeChangeNeedsSync(base, changed), expected, name);
    assert.equal(nodeChangeNeedsSync(changed, base), expected, `${name} (reverted)`);
  }
  const noID = node((n) => delete n.spec!.providerID);
  assert.equal(nodeChangeNeedsSync(noID, node()), true, 'providerID set later');
});

/** A fully populated LoadBalancer Service, as an informer would hand it over. */
function fullService(): V1Service {
  return {
    metadata: {
      namespace: 'ns',
      name: 'web',
      uid: '5c1f9e2a-0000-4000-8000-000000000001',
      resourceVersion: '100',
      labels: { app: 'web' },
      annotations: { 'example.com/option': 'a' },
      finalizers: [LB_FINALIZER],
    },
    spec: {
      type: 'LoadBalancer',
      selector: { app: 'web' },
      clusterIP: '10.96.0.10',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080, appProtocol: 'http' },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53, nodePort: 30053 },
      ],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      loadBalancerIP: '192.0.2.10',
      loadBalancerSourceRanges: ['203.0.113.0/24'],
      externalIPs: ['198.51.100.1'],
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
    },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'VIP' }] } },
  };
}

const port0 = (s: V1Service) => s.spec!.ports![0]!;

// The upstream needsUpdate table (controllers/service/controller.go), case by case.
const needsUpdateCases: Array<[string, (s: V1Service) => void, boolean]> = [
  ['identical objects', () => {}, false],
  ['labels only', (s) => (s.metadata!.labels = { app: 'web', tier: 'front' }), false],
  ['selector only', (s) => (s.spec!.selector = { app: 'web2' }), false],
  ['status only', (s) => (s.status = { loadBalancer: { ingress: [{ ip: '192.0.2.99' }] } }), false],
  ['resourceVersion only', (s) => (s.metadata!.resourceVersion = '101'), false],
  ['finalizers only', (s) => (s.metadata!.finalizers = []), false],
  ['ipFamilies reordered, same count', (s) => (s.spec!.ipFamilies = ['IPv6']), false],
  ['same appProtocol', (s) => (port0(s).appProtocol = 'http'), false],
  ['type LoadBalancer -> ClusterIP', (s) => (s.spec!.type = 'ClusterIP'), true],
  ['type LoadBalancer -> NodePort', (s) => (s.spec!.type = 'NodePort'), true],
  ['class set to one not owned', (s) => (s.spec!.loadBalancerClass = 'example.com/other'), true],
  ['port name', (s) => (port0(s).name = 'web'), true],
  ['port protocol', (s) => (port0(s).protocol = 'SCTP'), true],
  ['port number', (s) => (port0(s).port = 81), true],
  ['nodePort', (s) => (port0(s).nodePort = 30081), true],
  ['targetPort number', (s) => (port0(s).targetPort = 8081), true],
  ['targetPort number -> name', (s) => (port0(s).targetPort = 'http'), true],
  ['appProtocol set when unset', (s) => (s.spec!.ports![1]!.appProtocol = 'dns'), true],
  ['appProtocol changed', (s) => (port0(s).appProtocol = 'https'), true],
  ['appProtocol removed', (s) => delete port0(s).appProtocol, true],
  ['port added', (s) => s.spec!.ports!.push({ name: 'https', protocol: 'TCP', port: 443, targetPort: 8443, nodePort: 30443 }), true],
  ['port removed', (s) => s.spec!.ports!.pop(), true],
  ['ports reordered', (s) => s.spec!.ports!.reverse(), true],
  ['sessionAffinity', (s) => (s.spec!.sessionAffinity = 'None'), true],
  ['sessionAffinityConfig timeout', (s) => (s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }), true],
  ['sessionAffinityConfig removed', (s) => delete s.spec!.sessionAffinityConfig, true],
  ['loadBalancerIP', (s) => (s.spec!.loadBalancerIP = '192.0.2.11'), true],
  ['loadBalancerIP removed', (s) => delete s.spec!.loadBalancerIP, true],
  ['externalIPs count', (s) => s.spec!.externalIPs!.push('198.51.100.2'), true],
  ['externalIPs value', (s) => (s.spec!.externalIPs = ['198.51.100.3']), true],
  ['externalIPs removed', (s) => delete s.spec!.externalIPs, true],
  ['annotation value', (s) => (s.metadata!.annotations = { 'example.com/option': 'b' }), true],
  ['annotation added', (s) => (s.metadata!.annotations!['example.com/more'] = 'x'), true],
  ['annotations removed', (s) => delete s.metadata!.annotations, true],
  ['UID (deleted and re-created)', (s) => (s.metadata!.uid = '5c1f9e2a-0000-4000-8000-000000000002'), true],
  ['externalTrafficPolicy', (s) => (s.spec!.externalTrafficPolicy = 'Cluster'), true],
  ['healthCheckNodePort', (s) => (s.spec!.healthCheckNodePort = 32001), true],
  ['single -> dual stack', (s) => (s.spec!.ipFamilies = ['IPv4', 'IPv6']), true],
  ['loadBalancerSourceRanges value', (s) => (s.spec!.loadBalancerSourceRanges = ['203.0.113.0/25']), true],
  ['loadBalancerSourceRanges added', (s) => s.spec!.loadBalancerSourceRanges!.push('198.51.100.0/24'), true],
  ['loadBalancerSourceRanges removed', (s) => delete s.spec!.loadBalancerSourceRanges, true],
];

test('serviceNeedsUpdate follows the upstream needsUpdate table', () => {
  for (const [name, mutate, expected] of needsUpdateCases) {
    const oldSvc = fullService();
    const newSvc = fullService();
    mutate(newSvc);
    assert.equal(serviceNeedsUpdate(oldSvc, newSvc, null), expected, name);
    assert.equal(serviceNeedsUpdate(newSvc, oldSvc, null), expected, `${name} (reverse)`);
  }
});

test('serviceNeedsUpdate: dual -> single stack', () => {
  const dual = fullService();
  dual.spec!.ipFamilies = ['IPv4', 'IPv6'];
  dual.spec!.ipFamilyPolicy = 'RequireDualStack';
  const single = fullService();
  assert.equal(serviceNeedsUpdate(dual, single, null), true);
});

test('serviceNeedsUpdate: class-aware, a Service of the owned class behaves as an unclassed one does by default', () => {
  const owned = 'example.com/mine';
  const mine = fullService();
  mine.spec!.loadBalancerClass = owned;
  const changed = structuredClone(mine);
  changed.spec!.ports![0]!.port = 81;
  assert.equal(serviceNeedsUpdate(mine, structuredClone(mine), owned), false);
  assert.equal(serviceNeedsUpdate(mine, changed, owned), true);
  const retyped = structuredClone(mine);
  retyped.spec!.type = 'ClusterIP';
  assert.equal(serviceNeedsUpdate(mine, retyped, owned), true);
});

test('serviceNeedsUpdate: absent and empty lists or maps are the same', () => {
  const a = fullService();
  delete a.spec!.externalIPs;
  delete a.spec!.loadBalancerSourceRanges;
  delete a.metadata!.annotations;
  const b = structuredClone(a);
  b.spec!.externalIPs = [];
  b.spec!.loadBalancerSourceRanges = [];
  b.metadata!.annotations = {};
  assert.equal(serviceNeedsUpdate(a, b, null), false);
});

// Upstream's first rule: when neither the old nor the new Service wants a load balancer (of this controller's
// class), nothing needs a cloud update, whatever else changed.
test('serviceNeedsUpdate: a Service that wants no load balancer before or after never needs a cloud update', () => {
  const clusterIP = fullService();
  clusterIP.spec!.type = 'ClusterIP';
  const clusterIPChanged = structuredClone(clusterIP);
  clusterIPChanged.spec!.ports![0]!.port = 81;
  assert.equal(serviceNeedsUpdate(clusterIP, clusterIPChanged, null), false, 'ClusterIP port change');

  const otherClass = fullService();
  otherClass.spec!.loadBalancerClass = 'example.com/other';
  const otherClassChanged = structuredClone(otherClass);
  otherClassChanged.metadata!.annotations = { 'example.com/option': 'b' };
  assert.equal(serviceNeedsUpdate(otherClass, otherClassChanged, null), false, 'another class, annotation change');
});

test('isManagedBy and needsCleanup follow the class recorded with the finalizer, which survives a type change', () => {
  const changedToClusterIP = (recorded: string | undefined): V1Service => ({
    metadata: {
      finalizers: [LB_FINALIZER],
      ...(recorded === undefined ? {} : { annotations: { [MANAGED_CLASS_ANNOTATION]: recorded } }),
    },
    // The API server cleared loadBalancerClass along with the type.
    spec: { type: 'ClusterIP' },
  });
  assert.equal(needsCleanup(changedToClusterIP('example.com/x'), 'example.com/x'), true, 'the classed controller that provisioned it');
  assert.equal(needsCleanup(changedToClusterIP('example.com/x'), null), false, 'not the default-class controller');
  assert.equal(needsCleanup(changedToClusterIP(''), null), true, 'recorded as unclassed');
  assert.equal(needsCleanup(changedToClusterIP(''), 'example.com/x'), false);
  assert.equal(needsCleanup(changedToClusterIP(undefined), null), true, 'no record: by spec (no class)');
  assert.equal(isManagedBy(changedToClusterIP(undefined), 'example.com/x'), false);
});

test('isOurs: wants a load balancer of our class, or holds one we provisioned', () => {
  const ours = { [MANAGED_CLASS_ANNOTATION]: '' };
  assert.equal(isOurs(service(), null), true);
  assert.equal(isOurs(service({ loadBalancerClass: 'example.com/other' }), null), false);
  assert.equal(
    isOurs(service({ type: 'ClusterIP' }, { finalizers: [LB_FINALIZER], annotations: ours }), null),
    true,
    'type changed: still ours to clean up',
  );
  assert.equal(
    isOurs(
      service({ type: 'ClusterIP' }, { finalizers: [LB_FINALIZER], annotations: { [MANAGED_CLASS_ANNOTATION]: 'example.com/other' } }),
      null,
    ),
    false,
  );
  assert.equal(isOurs(service({ type: 'ClusterIP' }, { annotations: ours }), null), false, 'no finalizer: nothing left to clean');
});

test('serviceKeyOf: "namespace/name", as the contract\'s serviceKey', () => {
  assert.equal(serviceKeyOf(service()), 'ns/web');
  assert.equal(serviceKeyOf({ metadata: { name: 'x' } }), 'default/x');
});
