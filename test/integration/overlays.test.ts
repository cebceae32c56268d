// The kustomize overlays in deploy/overlays: rendered by kustomize itself, what each changes in the base, and accepted by a real API server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubernetesObjectApi, type KubernetesObject, type V1ConfigMap, type V1Container, type V1Deployment } from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { findTool } from '../harness/binaries.ts';
import { useControlPlane } from '../harness/node-test.ts';

const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const plane = useControlPlane();

/** `kustomize build` of a directory under deploy/, as `kubectl apply -k` would send it. */
function build(dir: string): KubernetesObject[] {
  const run = spawnSync(findTool('kustomize'), ['build', join(deployDir, dir)], { encoding: 'utf8' });
  assert.equal(run.status, 0, `kustomize build deploy/${dir} failed (${run.error?.message ?? run.status}):\n${run.stderr}`);
  return parseAllDocuments(run.stdout).map((doc) => doc.toJS() as KubernetesObject);
}

const key = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

/** The objects of `dir` that differ from the base's, by kind/namespace/name. */
function changedFromBase(dir: string): string[] {
  const base = new Map(build('base').map((o) => [key(o), o]));
  const overlay = build(dir);
  assert.deepEqual(overlay.map(key).sort(), [...base.keys()].sort(), 'the same objects as the base');
  return overlay.filter((o) => JSON.stringify(o) !== JSON.stringify(base.get(key(o)))).map(key);
}

function configText(objects: KubernetesObject[]): string {
  const configMaps = objects.filter((o): o is V1ConfigMap => o.kind === 'ConfigMap');
  assert.equal(configMaps.length, 1);
  return configMaps[0]!.data!['config.yaml']!;
}

function deployment(objects: KubernetesObject[]): V1Deployment {
  return objects.find((o) => o.kind === 'Deployment') as V1Deployment;
}

/**
 * The proxy container publishes the ports its config binds (on every interface, for Prometheus and the
 * kubelet), none the controller's, and the kubelet probes its /healthz and /readyz there.
 */
function assertProxyProbes(container: V1Container, config: Config): void {
  const port = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));
  const { metricsAddress, healthAddress } = config.provider.local.proxyServer;
  for (const address of [metricsAddress, healthAddress]) assert.match(address, /^:\d+$/, 'every interface');
  assert.deepEqual(container.ports, [
    { name: 'proxy-metrics', containerPort: port(metricsAddress), protocol: 'TCP' },
    { name: 'proxy-health', containerPort: port(healthAddress), protocol: 'TCP' },
  ]);
  const controllerPorts = [config.server.metricsAddress, config.server.healthAddress].map(port);
  for (const p of container.ports!) assert.ok(!controllerPorts.includes(p.containerPort), `${p.name} is not the controller's port`);
  assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'proxy-health' });
  assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'proxy-health' });
}

describe('deploy/ kustomizations, rendered by kustomize', () => {
  test('deploy/ is the base, and the base is exactly the files deploy.test.ts checks, in kube-system', () => {
    assert.deepEqual(build('.'), build('base'));
    const files = readdirSync(join(deployDir, 'base')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    const written = files.flatMap((f) => parseAllDocuments(readFileSync(join(deployDir, 'base', f), 'utf8')).map((d) => d.toJS()));
    const rendered = build('base');
    assert.equal(rendered.length, written.length);
    for (const object of rendered) {
      const clusterScoped = object.kind!.startsWith('Cluster');
      assert.equal(object.metadata!.namespace, clusterScoped ? undefined : 'kube-system', key(object));
    }
  });

  test('overlays/local: its config for the local provider, the node network and an effective NET_ADMIN; nothing else changes', () => {
    const objects = build('overlays/local');
    assert.deepEqual(changedFromBase('overlays/local').sort(), [
      'ConfigMap/kube-system/service-lb-controller-config',
      'Deployment/kube-system/service-lb-controller',
    ]);
    assert.equal(configText(objects), readFileSync(join(deployDir, 'overlays/local/config.yaml'), 'utf8'));
    const config = parseConfig(parseYaml(configText(objects)), 'overlays/local config.yaml');
    assert.equal(config.provider.name, 'local');
    assert.equal(config.provider.local.interface, 'eth0');
    assert.equal(config.leaderElection.namespace, 'kube-system');

    const pod = deployment(objects).spec!.template.spec!;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.securityContext?.runAsUser, 0, 'a non-root process cannot use an added capability');
    const container = pod.containers[0]!;
    assert.deepEqual(container.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] });
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    // The strategic merge patch kept the rest of the container (a list patch could have replaced it).
    const baseContainer = deployment(build('base')).spec!.template.spec!.containers[0]!;
    assert.deepEqual({ ...container, securityContext: undefined }, { ...baseContainer, securityContext: undefined });
  });

  test('overlays/local-external: a proxy container beside the controller, sharing the socket in an emptyDir', () => {
    const objects = build('overlays/local-external');
    assert.deepEqual(changedFromBase('overlays/local-external').sort(), [
      'ConfigMap/kube-system/service-lb-controller-config',
      'Deployment/kube-system/service-lb-controller',
    ]);
    const config = parseConfig(parseYaml(configText(objects)), 'overlays/local-external config.yaml');
    assert.equal(config.provider.local.dataPath, 'external');
    const deploy = deployment(objects);
    assert.equal(deploy.spec!.replicas, 1, 'a second pod would hold the same VIPs on another node');
    assert.equal(deploy.spec!.strategy?.type, 'Recreate');
    const pod = deploy.spec!.template.spec!;
    assert.equal(pod.hostNetwork, true);
    assert.deepEqual(
      pod.containers.map((c) => [c.name, c.args]),
      [
        ['controller', ['run', '--config', '/etc/service-lb-controller/config.yaml']],
        ['proxy', ['proxy', '--config', '/etc/service-lb-controller/config.yaml']],
      ],
    );
    const socketDir = config.provider.local.proxySocket.replace(/\/[^/]+$/, '');
    for (const container of pod.containers) {
      const mount = container.volumeMounts?.find((m) => m.mountPath === socketDir);
      assert.equal(mount?.name, 'proxy-socket', `${container.name} mounts the socket's directory`);
    }
    assert.ok(pod.volumes?.find((v) => v.name === 'proxy-socket')?.emptyDir);
    assert.deepEqual(pod.containers[0]!.securityContext?.capabilities, { drop: ['ALL'] });
    assert.deepEqual(pod.containers[1]!.securityContext?.capabilities, {
      drop: ['ALL'],
      add: ['NET_ADMIN', 'NET_RAW', 'NET_BIND_SERVICE'],
    });
    assertProxyProbes(pod.containers[1]!, config);
  });

  test('overlays/aws: only the config changes, and it refuses to start until region and vpcId are set', () => {
    const objects = build('overlays/aws');
    assert.deepEqual(changedFromBase('overlays/aws'), ['ConfigMap/kube-system/service-lb-controller-config']);
    const raw = parseYaml(configText(objects)) as { provider: { name: string; aws: Record<string, unknown> } };
    assert.throws(
      () => parseConfig(raw, 'overlays/aws config.yaml'),
      (err: Error) =>
        /provider\.aws\.region:/.test(err.message) &&
        /provider\.aws\.vpcId:/.test(err.message) &&
        err.message.trim().split('\n').length === 3,
    );
    raw.provider.aws.region = 'eu-west-1';
    raw.provider.aws.vpcId = 'vpc-0abc';
    const config = parseConfig(raw, 'overlays/aws config.yaml, filled in');
    assert.equal(config.provider.name, 'aws');
    assert.equal(config.provider.aws?.scheme, 'internet-facing');
  });
});

describe('deploy/ overlays on a real API server', () => {
  for (const dir of ['base', 'overlays/local', 'overlays/local-external', 'overlays/aws']) {
    test(`every object of ${dir} is accepted as rendered (server-side dry run: validation and admission, nothing stored)`, async () => {
      const api = KubernetesObjectApi.makeApiClient(plane().kubeConfig);
      for (const object of build(dir)) {
        // As plain JSON: the client returns model classes, which never deep-equal parsed YAML.
        const accepted = JSON.parse(JSON.stringify(await api.create(object, undefined, 'All'))) as KubernetesObject;
        assert.equal(key(accepted), key(object));
        if (object.kind === 'Deployment') {
          const sent = (object as V1Deployment).spec!.template.spec!;
          const stored = (accepted as V1Deployment).spec!.template.spec!;
          assert.equal(stored.hostNetwork, sent.hostNetwork);
          assert.deepEqual(stored.containers[0]!.securityContext, sent.containers[0]!.securityContext);
        }
      }
    });
  }
});
