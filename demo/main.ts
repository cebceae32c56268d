// `npm run demo`: a whole load-balanced cluster on one machine, no root and no cloud.
//
// A real kube-apiserver and etcd, three Nodes whose "kube-proxy" is a NodePort listener on the node's
// own loopback address, the controller CLI with the embedded `local` provider, and two Services that
// get an EXTERNAL-IP carrying real traffic. Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../test/harness/control-plane.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
/** `--once`: run the steps and exit instead of waiting for Ctrl-C (used by the demo's own test). */
const once = process.argv.includes('--once');

const NODES = [
  { name: 'node-1', address: '127.0.50.1', hasIngressPod: true },
  { name: 'node-2', address: '127.0.50.2', hasIngressPod: true },
  { name: 'node-3', address: '127.0.50.3', hasIngressPod: false },
];

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string): void => console.log(`\n${bold(`==> ${s}`)}`);
const info = (s: string): void => console.log(`    ${s}`);

let plane: ControlPlane | undefined;
let controller: ChildProcess | undefined;
const servers: Server[] = [];
const workDir = mkdtempSync(join(tmpdir(), 'slb-demo-'));
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (controller && controller.exitCode === null && controller.signalCode === null) {
      const exited = new Promise((resolve) => controller!.once('exit', resolve));
      controller.kill('SIGTERM');
      const timer = setTimeout(() => controller?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    for (const server of servers) server.close();
    await plane?.stop();
    rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('\nStopping: controller, NodePort listeners, kube-apiserver, etcd...');
    void cleanup().then(() => process.exit(0));
  });
}
// Last resort if the demo itself dies: the controller must not outlive it.
process.once('exit', () => controller?.kill('SIGKILL'));

/** A stand-in for kube-proxy on one node: answers on the NodePort with the node's name. */
function serveNodePort(node: (typeof NODES)[number], port: number): Promise<void> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${node.name}\n`);
  });
  servers.push(server);
  return new Promise((resolve, reject) => server.once('error', reject).listen(port, node.address, () => resolve()));
}

/** kube-proxy's healthCheckNodePort: 200 where the Service has a local endpoint, 503 elsewhere. */
function serveHealthCheck(node: (typeof NODES)[number], port: number): Promise<void> {
  const server = createServer((_req, res) => {
    const local = node.hasIngressPod ? 1 : 0;
    res.writeHead(local ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ localEndpoints: local }));
  });
  servers.push(server);
  return new Promise((resolve, reject) => server.once('error', reject).listen(port, node.address, () => resolve()));
}

/** kube-proxy's own /healthz on 10256, which the local provider checks once per node for externalTrafficPolicy Cluster. */
function serveProxyHealthz(node: (typeof NODES)[number]): Promise<void> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ lastUpdated: new Date().toISOString(), currentTime: new Date().toISOString() }));
  });
  servers.push(server);
  return new Promise((resolve, reject) => server.once('error', reject).listen(10256, node.address, () => resolve()));
}

/** One request on a new connection, as a new client would; the node that answered, or the error. */
function get(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: ip, port, path: '/', agent: false, timeout: 3_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
    req.end();
  });
}

async function tally(ip: string, port: number, count: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const who = await get(ip, port);
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return counts;
}

function showTally(label: string, counts: Map<string, number>): void {
  const parts = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([who, n]) => `${who}: ${'#'.repeat(n)} ${n}`);
  info(`${label}`);
  for (const part of parts) info(`    ${part}`);
}

function age(svc: V1Service): string {
  const created = svc.metadata?.creationTimestamp ? new Date(svc.metadata.creationTimestamp).getTime() : Date.now();
  return `${Math.max(0, Math.round((Date.now() - created) / 1000))}s`;
}

function table(services: V1Service[]): void {
  const rows = [
    ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
    ...services.map((svc) => [
      svc.metadata?.namespace ?? '',
      svc.metadata?.name ?? '',
      svc.spec?.type ?? '',
      svc.spec?.clusterIP ?? '',
      (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).join(',') || '<pending>',
      (svc.spec?.ports ?? []).map((p) => `${p.port}:${p.nodePort}/${p.protocol}`).join(','),
      age(svc),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows)
    info(
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('   ')
        .trimEnd(),
    );
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function main(): Promise<void> {
  step('Starting a local control plane (kube-apiserver + etcd; the first run builds them, which takes minutes)');
  plane = await startControlPlane();
  const core = plane.core;
  info(`API server: ${plane.server}`);
  info(`kubeconfig: ${plane.kubeconfigPath}`);
  info(`try:        kubectl --kubeconfig ${plane.kubeconfigPath} get svc -A`);

  step('Registering three Nodes, each with its own address');
  for (const node of NODES) {
    await plane.createNode(node.name, {
      addresses: [
        { type: 'InternalIP', address: node.address },
        { type: 'Hostname', address: node.name },
      ],
    });
    info(`${node.name}  InternalIP ${node.address}${node.hasIngressPod ? '' : '  (runs no ingress controller pod)'}`);
  }

  step('Starting the controller with the embedded local provider');
  const configPath = join(workDir, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      clusterName: 'demo',
      provider: { name: 'local', local: { healthCheck: { intervalSeconds: 1 }, drainGraceSeconds: 2 } },
      server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
    }),
  );
  const logPath = join(workDir, 'controller.log');
  const log = openSync(logPath, 'a');
  controller = spawn(process.execPath, ['src/cli.ts', 'run', '--config', configPath, '--kubeconfig', plane.kubeconfigPath], {
    cwd: root,
    stdio: ['ignore', log, log],
  });
  controller.once('exit', (code, signal) => {
    if (!cleaning) {
      console.error(`\nThe controller exited (${signal ?? code}); its log: ${logPath}`);
      void cleanup().then(() => process.exit(1));
    }
  });
  info(`node src/cli.ts run --config ${configPath} --kubeconfig ${plane.kubeconfigPath}`);
  info(`log: ${logPath}`);

  step('Applying two Services');
  const example = await core.createNamespacedService({
    namespace: 'default',
    body: {
      metadata: { name: 'example-service' },
      spec: { type: 'LoadBalancer', selector: { app: 'example' }, ports: [{ port: 8765, targetPort: 9376, protocol: 'TCP' }] },
    },
  });
  info('default/example-service: port 8765 -> targetPort 9376');
  await plane.createNamespace('ingress-nginx');
  const ingress = await core.createNamespacedService({
    namespace: 'ingress-nginx',
    body: {
      metadata: { name: 'ingress-nginx-controller' },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        selector: { app: 'ingress-nginx' },
        ports: [
          { name: 'http', port: 80, targetPort: 80, protocol: 'TCP' },
          { name: 'https', port: 443, targetPort: 443, protocol: 'TCP' },
          { name: 'mysql', port: 3306, targetPort: 3306, protocol: 'TCP' },
        ],
      },
    },
  });
  info('ingress-nginx/ingress-nginx-controller: ports 80, 443, 3306, externalTrafficPolicy: Local');

  // What kube-proxy would do on each node: listen on every NodePort; with externalTrafficPolicy Local,
  // answer only where a local endpoint runs, and report that on the healthCheckNodePort.
  for (const node of NODES) {
    for (const p of example.spec!.ports!) await serveNodePort(node, p.nodePort!);
    if (node.hasIngressPod) for (const p of ingress.spec!.ports!) await serveNodePort(node, p.nodePort!);
    await serveHealthCheck(node, ingress.spec!.healthCheckNodePort!);
    await serveProxyHealthz(node);
  }
  info(
    `NodePort listeners up on ${NODES.map((n) => n.address).join(', ')} (healthCheckNodePort ${ingress.spec!.healthCheckNodePort}, kube-proxy /healthz on 10256)`,
  );

  step('Waiting for EXTERNAL-IPs');
  const withIP = async (namespace: string, name: string): Promise<V1Service> =>
    waitFor(`${namespace}/${name} to get an EXTERNAL-IP (controller log: ${logPath})`, async () => {
      const svc = await core.readNamespacedService({ name, namespace });
      return svc.status?.loadBalancer?.ingress?.[0]?.ip ? svc : undefined;
    });
  const exampleLive = await withIP('default', 'example-service');
  const ingressLive = await withIP('ingress-nginx', 'ingress-nginx-controller');
  console.log(`\n    $ kubectl get svc -A`);
  table([exampleLive, ingressLive]);
  const exampleIP = exampleLive.status!.loadBalancer!.ingress![0]!.ip!;
  const ingressIP = ingressLive.status!.loadBalancer!.ingress![0]!.ip!;

  step('Sending requests (one new connection each)');
  showTally(`30 x http://${exampleIP}:8765/  (externalTrafficPolicy: Cluster, every node)`, await tally(exampleIP, 8765, 30));
  for (const port of [80, 443, 3306]) {
    showTally(`20 x ${ingressIP}:${port}  (externalTrafficPolicy: Local, only nodes that pass /healthz)`, await tally(ingressIP, port, 20));
  }

  step('Removing node-2 from the cluster');
  await core.deleteNode({ name: 'node-2' });
  info('kubectl delete node node-2   (its listener keeps running: only the controller can steer traffic away)');
  await waitFor('traffic to avoid node-2', async () => {
    const seen = await tally(exampleIP, 8765, 10);
    return seen.has('node-2') ? undefined : true;
  });
  showTally(`30 x http://${exampleIP}:8765/`, await tally(exampleIP, 8765, 30));
  showTally(`20 x ${ingressIP}:80`, await tally(ingressIP, 80, 20));

  console.log(`\n${bold('kubeconfig:')} ${plane.kubeconfigPath}`);
  if (once) {
    await cleanup();
    return;
  }
  console.log(`Everything keeps running: try  curl http://${exampleIP}:8765/  or  kubectl --kubeconfig ${plane.kubeconfigPath} get svc -A`);
  console.log('Press Ctrl-C to stop.');
  await new Promise(() => {});
}

main().catch(async (err: unknown) => {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  await cleanup();
  process.exit(1);
});
