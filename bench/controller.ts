// Benchmark of the controller core: N LoadBalancer Services on a real API server, a provider that takes
// 50 ms per call, W workers. Prints the time to every EXTERNAL-IP, the time to add a node to every load
// balancer, the API requests made, and the controller's peak RSS.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../src/kube/client.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import type { ControllerProcessStats } from '../test/support/controller-process.ts';
import { ControllerProcess } from '../test/support/controller-process-client.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPILED = join(ROOT, '.tmp/bench-build');
const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 16);
const LATENCY_MS = 50;

async function kubeRequests(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('service_lb_kube_api_requests_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

let lastProgress = 0;
function progress(line: string): void {
  if (Date.now() - lastProgress < 2000) return;
  lastProgress = Date.now();
  console.error(`  ${line}`);
}

const plane = await startControlPlane();
let child: ControllerProcess | undefined;
try {
  const kube = new KubeClient(plane.kubeConfig);
  for (let i = 1; i <= 3; i++) await plane.createNode(`node-${i}`, { addresses: [{ type: 'InternalIP', address: `10.0.0.${i}` }] });
  await plane.createNamespace('bench');
  const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
  const createStart = performance.now();
  await pool(names, 32, (name) =>
    kube.request('POST', '/api/v1/namespaces/bench/services', {
      metadata: { name },
      spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] },
    }),
  );
  const createSeconds = (performance.now() - createStart) / 1000;

  // The controller runs as shipped: compiled JavaScript, not type-stripped sources.
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', COMPILED], { cwd: ROOT, stdio: 'inherit' });
  const proc = new ControllerProcess(
    {
      kubeconfig: plane.kubeconfigPath,
      config: { controller: { workers: WORKERS, resyncPeriod: '1h' }, leaderElection: { enabled: false }, logging: { level: 'warn' } },
      latencyMs: LATENCY_MS,
      keepDesired: false,
    },
    join(COMPILED, 'test/support/controller-process.js'),
    // The flags the Deployment runs with (deploy/deployment.yaml).
    (process.env.BENCH_CHILD_ARGS ?? '--optimize-for-size').split(' ').filter(Boolean),
  );
  child = proc;
  await proc.whenReady();
  const start = performance.now();
  // A watch, not a polling LIST: a LIST of a thousand Services every 100 ms would load the API server
  // more than the controller does.
  const withIp = new Set<string>();
  let allIps: () => void = () => {};
  const allIpsSeen = new Promise<void>((resolve) => (allIps = resolve));
  const track = (svc: V1Service) => {
    if (svc.status?.loadBalancer?.ingress?.length) withIp.add(svc.metadata!.name!);
    progress(`EXTERNAL-IPs: ${withIp.size}/${SERVICES}`);
    if (withIp.size === SERVICES) allIps();
  };
  const watcher = new ResilientInformer<V1Service>(
    kube,
    '/api/v1/namespaces/bench/services',
    { add: track, update: (_, svc) => track(svc) },
    pino({ level: 'warn' }),
  );
  await watcher.start();
  await allIpsSeen;
  const allIpsSeconds = (performance.now() - start) / 1000;
  await watcher.stop();
  const afterCreate = await proc.stats();
  const requestsAfterCreate = await kubeRequests(afterCreate.metricsUrl);

  const nodeStart = performance.now();
  await plane.createNode('node-new', { addresses: [{ type: 'InternalIP', address: '10.0.0.99' }] });
  let afterNode: ControllerProcessStats;
  for (;;) {
    afterNode = await proc.stats('node-new');
    progress(`load balancers with the new node: ${afterNode.targeting}/${SERVICES}`);
    if (afterNode.targeting === SERVICES) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const nodeSeconds = (performance.now() - nodeStart) / 1000;
  const requestsAfterNode = await kubeRequests(afterNode.metricsUrl);

  const createCalls = afterCreate.byOp.ensure ?? 0;
  const nodeCalls = (afterNode.byOp.updateTargets ?? 0) + (afterNode.byOp.ensure ?? 0) - createCalls;
  const bound = (calls: number) => (calls * LATENCY_MS) / WORKERS / 1000;
  const row = (label: string, value: string) => console.log(`${label.padEnd(48)} ${value}`);
  console.log(`\ncontroller benchmark: ${SERVICES} Services, ${WORKERS} workers, provider latency ${LATENCY_MS} ms per call`);
  row('creating the Services (API server, not measured)', `${createSeconds.toFixed(2)} s`);
  row(
    'time to every EXTERNAL-IP',
    `${allIpsSeconds.toFixed(2)} s (provider bound ${bound(createCalls).toFixed(2)} s for ${createCalls} calls; ratio ${(allIpsSeconds / bound(createCalls)).toFixed(2)}x)`,
  );
  row(
    'time to add a node to every load balancer',
    `${nodeSeconds.toFixed(2)} s (provider bound ${bound(nodeCalls).toFixed(2)} s for ${nodeCalls} calls; ratio ${(nodeSeconds / bound(nodeCalls)).toFixed(2)}x)`,
  );
  row(
    'API requests: create phase',
    `${requestsAfterCreate} (${(requestsAfterCreate / SERVICES).toFixed(2)} per Service; watches excluded)`,
  );
  row('API requests: node phase', `${requestsAfterNode - requestsAfterCreate}`);
  row('controller peak RSS', `${(afterNode.maxRssKb / 1024).toFixed(1)} MB (${JSON.stringify(afterNode.memory)})`);
  await proc.stop();
} finally {
  await child?.kill();
  await plane.stop();
}
