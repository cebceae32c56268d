// Runs the real controller in-process against a test control plane, with a recording provider.
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { runController, type RunningController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { KubeClient } from '../../src/kube/client.ts';
import type { ControlPlane } from '../harness/control-plane.ts';
import { RecordingProvider, type RecordingProviderOptions } from '../fakes/recording-provider.ts';

export interface TestController {
  running: RunningController;
  provider: RecordingProvider;
  stop(): Promise<void>;
}

/** Fast backoff, no leader election, ephemeral ports: a controller sized for tests. */
export async function startTestController(
  plane: ControlPlane,
  overrides: ConfigInput = {},
  providerOptions: RecordingProviderOptions = {},
  kubeconfig = plane.kubeconfigPath,
): Promise<TestController> {
  const config = parseConfig({
    ...overrides,
    controller: { workers: 4, backoff: { initial: '200ms', max: '2s' }, ...overrides.controller },
    leaderElection: { enabled: false, ...overrides.leaderElection },
    server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0', ...overrides.server },
    logging: { level: process.env.SLC_TEST_LOG_LEVEL ?? 'silent' },
  });
  const provider = new RecordingProvider(providerOptions);
  const running = await runController(config, {
    kubeconfig,
    logger: pino({ level: config.logging.level }),
    provider,
    onLostLeadership: () => {
      throw new Error('lost leadership in a test without leader election');
    },
  });
  return { running, provider, stop: () => running.stop() };
}

/** Polls until check returns a value other than undefined/false; fails with `what` after the timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Thin raw-JSON helpers for test bodies. */
export class TestKube {
  readonly client: KubeClient;

  constructor(plane: ControlPlane) {
    this.client = new KubeClient(plane.kubeConfig);
  }

  createService(
    namespace: string,
    name: string,
    spec: Record<string, unknown>,
    metadata: Record<string, unknown> = {},
  ): Promise<V1Service> {
    return this.client.request<V1Service>('POST', `/api/v1/namespaces/${namespace}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, ...metadata },
      spec: { selector: { app: name }, ...spec },
    });
  }

  getService(namespace: string, name: string): Promise<V1Service> {
    return this.client.request<V1Service>('GET', `/api/v1/namespaces/${namespace}/services/${name}`);
  }

  async serviceExists(namespace: string, name: string): Promise<boolean> {
    try {
      await this.getService(namespace, name);
      return true;
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false;
      throw err;
    }
  }

  patchService(namespace: string, name: string, patch: unknown, type: 'merge' | 'json' = 'merge'): Promise<V1Service> {
    return this.client.request<V1Service>('PATCH', `/api/v1/namespaces/${namespace}/services/${name}`, patch, type);
  }

  deleteService(namespace: string, name: string): Promise<unknown> {
    return this.client.request('DELETE', `/api/v1/namespaces/${namespace}/services/${name}`);
  }

  async events(namespace: string, name: string): Promise<CoreV1Event[]> {
    const list = await this.client.request<{ items: CoreV1Event[] }>(
      'GET',
      `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
    );
    return list.items;
  }

  async hasEvent(namespace: string, name: string, reason: string, messagePart = ''): Promise<CoreV1Event | undefined> {
    return (await this.events(namespace, name)).find((e) => e.reason === reason && (e.message ?? '').includes(messagePart));
  }
}

export function ingressIPs(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '');
}
