// The one Kubernetes API client: requests, typed errors, Retry-After, counted per verb and resource.
import type { KubeAccess } from './kubeconfig.ts';
import type { RequestOptions } from 'node:https';
import { Agent, fetch } from 'undici';
import { TokenBucket, type Clock } from './rate-limiter.ts';
import { errorMessage } from '../error-message.ts';

export type PatchType = 'merge' | 'json' | 'strategic';

const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** A failed API request, with the HTTP status and the Status object's reason. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, reason: string | undefined, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

export interface RequestObserver {
  /** status 0: no HTTP answer came; seconds: from sending to the response headers. */
  (verb: string, resource: string, status: number, seconds: number): void;
}

export interface KubeClientOptions {
  /** Client-side limit (upstream --kube-api-qps/--kube-api-burst); none when unset. */
  rateLimit?: { qps: number; burst: number; clock?: Clock };
  /** How long one request may take, waiting for a rate-limit token aside; default 30 s. */
  requestTimeoutMs?: number;
}

/**
 * The one path every Kubernetes API request of the controller takes (watches aside): raw JSON in and
 * out, so cached objects and fresh responses have the same shape, and every request is counted and
 * passes the client-side rate limit. Watches are not limited, as in client-go: a watch is one long-lived
 * request, and holding it back would only delay the stream the informers depend on.
 */
export class KubeClient {
  readonly kubeConfig: KubeAccess;
  private readonly observe: RequestObserver;
  /**
   * One connection pool for every request. client-node builds a new dispatcher per request, which
   * opens a new TLS connection each time: at a thousand Services that exhausts sockets and memory.
   * The pool keeps the TLS material of the first request (CA, client certificate); bearer tokens are
   * read per request.
   */
  private agent: Agent | undefined;
  private readonly limiter: TokenBucket | undefined;
  private readonly timeoutMs: number;

  constructor(kubeConfig: KubeAccess, observe: RequestObserver = () => {}, options: KubeClientOptions = {}) {
    this.kubeConfig = kubeConfig;
    this.observe = observe;
    const limit = options.rateLimit;
    this.limiter = limit ? new TokenBucket(limit.qps, limit.burst, limit.clock) : undefined;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  /**
   * After a request failed on the connection level (reset, TLS error, no answer within the timeout), the
   * next requests get a fresh pool. The API server speaks HTTP/2, so every request shares one connection,
   * and undici keeps a session that died of a TLS error in its pool: each later request then fails at once
   * with "The session has been destroyed", for good. client-go likewise drops a connection that stops
   * answering its health-check pings. close() lets requests still running on the old pool finish.
   */
  private discard(agent: Agent): void {
    if (this.agent !== agent) return;
    this.agent = undefined;
    agent.close().catch(() => undefined);
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    patchType?: PatchType,
    signal?: AbortSignal,
  ): Promise<T> {
    // Before the request timeout starts: time spent waiting for a token is not the server's.
    try {
      await this.limiter?.take(signal);
    } catch (err) {
      throw new KubeApiError(
        0,
        'NetworkError',
        `${method} ${path}: aborted while waiting for the client-side rate limit: ${errorMessage(err)}`,
      );
    }
    const { server, headers, dispatcher } = await this.connection();
    if (body !== undefined) headers['content-type'] = patchType ? patchContentTypes[patchType] : 'application/json';
    const resource = resourceOf(path);
    let response;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      response = await fetch(server + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      this.observe(method, resource, 0, seconds());
      if (!signal?.aborted) this.discard(dispatcher);
      throw new KubeApiError(0, 'NetworkError', `${method} ${path}: ${networkErrorMessage(err)}`);
    }
    this.observe(method, resource, response.status, seconds());
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      if (!signal?.aborted) this.discard(dispatcher);
      throw new KubeApiError(0, 'NetworkError', `${method} ${path}: reading the response: ${networkErrorMessage(err)}`);
    }
    const parsed = parseJson(text);
    if (response.status >= 200 && response.status < 300) {
      if (text && parsed === undefined)
        throw new KubeApiError(response.status, 'InvalidResponse', `${method} ${path}: response is not JSON`);
      return parsed as T;
    }
    // Errors from proxies in between (HTML 502s, plain-text 429s) are not Status objects.
    const status = parsed as { reason?: string; message?: string } | undefined;
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new KubeApiError(
      response.status,
      status?.reason,
      `${method} ${path}: ${response.status} ${status?.message ?? text}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }

  /** The API server's origin, the pooled connections, and the headers of a request made now (watches too). */
  async connection(): Promise<{ server: string; headers: Record<string, string>; dispatcher: Agent }> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    // Headers are applied per request, so rotated tokens (in-cluster, exec plugins) are picked up.
    const options: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    this.agent ??= new Agent({
      connect: {
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        ...(options.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.rejectUnauthorized } : {}),
        ...(options.servername ? { servername: options.servername } : {}),
      },
    });
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [name, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[name] = String(value);
    const user = this.kubeConfig.getCurrentUser();
    if (user?.username) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    return { server: cluster.server, headers, dispatcher: this.agent };
  }
}

/** undici's fetch says only "fetch failed"; what failed (refused, reset, TLS) is in the cause. */
function networkErrorMessage(err: unknown): string {
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause === undefined ? errorMessage(err) : `${errorMessage(err)}: ${errorMessage(cause)}`;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** "services", "services/status", "nodes", "events" ... for metrics labels. */
function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const nsIndex = parts.indexOf('namespaces');
  const rest = nsIndex >= 0 && parts.length > nsIndex + 2 ? parts.slice(nsIndex + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  return rest.filter((_, i) => i % 2 === 0).join('/') || 'unknown';
}
