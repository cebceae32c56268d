// Scale benchmark of the controller as users start it: N Nodes (each answering kube-proxy's /healthz), then
// a burst of S LoadBalancer Services created while it runs, then one Node added. Prints the delay from the
// last create to the last EXTERNAL-IP, the node round time, and the controller's peak RSS and heap.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { KubeClient } from '../src/kube/client.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { cliLaunch } from './cli-launch.ts';
import { metricSum, metricValues } from './metrics-text.ts';
import { freePort } from '../test/support/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVICES = Number(process.env.SCALE_SERVICES ?? 1000);
const NODES = Number(process.env.SCALE_NODES ?? 100);
const PORTS = Number(process.env.SCALE_PORTS ?? 1);
/** local: the local provider; none: a provider module that does nothing (bench/noop-provider.ts). Both through the CLI. */
const PROVIDER = process.env.SCALE_PROVIDER ?? 'local';
/** How the CLI is started: src (npm start), dist (the bin after npm run build), image (the Dockerfile's command). */
const START = process.env.SCALE_START ?? 'src';
const WORKERS = process.env.SCALE_WORKERS ? Number(process.env.SCALE_WORKERS) : undefined;
/** With the local provider: external runs the data path as `service-lb-controller proxy`, started the same way. */
const EXTERNAL = process.env.SCALE_DATAPATH === 'external';
/** Loopback addresses of their own, so that runs by other people on this host do not collide. */
const NET = 1 + Math.floor(Math.random() * 250);
const nodeAddress = (i: number): string => `127.${NET}.${1 + (i >> 8)}.${i & 255}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** kube-proxy's /healthz on one node address. */
function nodeHealth(address: string): Promise<Server> {
  const server = createServer((_, res) => res.end('{"lastUpdated":"","currentTime":""}'));
  return new Promise((resolve, reject) => server.once('error', reject).listen(10256, address, () => resolve(server)));
}

/** Peak and current RSS of a process and its descendants' largest, from /proc. */
function memoryOf(pid: number): { hwmMb: number; rssMb: number; anonMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { hwmMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024 };
}

/**
 * Where a process's resident memory sits, from /proc/PID/smaps: the executable, shared libraries and other
 * files, glibc's main arena ([heap]), thread stacks, and other anonymous memory (V8's heaps, other malloc
 * arenas, the TCP engine's buffers) split by mapping size, since V8 maps its pages in 256 KiB chunks.
 */
function residentBreakdown(pid: number): string {
  const sums = new Map<string, number>();
  const hugePages = new Map<string, number>();
  let current = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const [, from, to, name] = header;
      const size = Number.parseInt(to!, 16) - Number.parseInt(from!, 16);
      current =
        name === process.execPath || name!.endsWith('/node')
          ? 'node executable'
          : name!.startsWith('/')
            ? name!.endsWith('.node')
              ? 'native addons'
              : 'other files'
            : name === '[heap]' || name!.startsWith('[stack')
              ? name!.replace(/:.*/, '')
              : size === 256 * 1024
                ? 'anonymous 256 KiB (V8 pages)'
                : size >= 64 * 1024 * 1024 - 4096 && size <= 64 * 1024 * 1024
                  ? 'anonymous 64 MiB (malloc arenas)'
                  : 'anonymous, other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss) sums.set(current, (sums.get(current) ?? 0) + Number(rss[1]) / 1024);
    const pmd = /^FilePmdMapped:\s+(\d+) kB$/.exec(line);
    if (pmd) hugePages.set(current, (hugePages.get(current) ?? 0) + Number(pmd[1]) / 1024);
  }
  // A kernel that keeps the executable in the page cache as 2 MiB folios maps it whole 2 MiB at a time: the
  // same code then counts tens of MB more resident (shared, file-backed) than when it sits in 4 KiB pages.
  return [...sums]
    .sort((a, b) => b[1] - a[1])
    .map(([name, mb]) => `${name} ${mb.toFixed(1)}${hugePages.get(name) ? ` (${hugePages.get(name)!.toFixed(1)} in 2 MiB pages)` : ''}`)
    .join(', ');
}

/** CPU seconds a process has used (user + system, all its threads): unlike wall time, hardly moved by other load. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The node process doing the work: the deepest descendant (npm start and a re-exec add parents). */
function workerPid(pid: number): number {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.length > 0 ? workerPid(children[0]!) : pid;
  } catch {
    return pid;
  }
}

async function scrape(metricsUrl: string): Promise<string> {
  return (await fetch(`${metricsUrl}/metrics`)).text();
}

/** Every series of a metric, by its label set, summed over the labels not named. */
function metricBy(text: string, name: string, labels: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const key = labels.map((l) => new RegExp(`${l}="([^"]*)"`).exec(line)?.[1] ?? '').join(' ');
    out.set(key, (out.get(key) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return out;
}

/** What the controller did between two scrapes: API requests by verb and resource, syncs, queue adds, events. */
function workSummary(before: string, after: string): string {
  const delta = (name: string, labels: string[]) => {
    const b = metricBy(before, name, labels);
    return [...metricBy(after, name, labels)].map(([k, v]) => [k, v - (b.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
  };
  const one = (name: string) => delta(name, []).reduce((a, [, v]) => a + v, 0);
  const requests = delta('service_lb_kube_api_requests_total', ['verb', 'resource']).map(([k, v]) => `${k} ${v}`);
  const syncs = one('service_lb_sync_duration_seconds_count');
  const syncSeconds = one('service_lb_sync_duration_seconds_sum');
  const rest = one('rest_client_request_duration_seconds_count');
  const restSeconds = one('rest_client_request_duration_seconds_sum');
  return [
    `API requests: ${requests.join(', ')}`,
    `syncs ${syncs} (mean ${((syncSeconds / (syncs || 1)) * 1000).toFixed(1)} ms), queue adds ${one('workqueue_adds_total')}, ` +
      `API request mean ${((restSeconds / (rest || 1)) * 1000).toFixed(1)} ms, events dropped ${one('service_lb_events_dropped_total')}`,
  ].join('\n' + ' '.repeat(41));
}

function heapSummary(text: string): string {
  const mb = (name: string) => (metricSum(text, name) / 1e6).toFixed(1);
  return `rss ${mb('process_resident_memory_bytes')} MB, heap used ${mb('nodejs_heap_size_used_bytes')} / total ${mb('nodejs_heap_size_total_bytes')} MB, external ${mb('nodejs_external_memory_bytes')} MB`;
}

/**
 * bench/noop-provider.ts as a user ships a module, in JavaScript: importing TypeScript would load Node's type
 * stripper (WebAssembly) into the controller, several MB that a compiled controller does not otherwise have.
 */
function noopProviderModule(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'slc-scale-noop-')), 'noop-provider.mjs');
  writeFileSync(file, stripTypeScriptTypes(readFileSync(join(ROOT, 'bench/noop-provider.ts'), 'utf8')));
  return file;
}

/** SIGTERM to pid (the child, or the process it runs), then SIGKILL if the child has not exited within 15 s. */
async function stop(child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(pid, 'SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.exitCode === null) {
    process.kill(pid, 'SIGKILL');
    if (pid !== child.pid) child.kill('SIGKILL');
  }
}

const plane = await startControlPlane();
const healthServers: Server[] = [];
let child: ChildProcess | undefined;
let proxy: ChildProcess | undefined;
try {
  const kube = new KubeClient(plane.kubeConfig);
  const addNode = async (name: string, address: string) => {
    healthServers.push(await nodeHealth(address));
    await plane.createNode(name, { addresses: [{ type: 'InternalIP', address }] });
  };
  await pool(
    Array.from({ length: NODES }, (_, i) => i + 1),
    8,
    (i) => addNode(`node-${i}`, nodeAddress(i)),
  );
  await plane.createNamespace('bench');

  const dir = mkdtempSync(join(tmpdir(), 'slc-scale-'));
  const external = EXTERNAL
    ? {
        dataPath: 'external',
        proxySocket: join(dir, 'proxy.sock'),
        proxyServer: { metricsAddress: `127.0.0.1:${await freePort()}`, healthAddress: `127.0.0.1:${await freePort()}` },
      }
    : {};
  const config = {
    provider:
      PROVIDER === 'none'
        ? { name: 'module', module: noopProviderModule() }
        : { name: 'local', local: { addressPools: [{ name: 'bench', addresses: [`127.${NET}.128.0/17`] }], ...external } },
    controller: { resyncPeriod: '1h', ...(WORKERS ? { workers: WORKERS } : {}) },
    leaderElection: { enabled: false },
    logging: { level: 'warn' as const },
  };
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    stringify({ ...config, server: { metricsAddress: `127.0.0.1:${metricsPort}`, healthAddress: `127.0.0.1:${healthPort}` } }),
  );
  const args = ['run', '--config', file, '--kubeconfig', plane.kubeconfigPath];
  const dockerfileEnv = () =>
    Object.fromEntries([...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^ENV (\S+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const dockerfileEntrypoint = () => {
    const line = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').match(/^(?:ENTRYPOINT|CMD) (\[.*\])$/m)![1]!;
    return (JSON.parse(line) as string[]).map((a) => a.replace('/app/dist/', join(dir, 'dist/')));
  };
  if (START !== 'src') {
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    // dist/ sits next to build/ and node_modules/ in the image; symlinks stand in for them here.
    execFileSync('ln', ['-s', join(ROOT, 'build'), join(ROOT, 'node_modules'), join(ROOT, 'package.json'), dir]);
    // npm makes a package's bin executable when it installs it.
    execFileSync('chmod', ['+x', join(dir, 'dist/cli.js')]);
  }
  // SCALE_PROFILE=dir: a CPU profile of the controller, written when it stops. Node refuses --cpu-prof in
  // NODE_OPTIONS, so a profiled run from source starts the CLI as npm start does, with the flag added.
  const profileDir = process.env.SCALE_PROFILE;
  const cliFlags = cliLaunch().flags;
  // The proxy first, as its container starts next to the controller's; started from source or dist as the controller is.
  if (EXTERNAL) {
    const cli = START === 'src' ? [join(ROOT, 'src/cli.ts')] : [join(dir, 'dist/cli.js')];
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    proxy = spawn(process.execPath, [...cliFlags, ...profile, ...cli, 'proxy', '--config', file], {
      cwd: START === 'src' ? ROOT : dir,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  const [command, ...rest] =
    START === 'src' && profileDir
      ? [process.execPath, ...cliFlags, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, 'src/cli.ts', ...args]
      : START === 'src'
        ? ['npm', 'start', '--silent', '--', ...args]
        : START === 'dist'
          ? [join(dir, 'dist/cli.js'), ...args]
          : [...dockerfileEntrypoint(), ...args];
  child = spawn(command!, rest, {
    cwd: START === 'src' ? ROOT : dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    // The image's ENV lines apply to its entrypoint (the bin and npm start set the same themselves).
    // `node` on PATH is this Node (24), as in the image and under npm start, not whatever the host has.
    env: {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
      ...(START === 'image' ? dockerfileEnv() : {}),
    },
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`controller exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const pid = workerPid(child.pid!);
  const idle = await scrape(metricsUrl);
  // Which phase the peak falls in: VmHWM alone does not say.
  let phase = 'idle';
  const peaks = new Map<string, number>();
  // The process's own memory (RssAnon), apart from the executable and libraries it maps from the page cache.
  let peakAnonMb = 0;
  const sampler = setInterval(() => {
    const now = memoryOf(pid);
    peaks.set(phase, Math.max(peaks.get(phase) ?? 0, now.rssMb));
    peakAnonMb = Math.max(peakAnonMb, now.anonMb);
  }, 100);

  const withIp = new Set<string>();
  let allIps: () => void = () => {};
  const allIpsSeen = new Promise<void>((resolve) => (allIps = resolve));
  const track = (svc: V1Service) => {
    if (svc.status?.loadBalancer?.ingress?.length) withIp.add(svc.metadata!.name!);
    if (withIp.size === SERVICES) allIps();
  };
  const watcher = new ResilientInformer<V1Service>(
    kube,
    '/api/v1/namespaces/bench/services',
    { add: track, update: (_, svc) => track(svc) },
    pino({ level: 'warn' }),
  );
  await watcher.start();
  const names = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
  const cpuBeforeBurst = cpuOf(pid);
  const apiCpuBeforeBurst = cpuOf(plane.pids.apiserver);
  phase = 'create burst';
  const createStart = performance.now();
  await pool(names, 32, (name) =>
    kube.request('POST', '/api/v1/namespaces/bench/services', {
      metadata: { name },
      spec: {
        type: 'LoadBalancer',
        selector: { app: name },
        ports: Array.from({ length: PORTS }, (_, p) => ({ name: `p${p}`, port: 80 + p, protocol: 'TCP' })),
      },
    }),
  );
  const lastCreate = performance.now();
  await allIpsSeen;
  const allIpsAt = performance.now();
  const burstCpu = cpuOf(pid) - cpuBeforeBurst;
  const burstApiCpu = cpuOf(plane.pids.apiserver) - apiCpuBeforeBurst;
  await watcher.stop();
  const afterCreate = await scrape(metricsUrl);

  const rounds = (text: string) => metricValues(text, 'service_controller_nodesync_latency_seconds_count')[0] ?? 0;
  const roundSum = (text: string) => metricValues(text, 'service_controller_nodesync_latency_seconds_sum')[0] ?? 0;
  const nodeRounds: string[] = [];
  phase = 'node rounds';
  for (let round = 0; round < Number(process.env.SCALE_NODE_ROUNDS ?? 3); round++) {
    const before = await scrape(metricsUrl);
    const cpuBefore = cpuOf(pid);
    const started = performance.now();
    await addNode(`node-new-${round}`, nodeAddress(NODES + 1 + round));
    let after = before;
    // Not during the round if it can be helped, and then not more often than every second: a scrape asks
    // the proxy workers for every frontend's counters (at 1000 Services, more CPU than the round itself).
    // The round's time comes from the controller's own histogram, whenever it is read.
    await sleep(2000);
    for (;;) {
      after = await scrape(metricsUrl);
      if (rounds(after) !== rounds(before)) break;
      await sleep(1000);
    }
    nodeRounds.push(
      `${(roundSum(after) - roundSum(before)).toFixed(3)} s in the controller, ${((performance.now() - started) / 1000).toFixed(2)} s until the bench looked (first look after 2 s), ${(cpuOf(pid) - cpuBefore).toFixed(2)} CPU s`,
    );
    await sleep(1000);
  }
  const end = await scrape(metricsUrl);
  clearInterval(sampler);
  const mem = memoryOf(pid);

  const row = (label: string, value: string) => console.log(`${label.padEnd(40)} ${value}`);
  console.log(`\nscale benchmark: ${SERVICES} Services x ${PORTS} port(s), ${NODES} Nodes, provider ${PROVIDER}, started as ${START}`);
  row('creating the Services', `${((lastCreate - createStart) / 1000).toFixed(2)} s`);
  row('last create -> every EXTERNAL-IP', `${((allIpsAt - lastCreate) / 1000).toFixed(2)} s`);
  row(
    'CPU during the burst',
    `controller ${burstCpu.toFixed(2)} s (${((burstCpu / SERVICES) * 1000).toFixed(2)} ms per Service), kube-apiserver ${burstApiCpu.toFixed(2)} s`,
  );
  row('work during the burst', workSummary(idle, afterCreate));
  for (const [i, r] of nodeRounds.entries()) row(`node added, round ${i + 1}`, r);
  row('work during the node rounds', workSummary(afterCreate, end));
  row('memory idle (N nodes, no Services)', heapSummary(idle));
  row('memory after the burst', heapSummary(afterCreate));
  row('memory at the end', heapSummary(end));
  row('controller peak RSS (VmHWM)', `${mem.hwmMb.toFixed(1)} MB (pid ${pid}, now ${mem.rssMb.toFixed(1)} MB)`);
  row('peak RSS sampled, by phase', [...peaks].map(([p, mb]) => `${p} ${mb.toFixed(1)} MB`).join(', '));
  row('peak anonymous RSS sampled', `${peakAnonMb.toFixed(1)} MB (RssAnon: not the executable or other files)`);
  row('resident now, by mapping (MB)', residentBreakdown(pid));
  if (proxy) {
    const proxyMem = memoryOf(proxy.pid!);
    row('proxy peak RSS (VmHWM)', `${proxyMem.hwmMb.toFixed(1)} MB (pid ${proxy.pid}, now ${proxyMem.rssMb.toFixed(1)} MB)`);
  }
  if (process.env.SCALE_HEAPSNAPSHOT) {
    process.kill(pid, 'SIGUSR2');
    await sleep(20_000);
  }
} finally {
  // npm does not pass signals on to the controller: signal the controller itself.
  if (child) await stop(child, workerPid(child.pid!));
  if (proxy) await stop(proxy, proxy.pid!);
  for (const s of healthServers) s.close();
  await plane.stop();
}
