// Health check verdicts and thresholds, and how checks are shared between load balancers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { HealthMonitor, nextHealth, probeKey, runProbe, type HealthState, type Probe } from '../../src/providers/local/health.ts';
import { planFrontends } from '../../src/providers/local/targets.ts';
import type { DesiredLoadBalancer } from '../../src/providers/provider.ts';
import { plainServiceDefaults } from '../fakes/desired-defaults.ts';

const settings = { unhealthyThreshold: 2, healthyThreshold: 3 };

function run(results: boolean[]): (boolean | undefined)[] {
  let state: HealthState = { healthy: undefined, streak: 0 };
  return results.map((ok) => (state = nextHealth(state, ok, settings)).healthy);
}

test('the first result decides at once', () => {
  assert.deepEqual(run([true]), [true]);
  assert.deepEqual(run([false]), [false]);
});

test('a healthy node turns unhealthy only after unhealthyThreshold failures in a row', () => {
  assert.deepEqual(run([true, false, true, false, false]), [true, true, true, true, false]);
});

test('an unhealthy node comes back only after healthyThreshold successes in a row', () => {
  assert.deepEqual(run([false, true, true, false, true, true, true]), [false, false, false, false, false, false, true]);
});

const ticks = { intervalMs: 1, timeoutMs: 1_000, unhealthyThreshold: 1, healthyThreshold: 1 };
const KUBE_PROXY = { protocol: 'HTTP' as const, port: 10256, path: '/healthz' };

function lb(i: number, nodes: number, ports: number, extra: Partial<DesiredLoadBalancer> = {}): DesiredLoadBalancer {
  return {
    identity: { clusterName: 'k', namespace: 'ns', name: `svc-${i}`, uid: `u${i}`, lbName: `au${i}` },
    listeners: Array.from({ length: ports }, (_, p) => ({ name: `p${p}`, protocol: 'TCP' as const, port: 80 + p, nodePort: 30000 + p })),
    targets: Array.from({ length: nodes }, (_, n) => ({
      nodeName: `n${n}`,
      addresses: [{ type: 'InternalIP', address: `10.0.0.${n + 1}` }],
    })),
    ...plainServiceDefaults(),
    ...extra,
  };
}

/** Probes that answer from `results` (healthy unless set), counting each run. */
function fakeProbes(results: Map<string, boolean> = new Map()) {
  const runs = new Map<string, number>();
  const probe = async (p: Probe) => {
    runs.set(probeKey(p), (runs.get(probeKey(p)) ?? 0) + 1);
    return results.get(probeKey(p)) ?? true;
  };
  return { runs, probe, results };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 2_000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

test('externalTrafficPolicy Cluster: 1000 Services x 3 nodes x 4 ports share 3 checks, each probed once per round', async () => {
  const fake = fakeProbes();
  const monitor = new HealthMonitor({ ...ticks, intervalMs: 60_000 }, () => {}, fake.probe);
  for (let i = 0; i < 1000; i++) {
    const d = lb(i, 3, 4);
    await monitor.use(`lb${i}`, planFrontends(d, ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => true).probes);
  }
  assert.equal(monitor.size, 3);
  assert.deepEqual([...fake.runs.values()], [1, 1, 1], 'a first verdict is shared, not probed again per Service');
  monitor.stop();
});

test('externalTrafficPolicy Local: one check per node and healthCheckNodePort', async () => {
  const fake = fakeProbes();
  const monitor = new HealthMonitor({ ...ticks, intervalMs: 60_000 }, () => {}, fake.probe);
  for (let i = 0; i < 100; i++) {
    const d = lb(i, 3, 4, { externalTrafficPolicy: 'Local', healthCheck: { kind: 'http', port: 32000 + i, path: '/healthz' } });
    await monitor.use(`lb${i}`, planFrontends(d, ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => true).probes);
  }
  assert.equal(monitor.size, 300);
  monitor.stop();
});

test('a check stops when its last user leaves, and a flip is reported to every user once', async () => {
  const fake = fakeProbes();
  const flips: { users: string[]; healthy: boolean }[] = [];
  const monitor = new HealthMonitor(ticks, (users, _probe, healthy) => flips.push({ users: [...users].sort(), healthy }), fake.probe);
  const node = { node: 'n1', kind: 'http' as const, address: '10.0.0.1', port: 10256, path: '/healthz' };
  const other = { ...node, node: 'n2', address: '10.0.0.2' };
  await monitor.use('a', [node, other]);
  await monitor.use('b', [node]);
  assert.equal(monitor.size, 2);
  fake.results.set(probeKey(node), false);
  await until('the flip to be reported', () => flips.length > 0);
  assert.deepEqual(flips[0], { users: ['a', 'b'], healthy: false });
  assert.equal(monitor.healthy(probeKey(node)), false);
  monitor.release('a');
  assert.equal(monitor.size, 1, 'n2 had no other user');
  monitor.release('b');
  assert.equal(monitor.size, 0);
  const runs = fake.runs.get(probeKey(node));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fake.runs.get(probeKey(node)), runs, 'a stopped check is not probed again');
});

test('load balancers moving to a new node set keep the shared checks running and start only the new node’s', async () => {
  const fake = fakeProbes();
  const monitor = new HealthMonitor({ ...ticks, intervalMs: 60_000 }, () => {}, fake.probe);
  // The core hands every Service the same frozen target list per node set (desired.ts).
  const before = lb(0, 3, 1).targets;
  const after = lb(0, 4, 1).targets;
  const plan = (i: number, targets: DesiredLoadBalancer['targets']) =>
    planFrontends(lb(i, 0, 1, { targets }), ['127.0.100.1'], ['InternalIP'], KUBE_PROXY, () => true).probes;
  for (let i = 0; i < 100; i++) await monitor.use(`lb${i}`, plan(i, before));
  for (let i = 0; i < 100; i++) await monitor.use(`lb${i}`, plan(i, after));
  assert.equal(monitor.size, 4);
  assert.deepEqual([...fake.runs.values()], [1, 1, 1, 1], 'no check was stopped and started again');
  for (let i = 0; i < 100; i++) monitor.release(`lb${i}`);
  assert.equal(monitor.size, 0);
  monitor.stop();
});

/** Holds this thread for ms, as a busy turn of the controller's loop does. */
function holdLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a probe answered while the loop was held up passes: its timeout, late itself, waits once more', async (t) => {
  const tcp = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  const web = createHttpServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
  t.after(() => {
    tcp.close();
    web.close();
  });
  await Promise.all([tcp, web].map((server) => new Promise((resolve) => server.once('listening', resolve))));
  const port = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

  const verdicts = [
    runProbe({ node: 'n1', kind: 'tcp', address: '127.0.0.1', port: port(tcp) }, 50),
    runProbe({ node: 'n1', kind: 'http', address: '127.0.0.1', port: port(web), path: '/healthz' }, 50),
  ];
  // Once the requests are out, four timeouts' worth: both timers are overdue before the loop sees an answer.
  await new Promise((resolve) => setImmediate(resolve));
  holdLoop(200);
  assert.deepEqual(await Promise.all(verdicts), [true, true]);
});

test('a probe nobody answers still fails after its timeout', async (t) => {
  // Listening, but never answering the request.
  const silent = createHttpServer(() => undefined).listen(0, '127.0.0.1');
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
  });
  await new Promise((resolve) => silent.once('listening', resolve));
  const ok = await runProbe(
    { node: 'n1', kind: 'http', address: '127.0.0.1', port: (silent.address() as AddressInfo).port, path: '/healthz' },
    100,
  );
  assert.equal(ok, false);
});
