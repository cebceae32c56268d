// Kubernetes Events on Services, written in the background and folded into series as client-go does.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { serviceKey } from '../providers/provider.ts';
import type { KubeClient } from './client.ts';
import { errorMessage } from '../error-message.ts';

export type EventType = 'Normal' | 'Warning';

/** The object an event is about: a Service, as the informer or a provider's identity names it. */
export interface EventSubject {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
}

const SERIES_WINDOW_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;
/** Events waiting to be written; beyond this they are dropped (and logged) rather than piling up. */
const MAX_PENDING = 1000;

/**
 * Records core/v1 Events on Services. A repeat of the same event within ten minutes bumps the count of
 * the existing Event instead of creating a new object, as client-go's correlator does, so a Service
 * stuck in backoff does not flood etcd. As client-go's broadcaster, one writer sends events in the
 * background, so a burst of syncs does not also become a burst of concurrent event writes competing
 * with them for the API server. Recording never fails a sync: errors are logged.
 */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly logger: Logger;
  private readonly series = new Map<string, { name: string; count: number; at: number }>();
  private readonly pending: Array<{ write: () => Promise<void>; done: () => void }> = [];
  private writing = false;
  private closed = false;

  constructor(client: KubeClient, component: string, instance: string, logger: Logger) {
    this.client = client;
    this.component = component;
    this.instance = instance;
    this.logger = logger;
  }

  /** Queues the event; resolves when it is written (or failed or dropped). Callers may ignore the promise. */
  record(svc: EventSubject, type: EventType, reason: string, message: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.pending.length >= MAX_PENDING) {
      this.logger.warn(
        { reason, service: serviceKey({ namespace: svc.metadata?.namespace ?? 'default', name: svc.metadata?.name ?? '' }) },
        'event queue full; dropping event',
      );
      return Promise.resolve();
    }
    const now = Date.now();
    return new Promise((resolve) => {
      this.pending.push({ write: () => this.write(svc, type, reason, message, now), done: resolve });
      void this.drain();
    });
  }

  /** Drops events not yet written, as client-go's broadcaster does on shutdown. */
  close(): void {
    this.closed = true;
    for (const job of this.pending.splice(0)) job.done();
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    for (let job = this.pending.shift(); job; job = this.pending.shift()) {
      await job.write();
      job.done();
    }
    this.writing = false;
  }

  private async write(svc: EventSubject, type: EventType, reason: string, message: string, now: number): Promise<void> {
    const namespace = svc.metadata?.namespace ?? 'default';
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = [svc.metadata?.uid, type, reason, text].join('\u0000');
    const timestamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    this.prune(now);
    try {
      const previous = this.series.get(key);
      if (previous && now - previous.at < SERIES_WINDOW_MS) {
        previous.count++;
        previous.at = now;
        try {
          await this.client.request(
            'PATCH',
            `/api/v1/namespaces/${namespace}/events/${previous.name}`,
            { count: previous.count, lastTimestamp: timestamp },
            'merge',
          );
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
      this.logger.warn(
        { err: errorMessage(err), reason, service: serviceKey({ namespace, name: svc.metadata?.name ?? '' }) },
        'could not record event',
      );
    }
  }

  private prune(now: number): void {
    if (this.series.size < 1000) return;
    for (const [key, entry] of this.series) if (now - entry.at >= SERIES_WINDOW_MS) this.series.delete(key);
  }
}
