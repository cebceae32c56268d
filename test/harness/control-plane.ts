// A real etcd + kube-apiserver for tests, started from the project's own binaries.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Namespace,
  type V1Node,
  type V1NodeAddress,
  type V1NodeCondition,
  type V1Taint,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { freePort } from '../support/ports.ts';
import { findControlPlaneBinaries } from './binaries.ts';
import { generateClusterPki, type ClusterPki } from './certs.ts';
import { spawnManaged, tailFile, type ManagedProcess } from './processes.ts';

export interface ControlPlaneOptions {
  /** Default 10.96.0.0/16. */
  serviceClusterIPRange?: string;
  /** Appended to the kube-apiserver command line (later flags win). */
  extraApiServerArgs?: string[];
  /** How long to wait for etcd and then /readyz. Default 90 s, for 2 busy cores. */
  readyTimeoutMs?: number;
  /** Keep the temp dir (logs, certs, etcd data) after stop(). Default: $SLC_KEEP_CONTROL_PLANE is set. */
  keepDir?: boolean;
}

export interface NodeOptions {
  addresses?: V1NodeAddress[];
  /** Default true. */
  ready?: boolean;
  providerID?: string;
  labels?: Record<string, string>;
  taints?: V1Taint[];
}

export interface ServiceAccountAccess {
  kubeConfig: KubeConfig;
  kubeconfigPath: string;
}

const STOP_GRACE_MS = 10_000;

/** tmpfs keeps etcd's fsyncs cheap; fall back to the ordinary temp dir where /dev/shm is missing. */
function tempRoot(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

interface Probe {
  status: number;
  body: string;
}

function get(url: string, tls?: { ca: string; cert: string; key: string }): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const request = tls ? httpsRequest(url, { ...tls, timeout: 5000 }) : httpRequest(url, { timeout: 5000 });
    request.once('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error('timeout')));
    request.once('error', reject);
    request.end();
  });
}

function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

function readyCondition(ready: boolean, now: Date): V1NodeCondition {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready ? 'kubelet is posting ready status' : 'simulated by the test harness',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

/** Conditions with Ready set as asked; the transition time moves only when the status really changes. */
export function withReady(conditions: V1NodeCondition[] | undefined, ready: boolean, now: Date): V1NodeCondition[] {
  const others = (conditions ?? []).filter((c) => c.type !== 'Ready');
  const previous = conditions?.find((c) => c.type === 'Ready');
  const next = readyCondition(ready, now);
  if (previous && previous.status === next.status) next.lastTransitionTime = previous.lastTransitionTime;
  return [...others, next];
}

function kubeconfigYaml(server: string, caPem: string, user: Record<string, string>, userName: string): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: userName, context: { cluster: 'test', user: userName } }],
    'current-context': userName,
  });
}

/** A real etcd + kube-apiserver on loopback. Nothing else runs: no controllers, no kubelet. */
export class ControlPlane {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  readonly etcdUrl: string;
  readonly logs: { readonly etcd: string; readonly apiserver: string };
  /** The --service-account-issuer, also the default audience of requested tokens. */
  readonly serviceAccountIssuer: string;
  readonly core: CoreV1Api;
  readonly #etcd: ManagedProcess;
  #apiserver: ManagedProcess;
  readonly #startApiserver: () => ManagedProcess;
  readonly #keepDir: boolean;
  readonly #pki: ClusterPki;
  #stopping: Promise<void> | undefined;

  constructor(init: {
    dir: string;
    server: string;
    etcdUrl: string;
    issuer: string;
    pki: ClusterPki;
    etcd: ManagedProcess;
    apiserver: ManagedProcess;
    startApiserver: () => ManagedProcess;
    keepDir: boolean;
  }) {
    this.dir = init.dir;
    this.server = init.server;
    this.etcdUrl = init.etcdUrl;
    this.serviceAccountIssuer = init.issuer;
    this.#pki = init.pki;
    this.#etcd = init.etcd;
    this.#apiserver = init.apiserver;
    this.#startApiserver = init.startApiserver;
    this.#keepDir = init.keepDir;
    this.logs = { etcd: init.etcd.logPath, apiserver: init.apiserver.logPath };
    this.kubeconfigPath = join(init.dir, 'admin.kubeconfig');
    const yaml = kubeconfigYaml(
      init.server,
      init.pki.caCertPem,
      {
        'client-certificate-data': Buffer.from(init.pki.adminCertPem).toString('base64'),
        'client-key-data': Buffer.from(init.pki.adminKeyPem).toString('base64'),
      },
      'admin',
    );
    writeFileSync(this.kubeconfigPath, yaml, { mode: 0o600 });
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromString(yaml);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
  }

  /** kube-apiserver's own /metrics, read as the admin. */
  async metrics(): Promise<string> {
    const probe = await get(`${this.server}/metrics`, {
      ca: this.#pki.caCertPem,
      cert: this.#pki.adminCertPem,
      key: this.#pki.adminKeyPem,
    });
    if (probe.status !== 200) throw new Error(`kube-apiserver /metrics answered ${probe.status}: ${probe.body.slice(0, 200)}`);
    return probe.body;
  }

  get pids(): { readonly etcd: number; readonly apiserver: number } {
    return { etcd: this.#etcd.pid, apiserver: this.#apiserver.pid };
  }

  /** An API server outage: kube-apiserver stops (SIGTERM, as a restarted static pod), etcd keeps its data. */
  async stopApiServer(): Promise<void> {
    await this.#apiserver.stop(STOP_GRACE_MS);
  }

  /**
   * Starts kube-apiserver again after stopApiServer(), with the same flags, port, etcd and certificates
   * (clients keep their kubeconfig), and waits for /readyz.
   */
  async startApiServer(readyTimeoutMs = 90_000): Promise<void> {
    if (this.#stopping) throw new Error('the control plane is stopped');
    if (!this.#apiserver.exitDescription()) throw new Error('kube-apiserver is still running');
    // The port was ours a moment ago; a TIME_WAIT socket or a slow exit may hold it for a short while.
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      this.#apiserver = this.#startApiserver();
      try {
        await waitForApiServer(this.server, this.#pki, deadline, this.#apiserver, this.#etcd);
        return;
      } catch (err) {
        await this.#apiserver.stop(STOP_GRACE_MS);
        if (!portTaken(this.#apiserver) || Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  }

  /** Stops kube-apiserver, then etcd, and removes the temp dir. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // The apiserver first, so that it does not spend its grace period retrying a vanished etcd.
      for (const child of [this.#apiserver, this.#etcd]) await child.stop(STOP_GRACE_MS);
      if (!this.#keepDir) rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  async createNamespace(name: string): Promise<V1Namespace> {
    return this.core.createNamespace({ body: { metadata: { name } } });
  }

  /** Creates the Node, then writes its status (addresses, Ready) through nodes/status as a kubelet would. */
  async createNode(name: string, options: NodeOptions = {}): Promise<V1Node> {
    const created = await this.core.createNode({
      body: {
        metadata: { name, labels: options.labels ?? {} },
        spec: { providerID: options.providerID, taints: options.taints },
      },
    });
    created.status = {
      ...created.status,
      addresses: options.addresses ?? [],
      conditions: withReady(created.status?.conditions, options.ready ?? true, new Date()),
    };
    return this.core.replaceNodeStatus({ name, body: created });
  }

  async setNodeReady(name: string, ready: boolean): Promise<V1Node> {
    for (let attempt = 1; ; attempt++) {
      const node = await this.core.readNodeStatus({ name });
      node.status = { ...node.status, conditions: withReady(node.status?.conditions, ready, new Date()) };
      try {
        return await this.core.replaceNodeStatus({ name, body: node });
      } catch (err) {
        // A concurrent writer (the controller under test) may have bumped the resourceVersion.
        if (!isStatus(err, 409) || attempt >= 5) throw err;
      }
    }
  }

  /** RFC 7386 JSON merge patch of the Node object (not its status). */
  async patchNode(name: string, mergePatch: object): Promise<V1Node> {
    return this.core.patchNode({ name, body: mergePatch }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  async deleteNode(name: string): Promise<void> {
    await this.core.deleteNode({ name });
  }

  /**
   * Credentials of a ServiceAccount (created if missing) from the TokenRequest API, to run code with
   * exactly the RBAC that the deploy manifests grant it.
   */
  async serviceAccountKubeConfig(namespace: string, name: string): Promise<ServiceAccountAccess> {
    try {
      await this.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const request = await this.core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { audiences: [this.serviceAccountIssuer], expirationSeconds: 24 * 3600 } },
    });
    const token = request.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    const userName = `system:serviceaccount:${namespace}:${name}`;
    const yaml = kubeconfigYaml(this.server, this.#pki.caCertPem, { token }, userName);
    const kubeconfigPath = join(this.dir, `sa-${namespace}-${name}.kubeconfig`);
    writeFileSync(kubeconfigPath, yaml, { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(yaml);
    return { kubeConfig, kubeconfigPath };
  }
}

async function waitFor(what: string, deadline: number, processes: ManagedProcess[], probe: () => Promise<boolean>): Promise<void> {
  let lastError = 'not probed yet';
  for (;;) {
    for (const child of processes) {
      const exit = child.exitDescription();
      if (exit) {
        throw new Error(`${child.name} ${exit} while waiting for ${what}; tail of ${child.logPath}:\n${tailFile(child.logPath)}`);
      }
    }
    try {
      if (await probe()) return;
      lastError = 'not ready';
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const tails = processes.map((p) => `--- ${p.name} (${p.logPath}) ---\n${tailFile(p.logPath)}`).join('\n');
      throw new Error(`timed out waiting for ${what} (last: ${lastError})\n${tails}`);
    }
    await sleep(250);
  }
}

function waitForApiServer(
  server: string,
  pki: ClusterPki,
  deadline: number,
  apiserver: ManagedProcess,
  etcd: ManagedProcess,
): Promise<void> {
  const tls = { ca: pki.caCertPem, cert: pki.adminCertPem, key: pki.adminKeyPem };
  return waitFor('kube-apiserver /readyz', deadline, [apiserver, etcd], async () => (await get(`${server}/readyz`, tls)).status === 200);
}

function portTaken(child: ManagedProcess): boolean {
  return /address already in use/i.test(tailFile(child.logPath, 200));
}

async function startOnce(options: ControlPlaneOptions, dir: string, keepDir: boolean): Promise<ControlPlane> {
  const orphanDir = keepDir ? undefined : dir;
  const binaries = findControlPlaneBinaries();
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  const pki = generateClusterPki(dir);
  const [etcdPort, apiPort] = [await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const server = `https://127.0.0.1:${apiPort}`;

  const etcd = spawnManaged(
    'etcd',
    binaries.etcd,
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      // Port 0: a single member never talks to peers, and a fixed 2380 would collide across parallel runs.
      '--listen-peer-urls=http://127.0.0.1:0',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=default=http://127.0.0.1:2380',
      '--unsafe-no-fsync',
    ],
    join(dir, 'etcd.log'),
    orphanDir,
  );
  const started: ManagedProcess[] = [etcd];
  try {
    await waitFor('etcd /health', deadline, [etcd], async () => {
      const probe = await get(`${etcdUrl}/health`);
      return probe.status === 200 && JSON.parse(probe.body).health === 'true';
    });

    const issuer = `https://127.0.0.1:${apiPort}`;
    const startApiserver = () =>
      spawnManaged(
        'kube-apiserver',
        binaries.kubeApiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          `--secure-port=${apiPort}`,
          '--bind-address=127.0.0.1',
          // Without a default route the apiserver cannot pick an address by itself and refuses to start.
          '--advertise-address=127.0.0.1',
          `--tls-cert-file=${pki.servingCertPath}`,
          `--tls-private-key-file=${pki.servingKeyPath}`,
          `--client-ca-file=${pki.caCertPath}`,
          `--service-cluster-ip-range=${options.serviceClusterIPRange ?? '10.96.0.0/16'}`,
          '--authorization-mode=RBAC',
          // No controller-manager creates the default ServiceAccounts that ServiceAccount demands for Pods, nor
          // lifts the not-ready taint that TaintNodesByCondition puts on new Nodes: Nodes keep the taints set here.
          '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
          `--service-account-issuer=${issuer}`,
          `--service-account-key-file=${pki.serviceAccountPublicKeyPath}`,
          `--service-account-signing-key-file=${pki.serviceAccountPrivateKeyPath}`,
          ...(options.extraApiServerArgs ?? []),
        ],
        join(dir, 'kube-apiserver.log'),
        orphanDir,
      );
    const apiserver = startApiserver();
    started.unshift(apiserver);
    await waitForApiServer(server, pki, deadline, apiserver, etcd);
    return new ControlPlane({ dir, server, etcdUrl, issuer, pki, etcd, apiserver, startApiserver, keepDir });
  } catch (err) {
    for (const child of started) await child.stop(STOP_GRACE_MS);
    (err as Error & { portTaken?: boolean }).portTaken = started.some(portTaken);
    throw err;
  }
}

/**
 * Starts etcd and kube-apiserver from scratch (fresh data, certificates and ports) and waits until the
 * apiserver is ready. Always call stop(); a crash or signal of this process also kills both children.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const keepDir = options.keepDir ?? Boolean(process.env.SLC_KEEP_CONTROL_PLANE);
  // A free port may be taken by someone else between our probe and the child's bind: then try again.
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tempRoot(), 'slc-control-plane-'));
    mkdirSync(join(dir, 'etcd'), { mode: 0o700 });
    try {
      return await startOnce(options, dir, keepDir);
    } catch (err) {
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
      if (!(err as { portTaken?: boolean }).portTaken || attempt >= 3) throw err;
    }
  }
}
