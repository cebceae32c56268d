// What operators see of a running controller on a real API server: the cloud-controller-manager warning, the provider on /readyz, client-go's metric names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logger.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { RecordingProvider } from '../fakes/recording-provider.ts';
import { TestKube, waitFor } from '../support/controller.ts';

function capturedLogger() {
  const records: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', 'json', { write: (line: string) => void records.push(JSON.parse(line)) });
  return { records, logger };
}

describe('operating the controller', () => {
  const plane = useControlPlane();

  async function createLease(name: string, holderIdentity: string): Promise<void> {
    await new TestKube(plane()).client.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: 'kube-system' },
      spec: { holderIdentity, leaseDurationSeconds: 15 },
    });
  }

  async function start(overrides: Record<string, unknown>, provider = new RecordingProvider()) {
    const { records, logger } = capturedLogger();
    const config = parseConfig({
      server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
      controller: { backoff: { initial: '200ms', max: '2s' } },
      ...overrides,
    });
    const running = await runController(config, {
      kubeconfig: plane().kubeconfigPath,
      logger,
      provider,
      onLostLeadership: () => {
        throw new Error('lost leadership in a test with one replica');
      },
    });
    return { records, running };
  }

  test('a cloud-controller-manager Lease gives a warning at start; /readyz names the provider problem; /metrics has client-go names', async () => {
    await createLease('cloud-controller-manager', 'ip-10-0-0-1_5f0c2a');
    const provider = Object.assign(new RecordingProvider(), { checkReady: async () => ['VPC vpc-0123 not found'] });
    const { records, running } = await start({ leaderElection: { enabled: true, leaseName: 'slc-operations-test' } }, provider);
    try {
      const warning = await waitFor('the cloud-controller-manager warning', () =>
        records.find((r) => r.level === 'warn' && String(r.msg).includes('cloud-controller-manager seems to run')),
      );
      assert.deepEqual(warning.leases, ['kube-system/cloud-controller-manager']);
      assert.deepEqual(warning.holders, ['ip-10-0-0-1_5f0c2a']);
      assert.match(String(warning.msg), /--controllers=\*,-service/);

      const body = await waitFor('/readyz to name the provider problem', async () => {
        const reply = await fetch(`${running.healthUrl}/readyz?verbose`);
        const text = await reply.text();
        // The leader becomes known a moment after start; then only the provider keeps the pod unready.
        const settled = !/informers not synced|leader unknown/.test(text);
        return reply.status === 503 && settled && text.includes('[-]provider recording: VPC vpc-0123 not found') ? text : undefined;
      });
      assert.doesNotMatch(body, /informers not synced|leader unknown/);

      const kube = new TestKube(plane());
      await kube.createService('default', 'ops-web', { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
      const host = new URL(plane().kubeConfig.getCurrentCluster()!.server).host;
      const metrics = await waitFor('the workqueue and leader metrics', async () => {
        const text = await (await fetch(`${running.metricsUrl}/metrics`)).text();
        const worked = Number(/^workqueue_work_duration_seconds_count\{name="service"\} (\d+)/m.exec(text)?.[1] ?? 0);
        return worked > 0 && /^leader_election_master_status\{name="slc-operations-test"\} 1$/m.test(text) ? text : undefined;
      });
      for (const name of [
        'workqueue_adds_total',
        'workqueue_depth',
        'workqueue_queue_duration_seconds_count',
        'workqueue_work_duration_seconds_count',
        'workqueue_retries_total',
        'workqueue_unfinished_work_seconds',
        'workqueue_longest_running_processor_seconds',
      ]) {
        assert.match(metrics, new RegExp(`^${name}\\{name="service"\\} `, 'm'), name);
      }
      assert.match(metrics, new RegExp(`^rest_client_requests_total\\{code="200",method="GET",host="${host}"\\} [1-9]`, 'm'));
      assert.match(metrics, new RegExp(`^rest_client_request_duration_seconds_count\\{verb="GET",host="${host}"\\} [1-9]`, 'm'));
      // The project's own names stay next to client-go's.
      assert.match(metrics, /^service_lb_queue_depth \d/m);
      assert.match(metrics, /^service_lb_kube_api_requests_total\{verb="GET",resource="leases",code="200"\} [1-9]/m);

      await kube.deleteService('default', 'ops-web');
    } finally {
      await running.stop();
    }
  });

  test('with a loadBalancerClass, the same Lease is only an info line', async () => {
    const { records, running } = await start({ loadBalancerClass: 'example.com/lb' });
    try {
      const info = await waitFor('the info line', () =>
        records.find((r) => r.level === 'info' && String(r.msg).includes('cloud-controller-manager seems to run')),
      );
      assert.equal(info.loadBalancerClass, 'example.com/lb');
      assert.equal(
        records.some((r) => r.level === 'warn' && String(r.msg).includes('cloud-controller-manager')),
        false,
      );
    } finally {
      await running.stop();
    }
  });
});
