// Benchmark: the local provider's proxy against HAProxy (Debian's, TCP mode) and a direct connection,
// on loopback, each proxy pinned to the same core. Prints figures and ratios to HAProxy.
//
//   node bench/local-proxy.ts        BENCH_SECONDS (default 3) per run, BENCH_ROUNDS (default 3) rounds
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { connect } from 'node:net';

const here = fileURLToPath(new URL('.', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNS = 50;
const BACKEND = 20000;
const HAPROXY = 22000;
const LOCAL = 21000;
const VIP = '127.0.100.250';

const work = mkdtempSync(join(tmpdir(), 'slb-bench-'));
const children: ChildProcess[] = [];
const cleanup = (): void => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
};
process.once('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

function aptInstall(pkg: string): void {
  console.log(`installing ${pkg} from Debian...`);
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg}`], { stdio: 'inherit' });
}

if (!has('haproxy')) aptInstall('haproxy');
if (!has('gcc')) aptInstall('gcc');
const load = join(work, 'load');
execFileSync('gcc', ['-O2', '-o', load, join(here, 'local-proxy-load.c')], { stdio: 'inherit' });

// The proxy under test gets the last core; the load generator and the backend share the others.
const cores = availableParallelism();
const pin = has('taskset') && cores >= 2;
const proxyCpus = `${cores - 1}`;
const loadCpus = cores > 2 ? `0-${cores - 2}` : '0';
const pinned = (cpus: string, cmd: string, args: string[]): [string, string[]] =>
  pin ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];

function start(cpus: string, cmd: string, args: string[], waitForReady: boolean): Promise<ChildProcess> {
  const [c, a] = pinned(cpus, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  if (!waitForReady) return Promise.resolve(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve(child));
  });
}

async function listening(host: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

const haproxyConfig = join(work, 'haproxy.cfg');
writeFileSync(
  haproxyConfig,
  `global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen rr
  bind 127.0.0.1:${HAPROXY}
  server backend 127.0.0.1:${BACKEND}
listen bulk
  bind 127.0.0.1:${HAPROXY + 1}
  server backend 127.0.0.1:${BACKEND + 1}
`,
);

await start(loadCpus, load, ['echo', String(BACKEND)], true);
const haproxy = await start(proxyCpus, 'haproxy', ['-db', '-f', haproxyConfig], false);
await listening('127.0.0.1', HAPROXY);
const local = await start(
  proxyCpus,
  process.execPath,
  [join(here, 'local-proxy-server.ts'), VIP, String(LOCAL), String(BACKEND), '1'],
  true,
);

type Target = 'direct' | 'haproxy' | 'local';
type Test = 'rr' | 'conn' | 'bulk';
const endpoints: Record<Target, [string, number]> = {
  direct: ['127.0.0.1', BACKEND],
  haproxy: ['127.0.0.1', HAPROXY],
  local: [VIP, LOCAL],
};

interface Result {
  ops: number;
  seconds: number;
  p99ms?: number;
  bytes?: number;
}

/**
 * CPU seconds a proxy process has used (user + system, all threads). taskset execs its command, so the
 * child's pid is the proxy's. The load generator cannot open connections faster than ~14k/s on one core,
 * which caps both proxies alike; CPU per operation shows what each would cost beyond that.
 */
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
const proxyPid: Partial<Record<Target, number>> = { haproxy: haproxy.pid!, local: local.pid! };

function measure(test: Test, target: Target): Result & { cpuSeconds?: number } {
  const [host, port] = endpoints[target];
  const args =
    test === 'bulk' ? ['bulk', host, String(port + 1), String(SECONDS)] : [test, host, String(port), String(CONNS), String(SECONDS)];
  const [c, a] = pinned(loadCpus, load, args);
  const pid = proxyPid[target];
  const before = pid === undefined ? 0 : cpuSeconds(pid);
  const result = JSON.parse(execFileSync(c, a, { encoding: 'utf8' })) as Result;
  return pid === undefined ? result : { ...result, cpuSeconds: cpuSeconds(pid) - before };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const figures = new Map<string, number[]>();
const record = (key: string, value: number): void => void figures.set(key, [...(figures.get(key) ?? []), value]);

console.log(
  `cores: ${cores}${pin ? `; proxies pinned to CPU ${proxyCpus}, load generator and backend to CPU ${loadCpus}` : ' (no pinning)'}`,
);
console.log(
  `${execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0]}; Node ${process.version}; local proxy: 1 worker thread`,
);
console.log(`${ROUNDS} rounds x ${SECONDS} s per figure, median shown\n`);
const targets: Target[] = ['direct', 'haproxy', 'local'];
for (let round = 0; round < ROUNDS; round++) {
  // A different order each round, so that a burst of noise from the machine does not favour one target.
  const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
  for (const test of ['rr', 'conn', 'bulk'] as Test[]) {
    for (const target of order) {
      const r = measure(test, target);
      if (test === 'bulk') record(`bulk/${target}`, (r.bytes! * 8) / r.seconds / 1e9);
      else {
        record(`${test}/${target}`, r.ops / r.seconds);
        if (r.cpuSeconds !== undefined) record(`${test}-cpu/${target}`, (r.cpuSeconds * 1e6) / r.ops);
        if (test === 'rr') record(`p99/${target}`, r.p99ms!);
      }
    }
  }
  process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
}

const rows: { name: string; key: string; unit: string; digits: number; bar?: number; lowerIsBetter?: boolean }[] = [
  { name: `request rate, ${CONNS} keep-alive conns, 64 B`, key: 'rr', unit: 'req/s', digits: 0, bar: 0.7 },
  { name: 'p99 latency, same', key: 'p99', unit: 'ms', digits: 2, lowerIsBetter: true },
  { name: 'proxy CPU per request, same', key: 'rr-cpu', unit: 'us', digits: 1, lowerIsBetter: true },
  { name: 'new connection per request', key: 'conn', unit: 'conn/s', digits: 0, bar: 0.7 },
  { name: 'proxy CPU per new connection', key: 'conn-cpu', unit: 'us', digits: 1, lowerIsBetter: true },
  { name: 'bulk, 1 stream', key: 'bulk', unit: 'Gbit/s', digits: 2, bar: 0.9 },
];
const table: string[][] = [['', 'direct', 'HAProxy', 'local', 'local / HAProxy', 'bar']];
for (const row of rows) {
  const m = (t: Target): number => median(figures.get(`${row.key}/${t}`) ?? [NaN]);
  const ratio = m('local') / m('haproxy');
  const verdict = row.bar === undefined ? '' : ratio >= row.bar ? `>= ${row.bar}x: met` : `>= ${row.bar}x: NOT met`;
  const cell = (t: Target): string => (Number.isNaN(m(t)) ? '-' : m(t).toFixed(row.digits));
  table.push([
    `${row.name} (${row.unit})`,
    cell('direct'),
    cell('haproxy'),
    cell('local'),
    `${ratio.toFixed(2)}x${row.lowerIsBetter ? ' (lower is better)' : ''}`,
    verdict,
  ]);
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
console.log('');
for (const r of table)
  console.log(
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
console.log('\nall runs:');
for (const [key, values] of figures) console.log(`  ${key}: ${values.map((v) => v.toFixed(2)).join(', ')}`);
// The servers and load generators run until this process exits; the 'exit' handler above kills them.
process.exit(0);
