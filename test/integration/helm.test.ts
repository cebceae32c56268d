// The Helm chart deploy/helm/service-lb-controller: lint, what each value renders (the external data path as overlays/local-external), and an install on a real API server whose RBAC runs the controller.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  CoordinationV1Api,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ConfigMap,
  type V1Container,
  type V1Deployment,
  type V1Role,
  type V1Service,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { findTool } from '../harness/binaries.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { spawnManaged, tailFile, type ManagedProcess } from '../harness/processes.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = join(root, 'deploy/helm/service-lb-controller');
const FINALIZER = 'service.kubernetes.io/load-balancer-cleanup';

const plane = useControlPlane();
// helm keeps a cache, a config and plugins under HOME by default: give it its own.
const work = mkdtempSync(join(tmpdir(), 'slb-helm-'));
after(() => rmSync(work, { recursive: true, force: true }));

let valuesFiles = 0;
function helm(args: string[], values?: object): string {
  const extra: string[] = [];
  if (values) {
    const file = join(work, `values-${valuesFiles++}.yaml`);
    writeFileSync(file, stringify(values));
    extra.push('--values', file);
  }
  const run = spawnSync(findTool('helm'), [...args, ...extra], {
    encoding: 'utf8',
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(work, 'cache'),
      HELM_CONFIG_HOME: join(work, 'config'),
      HELM_DATA_HOME: join(work, 'data'),
    },
  });
  assert.equal(run.status, 0, `helm ${args.join(' ')} failed (${run.error?.message ?? run.status}):\n${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** `helm template` as release service-lb-controller in kube-system, the names deploy/ uses. */
function render(values: object = {}, release = 'service-lb-controller', namespace = 'kube-system'): KubernetesObject[] {
  return parseAllDocuments(helm(['template', release, chart, '--namespace', namespace], values))
    .map((doc) => doc.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);
}

function one<T extends KubernetesObject>(objects: KubernetesObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} in ${objects.map((o) => o.kind).join(', ')}`);
  return found[0] as T;
}

function configOf(objects: KubernetesObject[]) {
  return parseConfig(parseYaml(one<V1ConfigMap>(objects, 'ConfigMap').data!['config.yaml']!), 'the chart ConfigMap');
}

/** `kustomize build` of a directory under deploy/, for what the chart must render alike. */
function kustomize(dir: string): KubernetesObject[] {
  const run = spawnSync(findTool('kustomize'), ['build', join(root, 'deploy', dir)], { encoding: 'utf8' });
  assert.equal(run.status, 0, `kustomize build deploy/${dir} failed (${run.error?.message ?? run.status}):\n${run.stderr}`);
  return parseAllDocuments(run.stdout).map((doc) => doc.toJS() as KubernetesObject);
}

function deployFile<T>(file: string): T {
  return parseYaml(readFileSync(join(root, 'deploy/base', file), 'utf8')) as T;
}

const AWS = { provider: { name: 'aws', aws: { region: 'eu-west-1', vpcId: 'vpc-0abc' } } };

describe('helm chart: lint and template', () => {
  test('helm lint --strict passes with the default values and with every option set', () => {
    helm(['lint', '--strict', chart]);
    helm(['lint', '--strict', chart], {
      config: AWS,
      aws: { roleArn: 'arn:aws:iam::111122223333:role/slc' },
      azure: { workloadIdentity: { clientId: '00000000-0000-0000-0000-000000000001' } },
      local: { hostNetwork: true },
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
    });
    helm(['lint', '--strict', chart], { local: { dataPath: 'external' }, serviceMonitor: { enabled: true } });
  });

  test('RBAC: the same rules as deploy/base/, bound to the chart ServiceAccount', () => {
    const objects = render();
    assert.deepEqual(one<V1ClusterRole>(objects, 'ClusterRole').rules, deployFile<V1ClusterRole>('clusterrole.yaml').rules);
    assert.deepEqual(one<V1Role>(objects, 'Role').rules, deployFile<V1Role>('role.yaml').rules);
    const sa = one<V1ServiceAccount>(objects, 'ServiceAccount').metadata!;
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
      const binding = one<KubernetesObject & { subjects: Array<{ kind: string; name: string; namespace: string }> }>(objects, kind);
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.name, namespace: 'kube-system' }]);
    }
    assert.equal(one<V1Deployment>(objects, 'Deployment').spec!.template.spec!.serviceAccountName, sa.name);
  });

  test('defaults: the local provider, two locked-down replicas like deploy/base/, no hostNetwork, no ServiceMonitor', () => {
    const objects = render();
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'Role',
      'RoleBinding',
      'ServiceAccount',
    ]);
    const config = configOf(objects);
    assert.equal(config.provider.name, 'local');
    const deployment = one<V1Deployment>(objects, 'Deployment');
    const reference = deployFile<V1Deployment>('deployment.yaml');
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(deployment.spec!.replicas, 2);
    assert.equal(container.image, reference.spec!.template.spec!.containers[0]!.image, 'the tag is the appVersion');
    for (const key of ['command', 'ports', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'volumeMounts'] as const) {
      assert.deepEqual(container[key], reference.spec!.template.spec!.containers[0]![key], key);
    }
    assert.deepEqual(pod.securityContext, reference.spec!.template.spec!.securityContext);
    assert.deepEqual(pod.tolerations, reference.spec!.template.spec!.tolerations);
    assert.equal(pod.hostNetwork, undefined);
    assert.equal(pod.volumes!.find((v) => v.name === 'config')?.configMap?.name, one(objects, 'ConfigMap').metadata!.name);
    assert.deepEqual(Object.keys(one(objects, 'ServiceAccount').metadata!.annotations ?? {}), []);
  });

  test('config is rendered as YAML the controller accepts; the Lease it names is the one the Role grants', () => {
    const objects = render({ config: { ...AWS, controller: { workers: 8 } } }, 'edge', 'lb-system');
    const config = configOf(objects);
    assert.equal(config.provider.name, 'aws');
    assert.equal(config.provider.aws?.vpcId, 'vpc-0abc');
    assert.equal(config.controller.workers, 8);
    assert.deepEqual(config.leaderElection.namespace, 'lb-system');
    assert.deepEqual(config.leaderElection.leaseName, 'edge-service-lb-controller');
    const role = one<V1Role>(objects, 'Role');
    assert.equal(role.metadata!.namespace, 'lb-system');
    assert.deepEqual(
      role.rules!.flatMap((r) => r.resourceNames ?? []),
      ['edge-service-lb-controller'],
    );
    // A different config rolls the pods.
    const checksum = (o: KubernetesObject[]) => one<V1Deployment>(o, 'Deployment').spec!.template.metadata!.annotations!['checksum/config'];
    assert.notEqual(checksum(objects), checksum(render({ config: AWS }, 'edge', 'lb-system')));
  });

  test('image, replicas and resources come from the values', () => {
    const deployment = one<V1Deployment>(
      render({
        image: { repository: 'registry.example/slc', tag: '9.9.9', pullPolicy: 'Always' },
        replicaCount: 3,
        resources: { requests: { cpu: '1', memory: '1Gi' } },
      }),
      'Deployment',
    );
    const container = deployment.spec!.template.spec!.containers[0]!;
    assert.equal(deployment.spec!.replicas, 3);
    assert.equal(container.image, 'registry.example/slc:9.9.9');
    assert.equal(container.imagePullPolicy, 'Always');
    assert.deepEqual(container.resources, { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '256Mi' } });
  });

  test('IRSA and Azure workload identity: ServiceAccount annotations, and the pod label the Azure webhook selects', () => {
    const objects = render({
      aws: { roleArn: 'arn:aws:iam::111122223333:role/slc' },
      azure: { workloadIdentity: { clientId: '00000000-0000-0000-0000-000000000001' } },
      serviceAccount: { annotations: { team: 'net' } },
    });
    assert.deepEqual(one(objects, 'ServiceAccount').metadata!.annotations, {
      'azure.workload.identity/client-id': '00000000-0000-0000-0000-000000000001',
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/slc',
      team: 'net',
    });
    const labels = one<V1Deployment>(objects, 'Deployment').spec!.template.metadata!.labels!;
    assert.equal(labels['azure.workload.identity/use'], 'true');
    const plain = one<V1Deployment>(render(), 'Deployment').spec!.template.metadata!.labels!;
    assert.equal(plain['azure.workload.identity/use'], undefined);
  });

  test('local.hostNetwork: the node network and an effective NET_ADMIN, only with the local provider', () => {
    const pod = (values: object) => one<V1Deployment>(render(values), 'Deployment').spec!.template.spec!;
    const local = pod({ local: { hostNetwork: true } });
    assert.equal(local.hostNetwork, true);
    assert.equal(local.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(local.containers[0]!.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] });
    assert.equal(local.securityContext?.runAsUser, 0, 'a non-root process cannot use an added capability');
    assert.equal(local.containers[0]!.securityContext?.allowPrivilegeEscalation, false);

    for (const other of [pod({ local: { hostNetwork: true }, config: AWS }), pod({})]) {
      assert.equal(other.hostNetwork, undefined);
      assert.deepEqual(other.containers[0]!.securityContext?.capabilities, { drop: ['ALL'] });
      assert.equal(other.securityContext?.runAsNonRoot, true);
    }
  });

  test('local.dataPath external: the pod of overlays/local-external, and a config the proxy and the controller share', () => {
    const objects = render({ local: { dataPath: 'external' } });
    const overlay = kustomize('overlays/local-external');
    const config = configOf(objects);
    const overlayConfig = parseConfig(parseYaml(one<V1ConfigMap>(overlay, 'ConfigMap').data!['config.yaml']!), 'overlays/local-external');
    assert.equal(config.provider.local.dataPath, 'external');
    for (const key of ['proxySocket', 'proxyServer'] as const)
      assert.deepEqual(config.provider.local[key], overlayConfig.provider.local[key], key);
    assert.deepEqual(config.server, overlayConfig.server);

    const deployment = one<V1Deployment>(objects, 'Deployment');
    const reference = one<V1Deployment>(overlay, 'Deployment');
    assert.equal(deployment.spec!.replicas, 1, 'whatever replicaCount says');
    assert.deepEqual(deployment.spec!.strategy, reference.spec!.strategy);
    const pod = deployment.spec!.template.spec!;
    const referencePod = reference.spec!.template.spec!;
    for (const key of ['hostNetwork', 'dnsPolicy', 'securityContext', 'terminationGracePeriodSeconds'] as const)
      assert.deepEqual(pod[key], referencePod[key], key);
    const socketVolume = (p: typeof pod) => p.volumes!.find((v) => v.name === 'proxy-socket');
    assert.deepEqual(socketVolume(pod), socketVolume(referencePod));
    assert.deepEqual(
      pod.containers.map((c) => c.name),
      referencePod.containers.map((c) => c.name),
    );
    const mounts = (c: V1Container) => [...(c.volumeMounts ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    for (const [i, container] of pod.containers.entries()) {
      const expected = referencePod.containers[i]!;
      for (const key of ['image', 'args', 'ports', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext'] as const)
        assert.deepEqual(container[key], expected[key], `${container.name}: ${key}`);
      assert.deepEqual(mounts(container), mounts(expected), `${container.name}: volumeMounts`);
    }
  });

  test('local.dataPath external: the Deployment is accepted by a real API server (server-side dry run)', async () => {
    const deployment = one<V1Deployment>(render({ local: { dataPath: 'external' } }), 'Deployment');
    const api = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
    const accepted = JSON.parse(JSON.stringify(await api.create(deployment, undefined, 'All'))) as V1Deployment;
    assert.deepEqual(
      accepted.spec!.template.spec!.containers.map((c) => [c.name, c.readinessProbe?.httpGet?.port]),
      [
        ['controller', 'health'],
        ['proxy', 'proxy-health'],
      ],
    );
  });

  test('local.dataPath external follows the config: its proxy addresses and socket, and nothing without the local provider', () => {
    const objects = render({
      local: { dataPath: 'external' },
      config: { provider: { name: 'local', local: { proxySocket: '/var/run/slc/p.sock', proxyServer: { metricsAddress: ':9100' } } } },
      serviceMonitor: { enabled: true },
    });
    const config = configOf(objects);
    assert.deepEqual(config.provider.local.proxyServer, { metricsAddress: ':9100', healthAddress: ':10268' });
    const pod = one<V1Deployment>(objects, 'Deployment').spec!.template.spec!;
    const proxy = pod.containers.find((c) => c.name === 'proxy')!;
    assert.deepEqual(
      proxy.ports!.map((p) => [p.name, p.containerPort]),
      [
        ['proxy-metrics', 9100],
        ['proxy-health', 10268],
      ],
    );
    for (const container of pod.containers)
      assert.equal(container.volumeMounts!.find((m) => m.name === 'proxy-socket')?.mountPath, '/var/run/slc', container.name);
    // Prometheus scrapes the proxy too.
    assert.deepEqual(
      one<V1Service>(objects, 'Service').spec!.ports!.map((p) => [p.name, p.port]),
      [
        ['metrics', 8080],
        ['proxy-metrics', 9100],
      ],
    );
    const monitor = one<KubernetesObject & { spec: { endpoints: { port: string }[] } }>(objects, 'ServiceMonitor');
    assert.deepEqual(
      monitor.spec.endpoints.map((e) => e.port),
      ['metrics', 'proxy-metrics'],
    );

    // The config alone asks for it too; another provider never gets a proxy.
    const byConfig = one<V1Deployment>(render({ config: { provider: { name: 'local', local: { dataPath: 'external' } } } }), 'Deployment');
    assert.deepEqual(
      byConfig.spec!.template.spec!.containers.map((c) => c.name),
      ['controller', 'proxy'],
    );
    const aws = render({ local: { dataPath: 'external' }, config: AWS });
    assert.deepEqual(
      one<V1Deployment>(aws, 'Deployment').spec!.template.spec!.containers.map((c) => c.name),
      ['controller'],
    );
    assert.equal(configOf(aws).provider.local.dataPath, 'inProcess');
  });

  test('serviceMonitor.enabled: a ServiceMonitor and a metrics Service that select the controller pods', () => {
    const objects = render({ serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } } });
    const monitor = one<KubernetesObject & { spec: Record<string, never> }>(objects, 'ServiceMonitor');
    const service = one<V1Service>(objects, 'Service');
    const pods = one<V1Deployment>(objects, 'Deployment').spec!.template.metadata!.labels!;
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor.metadata!.labels!.release, 'prometheus');
    assert.deepEqual(monitor.spec, {
      selector: { matchLabels: service.spec!.selector },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
    });
    // The monitor selects the Service by its labels; the Service selects the pods by theirs.
    for (const [key, value] of Object.entries(service.spec!.selector!)) {
      assert.equal(service.metadata!.labels![key], value, `the Service carries ${key}`);
      assert.equal(pods[key], value, `the pods carry ${key}`);
    }
    assert.deepEqual(service.spec!.ports, [{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
  });
});

async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

describe('helm install on a real API server', () => {
  const release = 'edge';
  const namespace = 'lb-system';
  const fullname = 'edge-service-lb-controller';
  // The addresses this test's Service may get: loopback, so the proxy needs no privileges.
  const values = {
    config: {
      clusterName: 'helm-test',
      provider: { name: 'local', local: { addressPools: [{ name: 'default', addresses: ['127.0.100.220-127.0.100.229'] }] } },
    },
  };
  let controller: ManagedProcess | undefined;

  before(async () => {
    await plane().createNamespace(namespace);
    helm(['install', release, chart, '--namespace', namespace, '--kubeconfig', plane().kubeconfigPath], values);
  });
  after(async () => controller?.stop(10_000));

  test('every object of the release is stored as the chart rendered it', async () => {
    const manifest = helm(['get', 'manifest', release, '--namespace', namespace, '--kubeconfig', plane().kubeconfigPath]);
    const objects = parseAllDocuments(manifest)
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => o !== null);
    assert.deepEqual(
      objects.map((o) => o.kind).sort(),
      render(values, release, namespace)
        .map((o) => o.kind)
        .sort(),
    );
    const api = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
    for (const object of objects) {
      const stored = await api.read({
        apiVersion: object.apiVersion!,
        kind: object.kind!,
        metadata: { name: object.metadata!.name!, namespace: object.metadata!.namespace! },
      });
      assert.deepEqual(stored.metadata?.labels, object.metadata!.labels, `${object.kind}/${object.metadata!.name}`);
    }
  });

  test('the controller, as the chart ServiceAccount with the chart ConfigMap, gives a LoadBalancer Service its finalizer and address', async () => {
    const configMap = await plane().core.readNamespacedConfigMap({ name: `${fullname}-config`, namespace });
    const config = parseYaml(configMap.data!['config.yaml']!) as Record<string, unknown>;
    // The one change: it runs on this host beside other tests, not in a pod, so its servers take free ports.
    config.server = { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' };
    const configPath = join(work, 'controller.yaml');
    writeFileSync(configPath, stringify(config));
    const sa = await plane().serviceAccountKubeConfig(namespace, fullname);
    const logPath = join(work, 'controller.log');
    controller = spawnManaged(
      'controller',
      process.execPath,
      [join(root, 'src/cli.ts'), 'run', '--config', configPath, '--kubeconfig', sa.kubeconfigPath],
      logPath,
    );
    const log = () => `\ncontroller log:\n${tailFile(logPath)}`;

    await plane().createNode('node-1', { addresses: [{ type: 'InternalIP', address: '127.0.61.1' }] });
    await plane().createNamespace('team-a');
    await plane().core.createNamespacedService({
      namespace: 'team-a',
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 18_080, protocol: 'TCP' }] } },
    });
    const ready = await eventually(
      `team-a/web has the finalizer and an address${log()}`,
      async () => {
        if (controller!.exitDescription()) assert.fail(`the controller ${controller!.exitDescription()}${log()}`);
        const service = await plane().core.readNamespacedService({ name: 'web', namespace: 'team-a' });
        return service.metadata?.finalizers?.includes(FINALIZER) && service.status?.loadBalancer?.ingress?.length ? service : undefined;
      },
      120_000,
    );
    assert.match(ready.status!.loadBalancer!.ingress![0]!.ip!, /^127\.0\.100\.22\d$/);

    // It led through the Lease the chart's Role grants.
    const lease = await plane().kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: fullname, namespace });
    assert.ok(lease.spec?.holderIdentity, 'the Lease has a holder');

    // Deletion: the controller removes the load balancer, then its finalizer; the Service goes away.
    await plane().core.deleteNamespacedService({ name: 'web', namespace: 'team-a' });
    await eventually(`team-a/web is deleted${log()}`, async () => {
      try {
        await plane().core.readNamespacedService({ name: 'web', namespace: 'team-a' });
        return false;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return true;
        throw err;
      }
    });
  });

  test('helm uninstall removes the RBAC it created', async () => {
    await controller?.stop(10_000);
    helm(['uninstall', release, '--namespace', namespace, '--kubeconfig', plane().kubeconfigPath]);
    const api = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
    await assert.rejects(
      api.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: fullname } }),
      (err: unknown) => err instanceof ApiException && err.code === 404,
    );
  });
});
