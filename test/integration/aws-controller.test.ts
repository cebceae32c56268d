// End to end: the real controller (the CLI, as a separate process) + a real kube-apiserver + moto.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { stringify } from 'yaml';
import { useControlPlane } from '../harness/node-test.ts';
import { spawnManaged, tailFile, type ManagedProcess } from '../harness/processes.ts';
import { TestKube, waitFor } from '../support/controller.ts';
import {
  account,
  allocateEip,
  clients,
  createVpc,
  isWrite,
  makeProvider,
  targetsOf,
  useTestCredentials,
  type TestVpc,
} from '../fakes/aws-cloud.ts';
import { startMoto, type Moto } from '../fakes/aws-moto.ts';
import { desiredService } from '../fakes/aws-service.ts';
import { metricTotal } from '../support/metrics.ts';

useTestCredentials();

const CLUSTER = 'e2e';

/** AWS call counts by operation, from the controller's own /metrics. */
async function awsCalls(metricsUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^service_lb_aws_api_calls_total\{[^}]*operation="([^"]+)"[^}]*\} (\d+)/gm)) {
    counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return counts;
}

/** Status PATCHes the controller sent, from its own /metrics. */
function statusPatches(metricsUrl: string): Promise<number> {
  return metricTotal(metricsUrl, 'service_lb_kube_api_requests_total', { verb: 'PATCH', resource: 'services/status' });
}

function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [op, n] of after) if (n - (before.get(op) ?? 0) > 0) d.set(op, n - (before.get(op) ?? 0));
  return d;
}

describe('controller + kube-apiserver + moto (aws provider)', () => {
  const plane = useControlPlane();
  let moto: Moto;
  let elb: ElasticLoadBalancingV2Client;
  let ec2: EC2Client;
  let vpc: TestVpc;
  let kube: TestKube;
  let dir: string;
  let controller: ManagedProcess;
  let metricsUrl: string;

  before(async () => {
    moto = await startMoto();
    ({ elb, ec2 } = clients(moto.url));
    vpc = await createVpc(ec2);
    kube = new TestKube(plane());
    await plane().createNamespace('shop');
    await plane().createNode('node-a', { addresses: [{ type: 'InternalIP', address: '10.0.1.10' }], providerID: 'aws:///us-east-1a/i-a' });
    await plane().createNode('node-b', { addresses: [{ type: 'InternalIP', address: '10.0.2.10' }], providerID: 'aws:///us-east-1b/i-b' });

    dir = mkdtempSync(join(tmpdir(), 'slc-aws-e2e-'));
    const configPath = join(dir, 'config.yaml');
    writeFileSync(
      configPath,
      stringify({
        clusterName: CLUSTER,
        provider: {
          name: 'aws',
          aws: {
            region: 'us-east-1',
            endpoints: { elbv2: moto.url, ec2: moto.url },
            vpcId: vpc.vpcId,
            callsPerSecond: 200,
            retryBaseDelayMs: 50,
          },
        },
        controller: { resyncPeriod: '2s', backoff: { initial: '200ms', max: '2s' }, garbageCollection: { period: '2s' } },
        leaderElection: { enabled: false },
        server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
        logging: { level: 'info' },
      }),
    );
    const logPath = join(dir, 'controller.log');
    controller = spawnManaged(
      'controller',
      process.execPath,
      ['src/cli.ts', 'run', '--config', configPath, '--kubeconfig', plane().kubeconfigPath],
      logPath,
    );
    metricsUrl = await waitFor(
      'the controller to start',
      () => {
        if (controller.exitDescription()) throw new Error(`controller ${controller.exitDescription()}:\n${tailFile(logPath)}`);
        const line = readFileSync(logPath, 'utf8')
          .split('\n')
          .find((l) => l.includes('"msg":"started"'));
        return line ? `${JSON.parse(line).metrics as string}` : undefined;
      },
      30_000,
    );
    if (!metricsUrl.endsWith('/metrics')) metricsUrl = `${metricsUrl.replace(/\/$/, '')}/metrics`;
  });

  after(async () => {
    await controller?.stop(10_000);
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a LoadBalancer Service gets an NLB; nodes, resyncs, a bad annotation, deletion and GC behave', async () => {
    await kube.createService('shop', 'web', { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
    const svc = await waitFor('web to get a hostname', async () => {
      const s = await kube.getService('shop', 'web');
      return s.status?.loadBalancer?.ingress?.[0]?.hostname ? s : undefined;
    });
    const nodePort = svc.spec!.ports![0]!.nodePort!;
    let a = await account(elb, ec2, vpc.vpcId);
    assert.equal(a.loadBalancers.length, 1);
    assert.equal(svc.status!.loadBalancer!.ingress![0]!.hostname, a.loadBalancers[0]!.DNSName);
    assert.equal(a.loadBalancers[0]!.LoadBalancerName, `a${svc.metadata!.uid!.replaceAll('-', '')}`.slice(0, 32));
    assert.deepEqual(await targetsOf(elb, a.targetGroups[0]!.TargetGroupArn!), [`10.0.1.10:${nodePort}`, `10.0.2.10:${nodePort}`]);

    // A node joins: its IP becomes a target.
    await plane().createNode('node-c', { addresses: [{ type: 'InternalIP', address: '10.0.3.10' }], providerID: 'aws:///us-east-1a/i-c' });
    await waitFor('node-c to become a target', async () =>
      (await targetsOf(elb, a.targetGroups[0]!.TargetGroupArn!)).includes(`10.0.3.10:${nodePort}`),
    );

    // Steady state: periodic resyncs (every 2 s) make no write and at most 2 reads per Service.
    const start = await awsCalls(metricsUrl);
    const during = await waitFor(
      'two resyncs',
      async () => {
        const d = delta(start, await awsCalls(metricsUrl));
        return (d.get('DescribeListeners') ?? 0) >= 2 ? d : undefined;
      },
      20_000,
    );
    const resyncs = during.get('DescribeListeners')!;
    const writes = [...during.keys()].filter(isWrite);
    assert.deepEqual(writes, [], `writes during steady state: ${JSON.stringify([...during])}`);
    const gcReads = ['DescribeLoadBalancers', 'DescribeTargetGroups', 'DescribeSecurityGroups', 'DescribeTags'];
    const syncReads = [...during].filter(([op]) => !gcReads.includes(op)).reduce((n, [, c]) => n + c, 0);
    assert.ok(syncReads <= 2 * resyncs, `sync reads ${syncReads} for ${resyncs} resyncs of one Service: ${JSON.stringify([...during])}`);

    // A value the provider does not understand: a Warning event that names the annotation.
    await kube.patchService('shop', 'web', {
      metadata: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'ICMP' } },
    });
    await waitFor('a Warning naming the annotation', () =>
      kube.hasEvent('shop', 'web', 'SyncLoadBalancerFailed', 'aws-load-balancer-healthcheck-protocol'),
    );
    await kube.patchService('shop', 'web', {
      metadata: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'HTTP' } },
    });
    await waitFor(
      'the HTTP health check',
      async () => (await account(elb, ec2, vpc.vpcId)).targetGroups[0]?.HealthCheckProtocol === 'HTTP',
    );

    // GC: a load balancer tagged for this cluster whose Service does not exist is deleted by the controller.
    const ghost = desiredService({ clusterName: CLUSTER, namespace: 'shop', name: 'ghost' });
    const direct = makeProvider(moto.url, vpc.vpcId, {}, CLUSTER);
    await direct.provider.ensure(ghost);
    await direct.provider.stop();
    await waitFor(
      'the orphan to be collected',
      async () => {
        const now = await account(elb, ec2, vpc.vpcId);
        return (
          !now.loadBalancers.some((lb) => lb.LoadBalancerName === ghost.identity.lbName) &&
          now.securityGroups.length === 1 &&
          now.targetGroups.length === 1
        );
      },
      20_000,
    );

    // Deletion: everything goes, then the finalizer, then the Service.
    await kube.deleteService('shop', 'web');
    await waitFor('web to be gone', async () => !(await kube.serviceExists('shop', 'web')));
    a = await account(elb, ec2, vpc.vpcId);
    assert.equal(a.loadBalancers.length + a.targetGroups.length + a.securityGroups.length, 0);
  });

  test('EIPs: status is the hostname, and resyncs leave the stored Service alone (no no-op status PATCH)', async () => {
    const eips = [await allocateEip(ec2), await allocateEip(ec2)];
    await kube.createService(
      'shop',
      'static',
      { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      {
        annotations: {
          'service.beta.kubernetes.io/aws-load-balancer-subnets': vpc.publicSubnets.join(','),
          'service.beta.kubernetes.io/aws-load-balancer-eip-allocations': eips.map((e) => e.allocationId).join(','),
        },
      },
    );
    const svc = await waitFor('static to get a hostname', async () => {
      const s = await kube.getService('shop', 'static');
      return s.status?.loadBalancer?.ingress?.[0]?.hostname ? s : undefined;
    });
    assert.deepEqual(svc.status!.loadBalancer!.ingress, [{ hostname: (await account(elb, ec2, vpc.vpcId)).loadBalancers[0]!.DNSName }]);
    // What the provider returns must compare equal to what the API server stored (which adds ipMode: VIP to
    // an ip entry): otherwise every resync sends the status again. Such a PATCH changes nothing stored, so it
    // is counted on the controller's own request metric rather than seen in the resourceVersion.
    const patchesBefore = await statusPatches(metricsUrl);
    const start = await awsCalls(metricsUrl);
    await waitFor(
      'two resyncs',
      async () => ((delta(start, await awsCalls(metricsUrl)).get('DescribeListeners') ?? 0) >= 2 ? true : undefined),
      20_000,
    );
    assert.equal(await statusPatches(metricsUrl), patchesBefore, 'status PATCHes during resyncs');
    assert.equal((await kube.getService('shop', 'static')).metadata!.resourceVersion, svc.metadata!.resourceVersion);
    await kube.deleteService('shop', 'static');
    await waitFor('static to be gone', async () => !(await kube.serviceExists('shop', 'static')));
  });
});
