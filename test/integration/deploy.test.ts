// The deploy/base/ files: consistent with each other and the config, accepted by a real API server, and their RBAC exactly sufficient.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1Deployment,
  type V1ResourceAttributes,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { LeaderElector } from '../../src/kube/leader-election.ts';
import { azureProviderConfigSchema } from '../../src/providers/azure/config.ts';
import { gcpProviderConfigSchema } from '../../src/providers/gcp/config.ts';
import { useControlPlane } from '../harness/node-test.ts';

const deployDir = fileURLToPath(new URL('../../deploy/base/', import.meta.url));
const configExample = fileURLToPath(new URL('../../deploy/config.example.yaml', import.meta.url));
const SA = { namespace: 'kube-system', name: 'service-lb-controller' };
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding']);

const plane = useControlPlane();

interface Kustomization {
  namespace: string;
  resources: string[];
}

const kustomization = parseYaml(readFileSync(join(deployDir, 'kustomization.yaml'), 'utf8')) as Kustomization;

/** Every object of the manifests, namespaced as kustomize would. */
function manifests(): Array<{ file: string; object: KubernetesObject }> {
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(deployDir, file), 'utf8')).map((doc) => {
      const object = doc.toJS() as KubernetesObject;
      if (!CLUSTER_SCOPED.has(object.kind!)) object.metadata = { ...object.metadata, namespace: kustomization.namespace };
      return { file, object };
    }),
  );
}

function find<T extends KubernetesObject>(kind: string): T {
  const found = manifests().filter(({ object }) => object.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!.object as T;
}

/** The config the base ConfigMap ships, as the controller would read it. */
function baseConfigText(): string {
  return find<KubernetesObject & { data: Record<string, string> }>('ConfigMap').data['config.yaml']!;
}
function baseConfig(): Config {
  return parseConfig(parseYaml(baseConfigText()), 'deploy/base/configmap.yaml config.yaml');
}

/** Every value we wrote must come back: the client drops unknown fields, so a typo would vanish. */
function assertKept(sent: unknown, received: unknown, path: string): void {
  if (sent !== null && typeof sent === 'object') {
    assert.ok(received !== null && typeof received === 'object', `${path}: missing in what the server stored`);
    for (const [key, value] of Object.entries(sent)) {
      assertKept(value, (received as Record<string, unknown>)[key], Array.isArray(sent) ? `${path}[${key}]` : `${path}.${key}`);
    }
    return;
  }
  assert.equal(received, sent, `${path}: the server stored something else`);
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

async function forbidden(what: string, call: () => Promise<unknown>): Promise<void> {
  await assert.rejects(call, (err: unknown) => err instanceof ApiException && err.code === 403, `${what} should be forbidden`);
}

describe('deploy/base/ files', () => {
  test('kustomization.yaml lists every manifest in deploy/base/, and only those', () => {
    const yamlFiles = readdirSync(deployDir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    assert.deepEqual([...kustomization.resources].sort(), yamlFiles.sort());
    assert.equal(kustomization.namespace, 'kube-system');
    for (const file of kustomization.resources) {
      for (const doc of parseAllDocuments(readFileSync(join(deployDir, file), 'utf8'))) {
        const object = doc.toJS() as KubernetesObject;
        assert.ok(object.metadata?.name, `${file}: every object has a name`);
        assert.equal(object.metadata.namespace, undefined, `${file}: the namespace comes from kustomization.yaml`);
      }
    }
  });

  test('config.example.yaml is a valid config that spells out every field', async () => {
    const file = configExample;
    const config = await loadConfig(file);
    const raw = parseYaml(readFileSync(file, 'utf8')) as unknown;
    // Every key the schema fills in (defaults included) must be written in the example.
    const missing: string[] = [];
    const walk = (parsed: unknown, written: unknown, path: string): void => {
      if (parsed === null || typeof parsed !== 'object' || written === null || typeof written !== 'object') return;
      for (const [key, value] of Object.entries(parsed)) {
        const at = Array.isArray(parsed) ? `${path}[${key}]` : `${path}.${key}`;
        if (!(key in written)) missing.push(at);
        else walk(value, (written as Record<string, unknown>)[key], at);
      }
    };
    walk(config, raw, 'config');
    assert.deepEqual(missing, []);
  });

  test("config.example.yaml's commented-out azure and gcp sections, uncommented, are valid and spell out every field", async () => {
    const text = readFileSync(configExample, 'utf8');
    for (const name of ['azure', 'gcp'] as const) {
      // The block is the "  # <name>:" line and the "  #   " lines under it; "  # " comes off each.
      const lines = text.split('\n');
      const start = lines.indexOf(`  # ${name}:`);
      assert.ok(start > 0, `a commented-out ${name} section`);
      const block: string[] = [];
      for (const line of lines.slice(start)) {
        if (!line.startsWith('  # ')) break;
        block.push(line.slice(4));
      }
      const written = (parseYaml(block.join('\n')) as Record<string, Record<string, unknown>>)[name]!;
      const config = parseConfig({ provider: { name, [name]: written } }, configExample);
      const schemaKeys = Object.keys((name === 'azure' ? azureProviderConfigSchema : gcpProviderConfigSchema).shape);
      assert.deepEqual(Object.keys(written).sort(), schemaKeys.sort(), `provider.${name}: every field, and only those`);
      assert.deepEqual(config.provider[name], { ...config.provider[name], ...written }, `provider.${name} is read as written`);
    }
  });

  // The provider's settings come from an overlay (deploy/overlays/, test/integration/overlays.test.ts).
  test('the base ConfigMap is a valid config for the local provider, with no cloud section to fill in', () => {
    const config = baseConfig();
    assert.equal(config.provider.name, 'local');
    const written = parseYaml(baseConfigText()) as { provider: Record<string, unknown> };
    assert.deepEqual(Object.keys(written.provider), ['name'], 'no aws or azure section with placeholder IDs');
  });

  test('the manifests agree with the config: lease, ports, config path', () => {
    const config = baseConfig();
    assert.equal(config.leaderElection.namespace, kustomization.namespace);
    const role = find<KubernetesObject & { rules: Array<{ resourceNames?: string[] }> }>('Role');
    assert.deepEqual(
      role.rules.flatMap((r) => r.resourceNames ?? []),
      [config.leaderElection.leaseName],
    );

    const deployment = find<V1Deployment>('Deployment');
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(pod.containers.length, 1);
    assert.equal(container.command, undefined, "the image's entrypoint carries the node flags");
    assert.deepEqual(container.args, ['run', '--config', '/etc/service-lb-controller/config.yaml']);
    const configMount = container.volumeMounts!.find((m) => m.mountPath === '/etc/service-lb-controller')!;
    const volume = pod.volumes!.find((v) => v.name === configMount.name)!;
    assert.equal(volume.configMap?.name, find('ConfigMap').metadata!.name);
    const port = (name: string) => container.ports!.find((p) => p.name === name)?.containerPort;
    assert.equal(`:${port('metrics')}`, config.server.metricsAddress);
    assert.equal(`:${port('health')}`, config.server.healthAddress);
    assert.deepEqual([container.livenessProbe?.httpGet?.path, container.livenessProbe?.httpGet?.port], ['/healthz', 'health']);
    assert.deepEqual([container.readinessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.port], ['/readyz', 'health']);
    assert.equal(pod.serviceAccountName, find('ServiceAccount').metadata!.name);
  });

  test('the Deployment is locked down and prefers control-plane nodes', () => {
    const deployment = find<V1Deployment>('Deployment');
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(deployment.spec!.replicas, 2);
    assert.equal(container.image, 'ghcr.io/service-lb-controller/service-lb-controller:0.1.0');
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.ok((pod.securityContext?.runAsUser ?? 0) > 0);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'] });
    assert.equal(pod.hostNetwork, undefined);
    assert.ok(pod.tolerations?.some((t) => t.key === 'node-role.kubernetes.io/control-plane' && t.operator === 'Exists'));
    assert.equal(pod.nodeSelector, undefined, 'a preference, not a requirement');
    const preferred = pod.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    assert.ok(
      preferred.some((p) =>
        p.preference.matchExpressions?.some((e) => e.key === 'node-role.kubernetes.io/control-plane' && e.operator === 'Exists'),
      ),
    );
    assert.equal(pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined);
  });
});

describe('deploy/base/ on a real API server', () => {
  let sa: KubeConfig;

  before(async () => {
    const objects = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
    for (const { file, object } of manifests()) {
      const created = await objects.create(object);
      assertKept(object, JSON.parse(JSON.stringify(created)), `${file} ${object.kind}/${object.metadata!.name}`);
    }
    sa = (await plane().serviceAccountKubeConfig(SA.namespace, SA.name)).kubeConfig;
  });

  test('every manifest was accepted and reads back as written', async () => {
    const objects = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
    for (const { object } of manifests()) {
      const header = {
        apiVersion: object.apiVersion!,
        kind: object.kind!,
        metadata: { name: object.metadata!.name!, namespace: object.metadata!.namespace },
      };
      const stored = await objects.read(header as Parameters<typeof objects.read>[0]);
      assert.equal(stored.metadata?.name, object.metadata!.name);
    }
  });

  /** What the ServiceAccount may do, asked as the ServiceAccount itself. */
  async function can(attributes: V1ResourceAttributes): Promise<boolean> {
    const review = await sa
      .makeApiClient(AuthorizationV1Api)
      .createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: attributes } } });
    return review.status?.allowed === true;
  }

  test('the ServiceAccount can do everything the controller needs', async () => {
    const needed: V1ResourceAttributes[] = [
      ...['get', 'list', 'watch', 'update', 'patch'].map((verb) => ({ verb, resource: 'services' })),
      ...['patch', 'update'].map((verb) => ({ verb, resource: 'services', subresource: 'status', namespace: 'team-a', name: 'web' })),
      ...['get', 'list', 'watch'].map((verb) => ({ verb, resource: 'nodes' })),
      ...['create', 'patch'].flatMap((verb) => [
        { verb, resource: 'events', namespace: 'team-a' },
        { verb, group: 'events.k8s.io', resource: 'events', namespace: 'team-a' },
      ]),
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
      // watch: a waiting replica watches its Lease (a metadata.name field selector names it).
      ...['get', 'update', 'watch'].map((verb) => ({
        verb,
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'kube-system',
        name: 'service-lb-controller',
      })),
      // Once at start, to spot a cloud-controller-manager's Lease.
      { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
    ];
    for (const attributes of needed) assert.equal(await can(attributes), true, JSON.stringify(attributes));
  });

  test('the ServiceAccount cannot do anything else that matters', async () => {
    const denied: V1ResourceAttributes[] = [
      ...['get', 'list', 'watch'].flatMap((verb) => [
        { verb, resource: 'secrets' },
        { verb, resource: 'secrets', namespace: 'kube-system' },
        { verb, resource: 'configmaps', namespace: 'kube-system' },
        { verb, resource: 'pods' },
        { verb, resource: 'endpoints' },
        { verb, group: 'discovery.k8s.io', resource: 'endpointslices' },
        { verb, resource: 'serviceaccounts', namespace: 'kube-system' },
      ]),
      { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: 'kube-system', name: 'service-lb-controller' },
      ...['create', 'delete', 'deletecollection'].map((verb) => ({ verb, resource: 'services', namespace: 'team-a' })),
      ...['create', 'update', 'patch', 'delete'].map((verb) => ({ verb, resource: 'nodes', name: 'node-1' })),
      { verb: 'patch', resource: 'nodes', subresource: 'status', name: 'node-1' },
      ...['get', 'list', 'delete'].map((verb) => ({ verb, resource: 'events', namespace: 'team-a' })),
      // The lease rules write only the controller's own Lease, and reach only kube-system (where listing
      // shows other Leases' holders, nothing more).
      ...['get', 'update', 'delete'].map((verb) => ({
        verb,
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'kube-system',
        name: 'kube-scheduler',
      })),
      { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system', name: 'service-lb-controller' },
      { verb: 'watch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
      { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'team-a' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'team-a' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'team-a', name: 'service-lb-controller' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'impersonate', resource: 'users' },
      { verb: '*', group: '*', resource: '*' },
    ];
    for (const attributes of denied) assert.equal(await can(attributes), false, JSON.stringify(attributes));
  });

  test('a SubjectAccessReview by the admin agrees', async () => {
    const authz = plane().kubeConfig.makeApiClient(AuthorizationV1Api);
    const user = `system:serviceaccount:${SA.namespace}:${SA.name}`;
    const groups = ['system:serviceaccounts', `system:serviceaccounts:${SA.namespace}`, 'system:authenticated'];
    const check = async (resourceAttributes: V1ResourceAttributes) =>
      (await authz.createSubjectAccessReview({ body: { spec: { user, groups, resourceAttributes } } })).status?.allowed === true;
    assert.equal(await check({ verb: 'patch', resource: 'services', subresource: 'status', namespace: 'team-a' }), true);
    assert.equal(await check({ verb: 'list', resource: 'secrets' }), false);
    assert.equal(await check({ verb: 'delete', resource: 'nodes', name: 'node-1' }), false);
  });

  test('the rules the ServiceAccount holds are exactly the ones granted, in kube-system and elsewhere', async () => {
    const authz = sa.makeApiClient(AuthorizationV1Api);
    // Granted to every authenticated user by the API server's default roles, not by deploy/.
    const builtin = new Set(['authorization.k8s.io', 'authentication.k8s.io']);
    const rulesIn = async (namespace: string) => {
      const review = await authz.createSelfSubjectRulesReview({ body: { spec: { namespace } } });
      return review
        .status!.resourceRules.filter((rule) => !rule.apiGroups?.every((g) => builtin.has(g)))
        .flatMap((rule) =>
          rule.apiGroups!.flatMap((group) =>
            rule.resources!.flatMap((resource) =>
              rule.verbs.flatMap((verb) =>
                (rule.resourceNames?.length ? rule.resourceNames : ['*']).map((name) => `${group}/${resource} ${verb} ${name}`),
              ),
            ),
          ),
        )
        .sort();
    };
    const cluster = [
      ...['get', 'list', 'watch', 'update', 'patch'].map((verb) => `/services ${verb} *`),
      ...['patch', 'update'].map((verb) => `/services/status ${verb} *`),
      ...['get', 'list', 'watch'].map((verb) => `/nodes ${verb} *`),
      ...['create', 'patch'].flatMap((verb) => [`/events ${verb} *`, `events.k8s.io/events ${verb} *`]),
    ];
    const leases = [
      'coordination.k8s.io/leases create *',
      'coordination.k8s.io/leases get service-lb-controller',
      'coordination.k8s.io/leases list *',
      'coordination.k8s.io/leases update service-lb-controller',
      'coordination.k8s.io/leases watch service-lb-controller',
    ];
    assert.deepEqual(await rulesIn('team-a'), [...cluster].sort());
    assert.deepEqual(await rulesIn('kube-system'), [...cluster, ...leases].sort());
  });

  test('as the ServiceAccount: the controller calls work, and secrets and node deletion are refused', async () => {
    const admin = plane().core;
    const core = sa.makeApiClient(CoreV1Api);
    await plane().createNamespace('team-a');
    await plane().createNode('node-1', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] });
    await admin.createNamespacedService({
      namespace: 'team-a',
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] } },
    });
    await admin.createNamespacedSecret({ namespace: 'team-a', body: { metadata: { name: 'db' }, stringData: { password: 'x' } } });

    const services = await core.listServiceForAllNamespaces();
    assert.ok(services.items.some((s) => s.metadata?.name === 'web'));
    assert.equal((await core.listNode()).items.length, 1);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await core.patchNamespacedService(
      { name: 'web', namespace: 'team-a', body: { metadata: { finalizers: ['service.kubernetes.io/load-balancer-cleanup'] } } },
      merge,
    );
    const withStatus = await core.patchNamespacedServiceStatus(
      { name: 'web', namespace: 'team-a', body: { status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } } } },
      merge,
    );
    assert.equal(withStatus.status?.loadBalancer?.ingress?.[0]?.ip, '192.0.2.10');
    const event = await core.createNamespacedEvent({
      namespace: 'team-a',
      body: {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Service', namespace: 'team-a', name: 'web' },
        reason: 'EnsuredLoadBalancer',
        message: 'Ensured load balancer',
        type: 'Normal',
        count: 1,
        source: { component: 'service-lb-controller' },
      },
    });
    await core.patchNamespacedEvent({ name: event.metadata!.name!, namespace: 'team-a', body: { count: 2 } }, merge);

    await forbidden('reading a secret', () => core.readNamespacedSecret({ name: 'db', namespace: 'team-a' }));
    await forbidden('listing secrets', () => core.listSecretForAllNamespaces());
    await forbidden('deleting a node', () => core.deleteNode({ name: 'node-1' }));
    await forbidden('deleting a service', () => core.deleteNamespacedService({ name: 'web', namespace: 'team-a' }));
    await forbidden('listing pods', () => core.listPodForAllNamespaces());
    await forbidden('reading another lease', () =>
      sa.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'other', namespace: 'kube-system' }),
    );
  });

  test('as the ServiceAccount: leader election on the configured Lease acquires and releases it', async () => {
    const config = baseConfig();
    const elector = new LeaderElector({
      kubeConfig: sa,
      namespace: config.leaderElection.namespace,
      leaseName: config.leaderElection.leaseName,
      identity: 'replica-1',
      leaseDurationMs: config.leaderElection.leaseDuration,
      renewDeadlineMs: config.leaderElection.renewDeadline,
      retryPeriodMs: config.leaderElection.retryPeriod,
      logger: pino({ level: 'silent' }),
    });
    let lost = false;
    elector.run({ onStartedLeading: () => {}, onStoppedLeading: () => (lost = true) });
    try {
      await eventually('it leads', () => elector.isLeader);
      // Past a few renewals (retryPeriod 2 s): update, not only create, is allowed.
      const lease = () =>
        plane()
          .kubeConfig.makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: 'service-lb-controller', namespace: 'kube-system' });
      const firstRenew = String((await lease()).spec?.renewTime);
      await eventually('it renewed', async () => String((await lease()).spec?.renewTime) !== firstRenew);
      assert.equal(elector.isLeader, true);
      assert.equal(lost, false);
    } finally {
      await elector.stop();
    }
    const released = await plane()
      .kubeConfig.makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'service-lb-controller', namespace: 'kube-system' });
    assert.equal(released.spec?.holderIdentity, '');
  });
});
