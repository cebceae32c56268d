// Canary credentials in the environment and in the kubeconfig token: the controller, run as users run it,
// never shows them, through startup, syncs, provider and API failures, events, /metrics and a bad config.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RbacAuthorizationV1Api, type V1ClusterRole } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { ControllerProcess } from '../e2e/controller-process.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { TestKube, waitFor } from '../support/controller.ts';

const canary = (what: string) => `canary-${what}-${randomBytes(12).toString('hex')}`;
/** Every environment variable a cloud SDK reads a secret from, set to a canary for the child processes. */
const ENV_CANARIES: Record<string, string> = {
  AWS_SECRET_ACCESS_KEY: canary('aws-secret'),
  AWS_SESSION_TOKEN: canary('aws-session'),
  AZURE_CLIENT_SECRET: canary('azure-secret'),
  AZURE_CLIENT_CERTIFICATE_PASSWORD: canary('azure-cert-password'),
  GOOGLE_OAUTH_ACCESS_TOKEN: canary('google-token'),
};
const BOGUS_TOKEN = canary('rejected-token');
const SA_NAMESPACE = 'kube-system';
const SA_NAME = 'slc-secrets';

describe('credentials never leak', () => {
  const plane = useControlPlane();
  let kube: TestKube;
  let dir: string;
  let token: string;
  let kubeconfigPath: string;
  const saved = new Map<string, string | undefined>();

  const config = (pool: string) => ({
    clusterName: 'secrets',
    provider: { local: { addressPools: [{ name: 'default', addresses: [pool] }], drainGraceSeconds: 0 } },
    controller: { backoff: { initial: '200ms', max: '2s' }, resyncPeriod: '2s', garbageCollection: { period: '2s' } },
    leaderElection: { enabled: false },
    server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
    logging: { level: 'trace' },
  });

  function secrets(): string[] {
    // A JWT's header is the same for every token; its signature is what must never appear.
    return [token, token.split('.').at(-1)!, BOGUS_TOKEN, ...Object.values(ENV_CANARIES)];
  }

  function assertClean(where: string, text: string): void {
    for (const secret of secrets()) assert.equal(text.includes(secret), false, `${where} shows a credential`);
  }

  before(async () => {
    kube = new TestKube(plane());
    for (const [name, value] of Object.entries(ENV_CANARIES)) {
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
    dir = mkdtempSync(join(tmpdir(), 'slc-secrets-'));
    // The deploy manifests' ClusterRole, bound to a ServiceAccount whose token is in the kubeconfig.
    const rbac = plane().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const role = parse(readFileSync(new URL('../../deploy/base/clusterrole.yaml', import.meta.url), 'utf8')) as V1ClusterRole;
    role.metadata = { name: SA_NAME };
    await rbac.createClusterRole({ body: role });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: SA_NAME },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: SA_NAME },
        subjects: [{ kind: 'ServiceAccount', namespace: SA_NAMESPACE, name: SA_NAME }],
      },
    });
    const access = await plane().serviceAccountKubeConfig(SA_NAMESPACE, SA_NAME);
    kubeconfigPath = access.kubeconfigPath;
    token = (parse(readFileSync(kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> }).users[0]!.user.token;
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] });
    await plane().createNamespace('shop');
  });

  after(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('startup, syncs, provider failures, events, /metrics, /healthz and /readyz', async () => {
    const controller = new ControllerProcess(config('127.0.102.0/30'), kubeconfigPath, 'secrets');
    try {
      const started = await waitFor('the controller to start', () => {
        const line = controller
          .log()
          .split('\n')
          .find((l) => l.includes('"msg":"started"'));
        return line ? (JSON.parse(line) as { metrics: string; health: string }) : undefined;
      });
      const lb = (name: string, annotations: Record<string, string> = {}) =>
        kube.createService('shop', name, { type: 'LoadBalancer', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }, { annotations });
      await lb('web');
      await lb('bad-pool', { 'service-lb-controller.io/address-pool': 'nope' });
      await lb('bad-ip', { 'service-lb-controller.io/load-balancer-ips': '203.0.113.9' });
      await waitFor('web to get an address', async () => (await kube.getService('shop', 'web')).status?.loadBalancer?.ingress?.length);
      for (const name of ['bad-pool', 'bad-ip']) {
        await waitFor(`a Warning on ${name}`, () => kube.hasEvent('shop', name, 'SyncLoadBalancerFailed'));
      }
      // The pool has two addresses: the third good Service fails for capacity, then gets one on release.
      await lb('web-2');
      await lb('web-3');
      await waitFor('the pool to run out', () => kube.hasEvent('shop', 'web-3', 'SyncLoadBalancerFailed', 'no free IPv4 address'));
      await kube.deleteService('shop', 'web-2');
      await waitFor(
        'web-3 to get the freed address',
        async () => (await kube.getService('shop', 'web-3')).status?.loadBalancer?.ingress?.length,
      );
      // resyncPeriod and garbageCollection.period are 2s: wait for a few of each to be in the log.
      await waitFor('50 log lines, spanning resyncs and garbage collection', () => controller.log().split('\n').length > 50);
      for (const url of [`${started.metrics}/metrics`, `${started.health}/healthz?verbose`, `${started.health}/readyz?verbose`]) {
        assertClean(url, await (await fetch(url)).text());
      }
      const events = await kube.client.request<{ items: unknown[] }>('GET', '/api/v1/events');
      assert.ok(events.items.length >= 5);
      assertClean('events', JSON.stringify(events));
      controller.terminate();
      assert.equal(await controller.exited, 0);
      assertClean('the controller log', controller.log());
    } finally {
      await controller.dispose();
    }
  });

  test('a kubeconfig token the API server rejects: the failures are logged, the token is not', async () => {
    const rejected = parse(readFileSync(kubeconfigPath, 'utf8')) as { users: Array<{ user: { token: string } }> };
    rejected.users[0]!.user.token = BOGUS_TOKEN;
    const path = join(dir, 'rejected.kubeconfig');
    writeFileSync(path, stringify(rejected), { mode: 0o600 });
    const controller = new ControllerProcess(config('127.0.102.8/30'), path, 'secrets-rejected');
    try {
      await waitFor('the rejected list to be logged twice', () => controller.log().split('Unauthorized').length > 2);
      assertClean('the controller log', controller.log());
    } finally {
      await controller.dispose();
    }
  });

  test('a bad config: the error names the field and no credential', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `controller: {workers: 0}\nprovider: {name: aws}\n`);
    const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
    const result = spawnSync(process.execPath, [cli, 'run', '--config', file, '--kubeconfig', kubeconfigPath], { encoding: 'utf8' });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /controller\.workers: /);
    assertClean('stdout', result.stdout);
    assertClean('stderr', result.stderr);
  });
});
