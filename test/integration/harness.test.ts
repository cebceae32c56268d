// The test harness itself: a real control plane that works, and leaves no process or temp dir behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, VersionApi, type V1Node } from '@kubernetes/client-node';
import { startControlPlane } from '../harness/control-plane.ts';
import { useControlPlane } from '../harness/node-test.ts';

interface ProcInfo {
  pid: number;
  pgid: number;
  cmdline: string;
}

/** Live (non-zombie) processes, from /proc: zombies may linger when PID 1 does not reap orphans. */
function liveProcesses(): ProcInfo[] {
  const result: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      result.push({ pid: Number(entry), pgid: Number(pgrp), cmdline });
    } catch {
      // exited while we looked
    }
  }
  return result;
}

/** Processes left in the given groups, or whose command line names the dir (the watchdogs do). */
function strays(pgids: number[], dir: string): ProcInfo[] {
  return liveProcesses().filter((p) => pgids.includes(p.pgid) || p.cmdline.includes(dir));
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(100);
  }
}

function readyStatus(node: V1Node): string | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

/** The client returns class instances; strict deepEqual wants plain data on both sides. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null));
}

function isStatus(code: number) {
  return (err: unknown) => err instanceof ApiException && err.code === code;
}

describe('control plane harness', () => {
  const cp = useControlPlane();

  test('the admin kubeconfig file reaches a real kube-apiserver', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp().kubeconfigPath);
    const version = await kc.makeApiClient(VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.\d+\.\d+/);
    const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
    assert.ok(namespaces.items.some((ns) => ns.metadata?.name === 'default'));
    assert.equal(cp().kubeConfig.getCurrentCluster()?.server, cp().server);
  });

  test('creates namespaces', async () => {
    await cp().createNamespace('harness');
    const ns = await cp().core.readNamespace({ name: 'harness' });
    assert.equal(ns.status?.phase, 'Active');
  });

  test('creates a Node with addresses, Ready and providerID, flips readiness, patches and deletes it', async () => {
    const addresses = [
      { type: 'InternalIP', address: '192.0.2.10' },
      { type: 'Hostname', address: 'node-a' },
    ];
    const taint = { key: 'example.com/dedicated', value: 'lb', effect: 'NoSchedule' };
    await cp().createNode('node-a', {
      addresses,
      providerID: 'test:///zone-a/node-a',
      labels: { 'topology.kubernetes.io/zone': 'zone-a' },
      taints: [taint],
    });

    let node = await cp().core.readNode({ name: 'node-a' });
    assert.equal(node.spec?.providerID, 'test:///zone-a/node-a');
    assert.deepEqual(plain(node.spec?.taints), [taint]);
    assert.equal(node.metadata?.labels?.['topology.kubernetes.io/zone'], 'zone-a');
    assert.deepEqual(plain(node.status?.addresses), addresses);
    assert.equal(readyStatus(node), 'True');

    await cp().setNodeReady('node-a', false);
    node = await cp().core.readNode({ name: 'node-a' });
    assert.equal(readyStatus(node), 'False');
    assert.deepEqual(plain(node.status?.addresses), addresses, 'a readiness change keeps the addresses');

    await cp().setNodeReady('node-a', true);
    assert.equal(readyStatus(await cp().core.readNode({ name: 'node-a' })), 'True');

    await cp().patchNode('node-a', { metadata: { labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } } });
    node = await cp().core.readNode({ name: 'node-a' });
    assert.deepEqual(node.metadata?.labels, {
      'topology.kubernetes.io/zone': 'zone-a',
      'node.kubernetes.io/exclude-from-external-load-balancers': '',
    });

    await cp().createNode('node-not-ready', { ready: false });
    assert.equal(readyStatus(await cp().core.readNode({ name: 'node-not-ready' })), 'False');

    await cp().deleteNode('node-a');
    await assert.rejects(cp().core.readNode({ name: 'node-a' }), isStatus(404));
  });

  test('the apiserver itself allocates nodePorts and healthCheckNodePorts', async () => {
    const nodePort = await cp().core.createNamespacedService({
      namespace: 'harness',
      body: {
        metadata: { name: 'np' },
        spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
      },
    });
    const allocated = nodePort.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(allocated >= 30000 && allocated <= 32767, `nodePort ${allocated}`);
    assert.match(nodePort.spec?.clusterIP ?? '', /^10\.96\./);

    const local = await cp().core.createNamespacedService({
      namespace: 'harness',
      body: {
        metadata: { name: 'lb-local' },
        spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 443, protocol: 'TCP' }] },
      },
    });
    assert.ok((local.spec?.ports?.[0]?.nodePort ?? 0) > 0);
    assert.ok((local.spec?.healthCheckNodePort ?? 0) > 0);
    assert.equal(local.status?.loadBalancer?.ingress, undefined, 'no controller fills in the load balancer');
  });

  test('a ServiceAccount kubeconfig authenticates, is denied without RBAC and allowed with it', async () => {
    const access = await cp().serviceAccountKubeConfig('harness', 'limited');
    const saCore = access.kubeConfig.makeApiClient(CoreV1Api);
    // 403, not 401: the token was accepted, and RBAC said no to that exact identity.
    await assert.rejects(saCore.listNode(), (err: unknown) => {
      assert.ok(err instanceof ApiException, String(err));
      assert.equal(err.code, 403);
      assert.match(String(err.body), /system:serviceaccount:harness:limited/);
      return true;
    });

    const rbac = cp().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: 'harness',
      body: { metadata: { name: 'read-services' }, rules: [{ apiGroups: [''], resources: ['services'], verbs: ['list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: 'harness',
      body: {
        metadata: { name: 'limited-reads-services' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-services' },
        subjects: [{ kind: 'ServiceAccount', name: 'limited', namespace: 'harness' }],
      },
    });
    const fromFile = new KubeConfig();
    fromFile.loadFromFile(access.kubeconfigPath);
    const fileCore = fromFile.makeApiClient(CoreV1Api);
    // The RBAC authorizer reads from an informer cache, so the binding takes effect shortly after creation.
    let services: string[] = [];
    await eventually('the RoleBinding lets the ServiceAccount list services', async () => {
      try {
        const list = await fileCore.listNamespacedService({ namespace: 'harness' });
        services = list.items.map((s) => s.metadata?.name ?? '');
        return true;
      } catch (err) {
        if (!isStatus(403)(err)) throw err;
        return false;
      }
    });
    assert.deepEqual(services.sort(), ['lb-local', 'np']);
    await assert.rejects(fileCore.listNode(), isStatus(403));
  });
});

describe('control plane lifecycle', () => {
  test('stop() leaves no process or temp dir behind, and is idempotent', async () => {
    const cp = await startControlPlane();
    const pgids = [cp.pids.etcd, cp.pids.apiserver];
    assert.equal(strays(pgids, cp.dir).length, 4, 'etcd, kube-apiserver and one watchdog each');
    await Promise.all([cp.stop(), cp.stop()]);
    await cp.stop();
    assert.deepEqual(strays(pgids, cp.dir), []);
    assert.equal(existsSync(cp.dir), false);
  });

  test('the API server stops and starts again on the same port and etcd, with its data and credentials', async () => {
    const cp = await startControlPlane();
    try {
      await cp.createNamespace('kept');
      const first = cp.pids.apiserver;
      await cp.stopApiServer();
      await assert.rejects(cp.core.readNamespace({ name: 'kept' }));
      assert.ok(
        strays([first], cp.dir).every((p) => p.pgid !== first),
        'the old kube-apiserver is gone',
      );
      await cp.startApiServer();
      assert.notEqual(cp.pids.apiserver, first);
      assert.equal((await cp.core.readNamespace({ name: 'kept' })).metadata?.name, 'kept');
      await assert.rejects(cp.startApiServer(), /still running/);
      const pgids = [cp.pids.etcd, cp.pids.apiserver];
      await cp.stop();
      assert.deepEqual(strays(pgids, cp.dir), []);
    } finally {
      await cp.stop();
    }
  });

  test('a startup failure reports the log tail and cleans up', async () => {
    const failure = await startControlPlane({ extraApiServerArgs: ['--no-such-flag'] }).then(
      () => assert.fail('started despite an unknown flag'),
      (err: Error) => err,
    );
    assert.match(failure.message, /kube-apiserver exited with code \d+ while waiting for kube-apiserver \/readyz/);
    assert.match(failure.message, /unknown flag: --no-such-flag/);
    const dir = /tail of (\S+)\/kube-apiserver\.log/.exec(failure.message)?.[1];
    assert.ok(dir, failure.message);
    assert.deepEqual(strays([], dir), []);
    assert.equal(existsSync(dir), false);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} to the test process kills etcd and kube-apiserver and removes the temp dir`, async () => {
      const harness = new URL('../harness/control-plane.ts', import.meta.url).href;
      const script = `import { startControlPlane } from ${JSON.stringify(harness)};
        const cp = await startControlPlane();
        console.log(JSON.stringify({ pgids: [cp.pids.etcd, cp.pids.apiserver], dir: cp.dir }));
        setInterval(() => {}, 60_000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, 'exit');
      const [line] = await Promise.race([
        once(createInterface({ input: child.stdout }), 'line') as Promise<string[]>,
        exited.then(() => assert.fail(`child exited before the control plane started:\n${stderr}`)),
      ]);
      const { pgids, dir } = JSON.parse(line ?? '') as { pgids: number[]; dir: string };
      assert.equal(strays(pgids, dir).length, 4);

      child.kill(signal);
      const [, exitSignal] = await exited;
      // SIGTERM: our handler kills the children, then lets the default action end the process.
      assert.equal(exitSignal, signal);
      await eventually('no stray process', () => strays(pgids, dir).length === 0);
      await eventually('temp dir removed', () => !existsSync(dir));
    });
  }
});
