// Benchmark of the controller core: N Services on a real API server, the shipped CLI loading a 50 ms-per-call provider module.
//
// The controller runs as a user runs it: `node dist/cli.js run` with `provider.name: module` pointing at
// the worked example (examples/provider-module, compiled). Everything is measured from outside the
// process: Services through a watch, provider calls and dropped events through /metrics, peak RSS through /proc.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { KubeClient } from '../src/kube/client.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { startControlPlane, type ControlPlane } from '../test/harness/control-plane.ts';
import { buildPackage, PACKAGE_ROOT } from '../test/support/package-build.ts';
import { freePort } from '../test/support/ports.ts';
import { cliLaunch } from './cli-launch.ts';
import { metricSum } from './metrics-text.ts';

const COMPILED = join(PACKAGE_ROOT, '.tmp/bench-example');
const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '4,16').split(',').map(Number);
const LATENCY_MS = 50;

/** Events the controller did not write (service_lb_events_dropped_total, every reason). */
async function eventsDropped(metricsUrl: string): Promise<number> {
  return metricSum(await (await fetch(metricsUrl)).text(), 'service_lb_events_dropped_total');
}

/** Provider calls that succeeded, by operation, as the controller's /metrics counts them. */
async function providerCalls(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const calls: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^service_lb_provider_calls_total\{(.*)\} (\S+)$/.exec(line);
    if (!match || !match[1]!.includes('outcome="success"')) continue;
    const operation = /operation="([^"]+)"/.exec(match[1]!)![1]!;
    calls[operation] = (calls[operation] ?? 0) + Number(match[2]);
  }
  return calls;
}

/** Sum and count of a histogram, over its series (those with the labels given), from one scrape. */
function histogram(text: string, name: string, labels: Record<string, string> = {}): { sum: number; count: number } {
  return { sum: metricSum(text, `${name}_sum`, labels), count: metricSum(text, `${name}_count`, labels) };
}

const mean = (h: { sum: number; count: number }) => `${((h.sum / (h.count || 1)) * 1000).toFixed(1)} ms × ${h.count}`;

/**
 * The time kube-apiserver itself took for the Service writes (PATCH, main resource and status) between
 * two scrapes of its /metrics: what is left of the controller's view of a request is the connection,
 * TLS and both processes' queues.
 */
function serverWrites(before: string, after: string): string {
  const writes = (text: string) => histogram(text, 'apiserver_request_duration_seconds', { verb: 'PATCH', resource: 'services' });
  const [b, a] = [writes(before), writes(after)];
  return mean({ sum: a.sum - b.sum, count: a.count - b.count });
}

/** Where a sync's time went in the first phase: the controller's own sync and API request histograms. */
async function syncBreakdown(metricsUrl: string, inServer: string): Promise<string> {
  const text = await (await fetch(metricsUrl)).text();
  return `sync ${mean(histogram(text, 'service_lb_sync_duration_seconds'))}, API request ${mean(histogram(text, 'rest_client_request_duration_seconds'))}, of which kube-apiserver's handling of Service PATCHes ${inServer}`;
}

const total = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);
const minus = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([op, n]) => [op, n - (before[op] ?? 0)]));

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

/** Peak resident set of a live process (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

interface Phase {
  seconds: number;
  calls: Record<string, number>;
}

interface Result {
  workers: number;
  startupSeconds: number;
  /** apiBound(): the same API writes as the first syncs, without the provider. */
  apiSeconds: number;
  ips: Phase;
  /** Mean sync and API request time until every EXTERNAL-IP was seen. */
  ipsBreakdown: string;
  node: Phase;
  deleteAll: Phase;
  peakRssMb: number;
  eventsDropped: number;
}

/** Resolves when `done` holds for the Services of `namespace` as a watch sees them. */
async function watchUntil(
  kube: KubeClient,
  namespace: string,
  handlers: (settle: () => void) => {
    add?(svc: V1Service): void;
    update?(old: V1Service, svc: V1Service): void;
    delete?(svc: V1Service): void;
  },
): Promise<void> {
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const watcher = new ResilientInformer<V1Service>(
    kube,
    `/api/v1/namespaces/${namespace}/services`,
    handlers(settle),
    pino({ level: 'warn' }),
  );
  await watcher.start();
  await settled;
  await watcher.stop();
}

/**
 * The API server's bound here and now: the two writes a first sync makes for each Service (finalizer, then
 * status), `workers` at a time, made by the bench itself before the controller starts. Each
 * write changes the object: the API server skips storage for a patch that changes nothing.
 */
async function apiBound(kube: KubeClient, namespace: string, names: string[], workers: number): Promise<number> {
  const start = performance.now();
  await pool(names, workers, async (name) => {
    for (const round of ['1', '2']) {
      const body = { metadata: { annotations: { 'bench.service-lb-controller.dev/api-bound': round } } };
      await kube.request('PATCH', `/api/v1/namespaces/${namespace}/services/${name}`, body, 'merge');
    }
  });
  return (performance.now() - start) / 1000;
}

async function runOnce(plane: ControlPlane, kube: KubeClient, modulePath: string, workers: number): Promise<Result> {
  const namespace = `bench-w${workers}`;
  await plane.createNamespace(namespace);
  const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
  await pool(names, 32, (name) =>
    kube.request('POST', `/api/v1/namespaces/${namespace}/services`, {
      metadata: { name },
      spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] },
    }),
  );

  const apiSeconds = await apiBound(kube, namespace, names, workers);

  const dir = mkdtempSync(join(tmpdir(), 'slc-bench-'));
  const port = await freePort();
  const healthPort = await freePort();
  const configPath = join(dir, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      provider: { name: 'module', module: modulePath, moduleConfig: { cidr: '100.64.0.0/16', latencyMs: LATENCY_MS } },
      controller: { workers, resyncPeriod: '1h' },
      leaderElection: { enabled: false },
      server: { metricsAddress: `127.0.0.1:${port}`, healthAddress: `127.0.0.1:${healthPort}` },
      // Warnings and errors only: info would log a line per Service.
      logging: { level: 'warn' },
    }),
  );
  const logPath = join(dir, 'controller.log');
  const log = openSync(logPath, 'a');
  // As the bin starts (the environment and flags of its shebang, which the Dockerfile repeats).
  const launch = cliLaunch();
  const flags = process.env.BENCH_CHILD_ARGS?.split(' ').filter(Boolean) ?? launch.flags;
  const child = spawn(
    process.execPath,
    [...flags, join(PACKAGE_ROOT, 'dist/cli.js'), 'run', '--config', configPath, '--kubeconfig', plane.kubeconfigPath],
    {
      stdio: ['ignore', log, log],
      env: { ...process.env, ...launch.env },
    },
  );
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  // A controller that exits (a bad config, a crash) ends the run instead of leaving it waiting.
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`the controller exited (${code ?? signal}) during the run`))),
  );
  exited.catch(() => undefined);
  try {
    // The clock starts when the controller is ready (informers synced), as in the Deployment's readiness
    // probe: process start-up is not the core's work.
    const startup = performance.now();
    while (
      !(await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (child.exitCode !== null) await exited;
      await new Promise((r) => setTimeout(r, 20));
    }
    const startupSeconds = (performance.now() - startup) / 1000;
    const serverBefore = await plane.metrics();
    const start = performance.now();
    const withIp = new Set<string>();
    const ipsSeen = watchUntil(kube, namespace, (settle) => {
      const track = (svc: V1Service) => {
        if (svc.status?.loadBalancer?.ingress?.length) withIp.add(svc.metadata!.name!);
        progress(`${workers} workers: EXTERNAL-IPs ${withIp.size}/${SERVICES}`);
        if (withIp.size === SERVICES) settle();
      };
      return { add: track, update: (_, svc) => track(svc) };
    });
    await Promise.race([ipsSeen, exited]);
    const ipsSeconds = (performance.now() - start) / 1000;
    const afterIps = await providerCalls(metricsUrl);
    const ipsBreakdown = await syncBreakdown(metricsUrl, serverWrites(serverBefore, await plane.metrics()));

    // Every load balancer gets one call (updateTargets, or ensure) for the new node.
    const nodeStart = performance.now();
    await plane.createNode(`node-new-w${workers}`, { addresses: [{ type: 'InternalIP', address: `10.0.1.${workers}` }] });
    let afterNode: Record<string, number>;
    for (;;) {
      afterNode = await providerCalls(metricsUrl);
      const updated = (afterNode.updateTargets ?? 0) + (afterNode.ensure ?? 0) - (afterIps.updateTargets ?? 0) - (afterIps.ensure ?? 0);
      progress(`${workers} workers: load balancers updated for the new node ${updated}/${SERVICES}`);
      if (updated >= SERVICES) break;
      if (child.exitCode !== null) await exited;
      await new Promise((r) => setTimeout(r, 50));
    }
    const nodeSeconds = (performance.now() - nodeStart) / 1000;

    // A Service is gone from the API only once the controller deleted its load balancer and its finalizer.
    const deleteStart = performance.now();
    const gone = new Set<string>();
    const deleted = Promise.all([
      watchUntil(kube, namespace, (settle) => ({
        delete: (svc) => {
          gone.add(svc.metadata!.name!);
          progress(`${workers} workers: Services gone ${gone.size}/${SERVICES}`);
          if (gone.size === SERVICES) settle();
        },
      })),
      pool(names, 32, (name) => kube.request('DELETE', `/api/v1/namespaces/${namespace}/services/${name}`)),
    ]);
    await Promise.race([deleted, exited]);
    const deleteSeconds = (performance.now() - deleteStart) / 1000;
    const afterDelete = await providerCalls(metricsUrl);

    const rss = peakRssMb(child.pid!);
    const dropped = await eventsDropped(metricsUrl);
    return {
      workers,
      startupSeconds,
      apiSeconds,
      ips: { seconds: ipsSeconds, calls: afterIps },
      ipsBreakdown,
      node: { seconds: nodeSeconds, calls: minus(afterNode, afterIps) },
      deleteAll: { seconds: deleteSeconds, calls: minus(afterDelete, afterNode) },
      peakRssMb: rss,
      eventsDropped: dropped,
    };
  } catch (err) {
    console.error(readFileSync(logPath, 'utf8').split('\n').slice(-20).join('\n'));
    throw err;
  } finally {
    child.removeAllListeners('exit');
    // A graceful stop, so that a --cpu-prof in BENCH_CHILD_ARGS gets written; SIGKILL if it hangs.
    if (child.exitCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(results: Result[]): void {
  /** The provider bound: every call of the phase, 50 ms each, spread perfectly over the workers. */
  const phase = (p: Phase, workers: number) => {
    const calls = total(p.calls);
    const bound = (calls * LATENCY_MS) / workers / 1000;
    return `${p.seconds.toFixed(2)} s / ${bound.toFixed(2)} s (${calls}) ${(p.seconds / bound).toFixed(2)}x`;
  };
  const rows = [
    ['workers', 'start-up', 'API bound', 'time to all EXTERNAL-IPs', 'node add', 'delete all', 'peak RSS', 'events dropped'],
    ...results.map((r) => [
      String(r.workers),
      `${r.startupSeconds.toFixed(2)} s`,
      `${r.apiSeconds.toFixed(2)} s`,
      phase(r.ips, r.workers),
      phase(r.node, r.workers),
      phase(r.deleteAll, r.workers),
      `${r.peakRssMb.toFixed(1)} MB`,
      String(r.eventsDropped),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(`\ncontroller benchmark: ${SERVICES} Services, provider module with ${LATENCY_MS} ms per call`);
  console.log('each phase: measured / provider bound (calls × 50 ms / workers) (calls in the phase) measured ÷ bound');
  console.log("API bound: the bench making the first syncs' 2 writes per Service itself, at the same concurrency, before the run\n");
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
  for (const r of results) {
    console.log(
      `\ncalls with ${r.workers} workers: ${JSON.stringify({ ips: r.ips.calls, node: r.node.calls, delete: r.deleteAll.calls })}`,
    );
    console.log(`until every EXTERNAL-IP, with ${r.workers} workers: ${r.ipsBreakdown}`);
  }
}

// The package as shipped (dist/), and the example compiled to JavaScript by its own tsconfig, as a user
// would ship a module: it imports service-lb-controller/provider, which resolves to dist/.
buildPackage();
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'examples/provider-module/tsconfig.json', '--outDir', COMPILED], {
  cwd: PACKAGE_ROOT,
  stdio: 'inherit',
});
const modulePath = join(COMPILED, 'provider.js');

const plane = await startControlPlane();
try {
  const kube = new KubeClient(plane.kubeConfig);
  for (let i = 1; i <= 3; i++) await plane.createNode(`node-${i}`, { addresses: [{ type: 'InternalIP', address: `10.0.0.${i}` }] });
  const results: Result[] = [];
  for (const workers of WORKER_COUNTS) results.push(await runOnce(plane, kube, modulePath, workers));
  table(results);
} finally {
  await plane.stop();
}
