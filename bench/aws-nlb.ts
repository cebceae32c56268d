// 200 Services against moto, through the AWS provider directly (as the controller's workers would call it):
// time to all hostnames, AWS calls per Service on create, on an unchanged resync, on a node change and on
// delete. Usage: node bench/aws-nlb.ts [services=200] [workers=4] [callsPerSecond=1000]

import { performance } from 'node:perf_hooks';
import type { DesiredLoadBalancer } from '../src/providers/provider.ts';
import { account, clients, createVpc, makeProvider, useTestCredentials } from '../test/fakes/aws-cloud.ts';
import { startMoto } from '../test/fakes/aws-moto.ts';
import { desiredService, node, tcp } from '../test/fakes/aws-service.ts';

useTestCredentials();

const [services = 200, workers = 4, callsPerSecond = 1000] = process.argv.slice(2).map(Number);

type Counts = Map<string, number>;

async function snapshot(registry: ReturnType<typeof makeProvider>['registry']): Promise<Counts> {
  const counts: Counts = new Map();
  const metric = registry.getSingleMetric('service_lb_aws_api_calls_total');
  for (const v of metric ? (await metric.get()).values : []) {
    const key = `${v.labels['service']}:${v.labels['operation']}`;
    counts.set(key, (counts.get(key) ?? 0) + v.value);
  }
  return counts;
}

function diff(before: Counts, after: Counts): Counts {
  const d: Counts = new Map();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

function summarize(label: string, calls: Counts, n: number, seconds: number): void {
  const sum = (f: (op: string, svc: string) => boolean) =>
    [...calls].filter(([k]) => f(k.split(':')[1]!, k.split(':')[0]!)).reduce((s, [, v]) => s + v, 0);
  const reads = sum((op) => op.startsWith('Describe'));
  const writes = sum((op) => !op.startsWith('Describe'));
  const elb = sum((_, s) => s === 'elbv2');
  const ec2 = sum((_, s) => s === 'ec2');
  const per = (x: number) => (x / n).toFixed(2);
  console.log(`\n${label}: ${n} Services in ${seconds.toFixed(1)} s`);
  console.log(
    `  calls per Service: total ${per(reads + writes)} (reads ${per(reads)}, writes ${per(writes)}; ELBv2 ${per(elb)}, EC2 ${per(ec2)})`,
  );
  const ops = [...calls].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k.split(':')[1]}=${per(v)}`);
  console.log(`  by operation (per Service): ${ops.join(', ')}`);
}

async function inPool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const moto = await startMoto();
try {
  const { elb, ec2 } = clients(moto.url);
  const vpc = await createVpc(ec2);
  const { provider, registry } = makeProvider(
    moto.url,
    vpc.vpcId,
    { callsPerSecond, maxRetries: 8, retryBaseDelayMs: 100, retryMaxDelayMs: 5_000 },
    'bench',
  );
  await provider.start([]);
  const nodes = [node('n1', '10.0.1.10'), node('n2', '10.0.2.10'), node('n3', '10.0.1.11')];
  const desired: DesiredLoadBalancer[] = Array.from({ length: services }, (_, i) =>
    desiredService({ clusterName: 'bench', namespace: 'bench', name: `svc-${i}`, listeners: [tcp(80, 30000 + i)], targets: nodes }),
  );
  console.log(
    `aws-nlb benchmark: ${services} Services (1 TCP port, ${nodes.length} nodes each), ${workers} workers, budget ${callsPerSecond} calls/s, moto ${moto.url}`,
  );

  let before = await snapshot(registry);
  let t0 = performance.now();
  const hostnames = new Map<string, string>();
  await inPool(desired, workers, async (d) => {
    const ingress = await provider.ensure(d);
    hostnames.set(d.identity.uid, ingress[0]?.hostname ?? '');
  });
  const createSeconds = (performance.now() - t0) / 1000;
  if ([...hostnames.values()].filter(Boolean).length !== services) throw new Error('not every Service got a hostname');
  summarize('create (time to all hostnames)', diff(before, await snapshot(registry)), services, createSeconds);

  before = await snapshot(registry);
  t0 = performance.now();
  await inPool(desired, workers, async (d) => void (await provider.ensure(d)));
  summarize('steady-state resync, nothing changed', diff(before, await snapshot(registry)), services, (performance.now() - t0) / 1000);

  const moved = [...nodes.slice(1), node('n4', '10.0.2.11')];
  before = await snapshot(registry);
  t0 = performance.now();
  await inPool(desired, workers, async (d) => void (await provider.updateTargets({ ...d, targets: moved })));
  summarize(
    'node change (one node out, one in) via updateTargets',
    diff(before, await snapshot(registry)),
    services,
    (performance.now() - t0) / 1000,
  );

  before = await snapshot(registry);
  t0 = performance.now();
  const owned = await provider.listOwned();
  summarize(
    `listOwned (GC scan, found ${owned.length})`,
    diff(before, await snapshot(registry)),
    services,
    (performance.now() - t0) / 1000,
  );

  before = await snapshot(registry);
  t0 = performance.now();
  await inPool(desired, workers, async (d) => provider.delete(d.identity));
  summarize('delete', diff(before, await snapshot(registry)), services, (performance.now() - t0) / 1000);
  const left = await account(elb, ec2, vpc.vpcId);
  console.log(
    `\nleft in the account after delete: ${left.loadBalancers.length} NLBs, ${left.targetGroups.length} target groups, ${left.securityGroups.length} security groups`,
  );
  await provider.stop();
} finally {
  await moto.stop();
}
