// The Azure provider's batched writes against one write per Service change, on the ARM fake with ARM-like latency.
//
// The provider is driven directly by W concurrent workers, as the controller's workers call it (no API server).
// The fake sleeps writeLatencyMs (200) before each write and finishes each long-running operation lroDelayMs
// (2000) after answering it. It answers LROs with Retry-After 0, so the SDK polls every pollIntervalMs (250):
// ARM's own Retry-After of 10 s would make polling, not the writes, the figure. Batched: N Services are
// created, resynced unchanged, moved to a new node set, deleted. One-per-PUT (batchWrites: false) takes one
// LB PUT per Service change in series, so it runs on a subset and its 500-Service figures are projections.
// Usage: node bench/azure.ts [services=500] [workers=64] [subset=50]

import { performance } from 'node:perf_hooks';
import type { DesiredLoadBalancer, LoadBalancerProvider, Target } from '../src/providers/provider.ts';
import type { AzureArmFake } from '../test/fakes/azure-arm/index.ts';
import { azureProvider, NODES, RG, service, startArm } from '../test/fakes/azure-suite.ts';

const [SERVICES = 500, WORKERS = 64, SUBSET = 50] = process.argv.slice(2).map(Number);
const WRITE_LATENCY_MS = 200;
const LRO_DELAY_MS = 2000;
const POLL_INTERVAL_MS = 250;
/** ARM's default subscription write limit, and the provider's default budget (1200 an hour, burst 100). */
const DEFAULT_WRITES_PER_HOUR = 1200;
const DEFAULT_WRITE_BURST = 100;
/** Raised so that neither the provider's budget nor the fake's throttling decides the comparison. */
const BENCH_WRITES_PER_HOUR = 10_000_000;
const BENCH_WRITE_BURST = 10_000;

interface Writes {
  lbPuts: number;
  lbDeletes: number;
  pipWrites: number;
  nsgPuts: number;
  total: number;
  /** Write attempts ARM refused (409, 412, 429...): retried by the provider, not counted above. */
  refused: number;
  reads: number;
  polls: number;
}

interface Phase {
  seconds: number;
  writes: Writes;
}

function countWrites(arm: AzureArmFake): Writes {
  const calls = arm.calls();
  const done = calls.filter((c) => c.method !== 'GET' && c.status < 400);
  const of = (type: string, method: string) => done.filter((c) => c.type === type && c.method === method && c.child === undefined).length;
  return {
    lbPuts: of('loadBalancers', 'PUT'),
    lbDeletes: of('loadBalancers', 'DELETE'),
    pipWrites: of('publicIPAddresses', 'PUT') + of('publicIPAddresses', 'DELETE'),
    nsgPuts: of('networkSecurityGroups', 'PUT'),
    total: done.length,
    refused: calls.filter((c) => c.method !== 'GET' && c.status >= 400).length,
    reads: calls.filter((c) => c.method === 'GET' && c.type !== 'operations').length,
    polls: calls.filter((c) => c.type === 'operations').length,
  };
}

async function inPool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function phase(arm: AzureArmFake, label: string, run: () => Promise<void>): Promise<Phase> {
  arm.resetCalls();
  const t0 = performance.now();
  await run();
  const result = { seconds: (performance.now() - t0) / 1000, writes: countWrites(arm) };
  const w = result.writes;
  console.log(
    `  ${label.padEnd(34)} ${result.seconds.toFixed(1).padStart(7)} s  writes ${w.total} (LB PUT ${w.lbPuts}, LB DELETE ${w.lbDeletes}, PIP ${w.pipWrites}, NSG PUT ${w.nsgPuts}; refused ${w.refused})  reads ${w.reads}, LRO polls ${w.polls}`,
  );
  return result;
}

async function startBenchArm(): Promise<AzureArmFake> {
  return startArm({
    writeLatencyMs: WRITE_LATENCY_MS,
    lroDelayMs: LRO_DELAY_MS,
    lroRetryAfterSeconds: 0,
    writeBudget: { limit: BENCH_WRITES_PER_HOUR, windowMs: 3_600_000 },
    readBudget: { limit: BENCH_WRITES_PER_HOUR, windowMs: 3_600_000 },
  });
}

function benchProvider(arm: AzureArmFake, batchWrites: boolean): LoadBalancerProvider {
  return azureProvider(arm, {
    batchWrites,
    pollIntervalMs: POLL_INTERVAL_MS,
    writesPerHour: BENCH_WRITES_PER_HOUR,
    writeBurst: BENCH_WRITE_BURST,
  }).provider;
}

async function ensureAll(provider: LoadBalancerProvider, desired: DesiredLoadBalancer[]): Promise<void> {
  await inPool(desired, WORKERS, async (d) => {
    const [ingress] = await provider.ensure(d);
    if (!ingress?.ip) throw new Error(`${d.identity.name} got no address`);
  });
}

function assertEmpty(arm: AzureArmFake): void {
  const lbs = arm.resources('loadBalancers', RG).length;
  const pips = arm.resources('publicIPAddresses', RG).length;
  const rules = (arm.networkSecurityGroup(RG, 'cluster-nsg')?.properties['securityRules'] as unknown[]).length;
  // The seeded NSG holds two foreign rules, which must survive.
  if (lbs !== 0 || pips !== 0 || rules !== 2) throw new Error(`left after delete: ${lbs} LBs, ${pips} public IPs, ${rules} NSG rules`);
}

console.log(
  `azure benchmark: ${SERVICES} public Services (1 TCP port, ${NODES.length} nodes), ${WORKERS} workers calling the provider directly; ` +
    `ARM fake with ${WRITE_LATENCY_MS} ms per write, ${LRO_DELAY_MS} ms per LRO, Retry-After 0 and pollIntervalMs ${POLL_INTERVAL_MS}`,
);
console.log(
  `write budget raised for the benchmark: provider writesPerHour ${BENCH_WRITES_PER_HOUR} (burst ${BENCH_WRITE_BURST}), fake ${BENCH_WRITES_PER_HOUR} writes/h; defaults are ${DEFAULT_WRITES_PER_HOUR}/h, burst ${DEFAULT_WRITE_BURST}`,
);

const moved: Target[] = [NODES[1]!, { nodeName: 'node-c', addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] }];

console.log(`\nbatched (default), ${SERVICES} Services:`);
let arm = await startBenchArm();
let batched: Record<'create' | 'resync' | 'nodes' | 'delete', Phase>;
try {
  const provider = benchProvider(arm, true);
  await provider.start([]);
  const desired = Array.from({ length: SERVICES }, (_, i) => service(`svc-${i}`));
  const create = await phase(arm, 'create (every Service ensured)', () => ensureAll(provider, desired));
  const resync = await phase(arm, 'resync, nothing changed', () => ensureAll(provider, desired));
  const nodes = await phase(arm, 'node change (one out, one in)', () =>
    inPool(desired, WORKERS, async (d) => void (await provider.updateTargets({ ...d, targets: moved }))),
  );
  const remove = await phase(arm, 'delete all', () => inPool(desired, WORKERS, (d) => provider.delete(d.identity)));
  batched = { create, resync, nodes, delete: remove };
  assertEmpty(arm);
  await provider.stop();
} finally {
  await arm.stop();
}

console.log(`\none write per Service change (batchWrites: false), ${SUBSET} Services:`);
arm = await startBenchArm();
let single: Record<'create' | 'delete', Phase>;
try {
  const provider = benchProvider(arm, false);
  await provider.start([]);
  const desired = Array.from({ length: SUBSET }, (_, i) => service(`one-${i}`));
  const create = await phase(arm, 'create (every Service ensured)', () => ensureAll(provider, desired));
  const remove = await phase(arm, 'delete all', () => inPool(desired, WORKERS, (d) => provider.delete(d.identity)));
  single = { create, delete: remove };
  assertEmpty(arm);
  await provider.stop();
} finally {
  await arm.stop();
}

// The one-per-PUT mode commits one LB PUT (and one NSG PUT) per Service, one after the other on the shared
// LB, so its time and writes grow linearly with the number of Services.
const scale = SERVICES / SUBSET;
const rows: string[][] = [['', `batched (${SERVICES})`, `one-per-PUT (${SUBSET})`, `one-per-PUT, projected ${SERVICES}`, 'ratio']];
/** Totals project linearly; a rate is the same at any size, and its ratio is batched over one-per-PUT. */
const row = (label: string, b: number, s: number, digits: number, rate = false) => {
  const projected = rate ? s : s * scale;
  const ratio = rate ? b / s : projected / b;
  rows.push([label, b.toFixed(digits), s.toFixed(digits), projected.toFixed(digits), b > 0 ? `${ratio.toFixed(1)}x` : '-']);
};
row('create: seconds', batched.create.seconds, single.create.seconds, 1);
row('create: Services per second', SERVICES / batched.create.seconds, SUBSET / single.create.seconds, 2, true);
row('create: LB PUTs', batched.create.writes.lbPuts, single.create.writes.lbPuts, 0);
row('create: public IP writes', batched.create.writes.pipWrites, single.create.writes.pipWrites, 0);
row('create: NSG PUTs', batched.create.writes.nsgPuts, single.create.writes.nsgPuts, 0);
row('create: all writes', batched.create.writes.total, single.create.writes.total, 0);
row('delete: seconds', batched.delete.seconds, single.delete.seconds, 1);
row('delete: all writes', batched.delete.writes.total, single.delete.writes.total, 0);
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log('\ncomparison (ratio = one-per-PUT projected / batched; for Services per second, batched / one-per-PUT):');
for (const r of rows) console.log(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`);

const speedup = (single.create.seconds * scale) / batched.create.seconds;
const perPut = SERVICES / Math.max(1, batched.create.writes.lbPuts);
console.log(
  `\nbar (issue 9): batched create ≥ 10x faster than one-per-PUT: ${speedup.toFixed(1)}x (projected) → ${speedup >= 10 ? 'met' : 'NOT met'}; ` +
    `≤ 1 LB PUT per 10 Services: ${batched.create.writes.lbPuts} LB PUTs for ${SERVICES} (${perPut.toFixed(1)} Services per PUT) → ${perPut >= 10 ? 'met' : 'NOT met'}`,
);
console.log(`steady resync of ${SERVICES} unchanged Services: ${batched.resync.writes.total} writes`);
console.log(
  `node change: ${batched.nodes.writes.lbPuts} LB PUTs, ${batched.nodes.writes.nsgPuts} NSG PUTs (each Service's NSG rules name the node addresses)`,
);

// Under the default budget the burst goes at once, then writes trickle at 1200 an hour.
const budgetMinutes = (writes: number) => (Math.max(0, writes - DEFAULT_WRITE_BURST) / DEFAULT_WRITES_PER_HOUR) * 60;
const batchedWrites = batched.create.writes.total;
const singleWrites = single.create.writes.total * scale;
console.log(
  `\ndefault write budget (${DEFAULT_WRITES_PER_HOUR}/h, burst ${DEFAULT_WRITE_BURST}) for ${SERVICES} public Services: ` +
    `each needs its own public IP write, so batched creation needs ${batchedWrites} writes (${batched.create.writes.pipWrites} of them public IPs) ` +
    `≈ ${budgetMinutes(batchedWrites).toFixed(0)} min at least; one-per-PUT needs ≈ ${singleWrites.toFixed(0)} (projected) ≈ ${budgetMinutes(singleWrites).toFixed(0)} min. ` +
    `Deleting them costs about as many again.`,
);
