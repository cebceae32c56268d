import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';

export type EventType = 'Normal' | 'Warning';

const SERIES_WINDOW_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;

/**
 * Records core/v1 Events on Services. A repeat of the same event within ten minutes bumps the count of
 * the existing Event instead of creating a new object, as client-go's correlator does, so a Service
 * stuck in backoff does not flood etcd. Recording never fails a sync: errors are logged.
 */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly logger: Logger;
  private readonly series = new Map<string, { name: string; count: number; at: number }>();

  constructor(client: KubeClient, component: string, instance: string, logger: Logger) {
    this.client = client;
    this.component = component;
    this.instance = instance;
    this.logger = logger;
  }

  /** Resolves when the event is written (or failed); callers may ignore the promise. */
  async record(svc: V1Service, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = svc.metadata?.namespace ?? 'default';
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = [svc.metadata?.uid, type, reason, text].join('\u0000');
    const now = Date.now();
    const timestamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    this.prune(now);
    try {
      const previous = this.series.get(key);
      if (previous && now - previous.at < SERIES_WINDOW_MS) {
        previous.count++;
        previous.at = now;
        try {
          await this.client.request('PATCH', `/api/v1/namespaces/${namespace}/events/${previous.name}`, { count: previous.count, lastTimestamp: timestamp }, 'merge');
          return;
        } catch {
          this.series.delete(key);
        }
      }
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${svc.metadata?.name}.`, namespace },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Service',
          namespace,
          name: svc.metadata?.name,
          uid: svc.metadata?.uid,
          resourceVersion: svc.metadata?.resourceVersion,
        },
        type,
        reason,
        message: text,
        count: 1,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.instance,
      };
      const created = await this.client.request<CoreV1Event>('POST', `/api/v1/namespaces/${namespace}/events`, event);
      this.series.set(key, { name: created.metadata.name!, count: 1, at: now });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, reason, service: `${namespace}/${svc.metadata?.name}` }, 'could not record event');
    }
  }

  private prune(now: number): void {
    if (this.series.size < 1000) return;
    for (const [key, entry] of this.series) if (now - entry.at >= SERIES_WINDOW_MS) this.series.delete(key);
  }
}
