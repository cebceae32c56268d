// Services against the GCE fake with Compute-like latency, through the GCP provider driven by N concurrent workers
// (as the controller's workers call it): time until every Service is ensured, Compute calls per Service on create,
// unchanged resync, node change and delete, against the bound the call budget and the operation latency set.
// Usage: node bench/gcp.ts [modes=passthrough:200,neg:50] [workers=64] [callsPerSecond=100] (mode:Services, so that the
// default run takes minutes, not a quarter of an hour)

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { gcpProviderConfigSchema, type GcpMode } from '../src/providers/gcp/config.ts';
import { GcpProvider } from '../src/providers/gcp/provider.ts';
import { type DesiredLoadBalancer, defaultLoadBalancerName, ProviderError, type Target } from '../src/providers/provider.ts';
import { plainServiceDefaults } from '../test/fakes/desired-defaults.ts';
import { GceFake } from '../test/fakes/gce/index.ts';
import { MetricsRegistry } from '../src/server/metrics-registry.ts';

const args = process.argv.slice(2);
const modes = (args[0] ?? 'passthrough:200,neg:50').split(',').map((m) => {
  const [mode, count] = m.split(':');
  return { mode: mode as GcpMode, services: Number(count ?? 200) };
});
const workers = Number(args[1] ?? 64);
const callsPerSecond = Number(args[2] ?? 100);
const CALL_LATENCY_MS = 100;
const OPERATION_DELAY_MS = 2_000;
const READS = /\.(get|list|wait|listInstances|listNetworkEndpoints)$/;

type Counts = Map<string, number>;

async function snapshot(registry: MetricsRegistry): Promise<Counts> {
  const counts: Counts = new Map();
  const metric = registry.getSingleMetric('service_lb_gcp_api_calls_total');
  for (const v of metric ? (await metric.get()).values : []) {
    const op = String(v.labels['operation']);
    counts.set(op, (counts.get(op) ?? 0) + v.value);
  }
  return counts;
}

function diff(before: Counts, after: Counts): Counts {
  const d: Counts = new Map();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

/** Runs fn over items on `concurrency` workers; a retryable failure is queued again after its delay, as the controller's queue does. */
async function inPool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  const queue = [...items];
  let inFlight = 0;
  let retries = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const item = queue.shift();
        if (item === undefined) {
          if (inFlight === 0) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        inFlight++;
        try {
          await fn(item);
        } catch (err) {
          if (!(err instanceof ProviderError) || !err.retryable) throw err;
          retries++;
          const delay = err.retryAfterMs ?? 1_000;
          setTimeout(() => queue.push(item), delay);
          await new Promise((resolve) => setTimeout(resolve, delay));
        } finally {
          inFlight--;
        }
      }
    }),
  );
  return retries;
}

interface Row {
  mode: string;
  services: number;
  phase: string;
  seconds: number;
  calls: number;
  writes: number;
  retries: number;
  bound: number | undefined;
}

function row(mode: string, services: number, phase: string, seconds: number, calls: Counts, retries: number, withBound: boolean): Row {
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const writes = [...calls].filter(([op]) => !READS.test(op)).reduce((a, [, v]) => a + v, 0);
  // Two lower bounds on the phase's time: every call through the shared budget, and each Service's chain
  // of operations (one after another, each about OPERATION_DELAY_MS + one call) spread over the workers.
  const budgetBound = total / callsPerSecond;
  const chainBound = ((writes / services) * (OPERATION_DELAY_MS + CALL_LATENCY_MS) * Math.ceil(services / workers)) / 1000;
  return {
    mode,
    services,
    phase,
    seconds,
    calls: total,
    writes,
    retries,
    bound: withBound ? Math.max(budgetBound, chainBound) : undefined,
  };
}

function print(rows: Row[]): void {
  const header = ['mode', 'Services', 'phase', 'seconds', 'calls/Service', 'writes/Service', 'retried syncs', 'bound s', 'ratio'];
  const lines = rows.map((r) => [
    r.mode,
    String(r.services),
    r.phase,
    r.seconds.toFixed(1),
    (r.calls / r.services).toFixed(2),
    (r.writes / r.services).toFixed(2),
    String(r.retries),
    r.bound === undefined ? '-' : r.bound.toFixed(1),
    r.bound === undefined ? '-' : (r.seconds / r.bound).toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
}

async function benchMode(mode: GcpMode, services: number): Promise<Row[]> {
  const gce = await GceFake.start({ pageSize: 500 });
  try {
    gce.addSubnetwork('proxy-only', { ipCidrRange: '10.129.0.0/23', purpose: 'REGIONAL_MANAGED_PROXY', role: 'ACTIVE' });
    const nodes: Target[] = ['n1', 'n2', 'n3', 'n4'].map((name, i) => {
      const zone = gce.zones[i % 2]!;
      const instance = gce.addInstance(name, { zone, tags: ['k8s-node'] });
      const ip = String((instance['networkInterfaces'] as Array<Record<string, unknown>>)[0]!['networkIP']);
      return { nodeName: name, addresses: [{ type: 'InternalIP', address: ip }], providerID: `gce://${gce.project}/${zone}/${name}` };
    });
    const registry = new MetricsRegistry();
    const config = gcpProviderConfigSchema.parse({
      ...gce.providerConfig(),
      mode,
      callsPerSecond,
      retryBaseDelayMs: 200,
      retryMaxDelayMs: 5_000,
    });
    const provider = new GcpProvider(
      config,
      {
        clusterName: 'bench',
        logger: pino({ level: 'silent' }),
        registry,
        events: { record: () => undefined },
        capacityFreed: () => undefined,
      },
      { authClient: gce.clientOptions().authClient },
    );
    const desired: DesiredLoadBalancer[] = Array.from({ length: services }, (_, i) => {
      const uid = randomUUID();
      return {
        ...plainServiceDefaults(),
        identity: { clusterName: 'bench', namespace: 'bench', name: `svc-${i}`, uid, lbName: defaultLoadBalancerName(uid) },
        listeners: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30000 + i }],
        targets: nodes.slice(0, 3),
      };
    });
    gce.callLatencyMs = CALL_LATENCY_MS;
    gce.operationDelayMs = OPERATION_DELAY_MS;
    const rows: Row[] = [];
    const phase = async (name: string, withBound: boolean, fn: (d: DesiredLoadBalancer) => Promise<void>): Promise<void> => {
      const before = await snapshot(registry);
      const t0 = performance.now();
      const retries = await inPool(desired, workers, fn);
      rows.push(row(mode, services, name, (performance.now() - t0) / 1000, diff(before, await snapshot(registry)), retries, withBound));
    };

    const ips = new Set<string>();
    await phase('create (all ensured)', true, async (d) => {
      const [ingress] = await provider.ensure(d);
      if (ingress?.ip) ips.add(ingress.ip);
    });
    if (ips.size !== services) throw new Error(`${ips.size} distinct IPs for ${services} Services`);
    await phase('steady resync', false, async (d) => void (await provider.ensure(d)));
    const moved = nodes.slice(1);
    await phase('node change (1 out, 1 in)', true, (d) => provider.updateTargets({ ...d, targets: moved }));
    await phase('delete', true, (d) => provider.delete(d.identity));
    const left = ['addresses', 'forwardingRules', 'targetPools', 'backendServices', 'targetTcpProxies'] as const;
    const leftCount = left.reduce((n, c) => n + gce.resources(c).length, 0);
    if (leftCount > 0) throw new Error(`${leftCount} resources left after delete`);
    await provider.stop();
    return rows;
  } finally {
    await gce.stop();
  }
}

console.log(
  `gcp benchmark: ${modes.map((m) => `${m.mode} ${m.services}`).join(', ')} Services (1 TCP port, 3 of 4 nodes in 2 zones), ${workers} workers, budget ${callsPerSecond} calls/s, ` +
    `fake callLatencyMs ${CALL_LATENCY_MS}, operationDelayMs ${OPERATION_DELAY_MS}, list pages of 500`,
);
const rows: Row[] = [];
for (const { mode, services } of modes) rows.push(...(await benchMode(mode, services)));
print(rows);
const steady = rows.filter((r) => r.phase === 'steady resync');
console.log(`\nsteady resync writes: ${steady.map((r) => `${r.mode} ${r.writes}`).join(', ')} (must be 0)`);
console.log(
  'bound = max(calls / budget, writes per Service x (operation delay + one call) x ceil(Services / workers)); ratio = time / bound (bar: <= 2)',
);
