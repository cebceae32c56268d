// The one Kubernetes API client: requests, typed errors, Retry-After, counted per verb and resource.
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions, request as httpsRequest } from 'node:https';
import type { KubeAccess } from './kubeconfig.ts';
import { TokenBucket, type Clock } from './rate-limiter.ts';
import { errorMessage } from '../error-message.ts';
import { http } from '../net/http.ts';

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
 * Requests in flight at once per client, watches included; more wait for a connection. Well above the
 * default workers and event writers, and bounded because each TLS connection holds its own buffers.
 */
const MAX_SOCKETS = 64;
/**
 * An idle connection is closed after this long: before kube-apiserver's own 90 s idle timeout, so a
 * request is never sent on a connection the server is closing.
 */
const IDLE_SOCKET_MS = 60_000;

interface Pool {
  agent: HttpAgent;
  request: typeof http.request;
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
   * One pool of keep-alive connections (node:http's, HTTP/1.1) for every request. client-node builds a
   * new agent per request, which opens a new TLS connection each time: at a thousand Services that
   * exhausts sockets and memory. The pool keeps the TLS material of the first request (CA, client
   * certificate); bearer tokens are read per request.
   */
  private pool: Pool | undefined;
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
    this.pool?.agent.destroy();
    this.pool = undefined;
  }

  /**
   * After a request failed on the connection level (reset, TLS error, no answer within the timeout), the
   * next requests get a fresh pool: the idle connections of the old one went through the same network
   * and may be just as dead (client-go likewise drops a connection that stops answering its pings).
   * Requests still running on the old pool finish; its connections close as they come free.
   */
  private discard(pool: Pool): void {
    if (this.pool !== pool) return;
    this.pool = undefined;
    pool.agent.maxFreeSockets = 0;
    for (const sockets of Object.values(pool.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
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
    const resource = resourceOf(path);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const deadline = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let response: IncomingMessage;
    let pool: Pool;
    try {
      ({ response, pool } = await this.send(
        method,
        path,
        deadline,
        body === undefined
          ? undefined
          : { text: JSON.stringify(body), type: patchType ? patchContentTypes[patchType] : 'application/json' },
      ));
    } catch (err) {
      this.observe(method, resource, 0, seconds());
      throw new KubeApiError(0, 'NetworkError', `${method} ${path}: ${failure(err, deadline)}`);
    }
    const status = response.statusCode ?? 0;
    this.observe(method, resource, status, seconds());
    let text: string;
    try {
      text = await readText(response);
    } catch (err) {
      if (!signal?.aborted) this.discard(pool);
      throw new KubeApiError(0, 'NetworkError', `${method} ${path}: reading the response: ${failure(err, deadline)}`);
    }
    const parsed = parseJson(text);
    if (status >= 200 && status < 300) {
      if (text && parsed === undefined) throw new KubeApiError(status, 'InvalidResponse', `${method} ${path}: response is not JSON`);
      return parsed as T;
    }
    // Errors from proxies in between (HTML 502s, plain-text 429s) are not Status objects.
    const statusObject = parsed as { reason?: string; message?: string } | undefined;
    const retryAfter = Number(response.headers['retry-after']);
    throw new KubeApiError(
      status,
      statusObject?.reason,
      `${method} ${path}: ${status} ${statusObject?.message ?? text}`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }

  /**
   * A watch (or any streamed GET): the response once its headers are in, its body for the caller to read
   * until it ends or `signal` aborts it. Not rate-limited and without the request timeout.
   */
  async stream(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    return (await this.send('GET', path, signal)).response;
  }

  /**
   * Sends a request on the pool with the headers of a request made now (rotated tokens are picked up),
   * and resolves at its response headers. A failure on the connection level discards the pool; a
   * request that found its reused idle connection closed by the server is sent again on a new one, as
   * Go's transport does, unless it may have changed something (POST, PATCH).
   */
  private async send(
    method: string,
    path: string,
    signal: AbortSignal,
    body?: { text: string; type: string },
  ): Promise<{ response: IncomingMessage; pool: Pool }> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const options: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    const pool = (this.pool ??= newPool(cluster.server, options));
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [name, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[name] = String(value);
    const user = this.kubeConfig.getCurrentUser();
    if (user?.username) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    if (body) {
      headers['content-type'] = body.type;
      headers['content-length'] = String(Buffer.byteLength(body.text));
    }
    const attempt = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = pool.request(cluster.server + path, { method, headers, agent: pool.agent, signal });
        req.once('response', resolve);
        req.once('error', (err: NodeJS.ErrnoException) =>
          reject(Object.assign(err, { closedIdle: req.reusedSocket && err.code === 'ECONNRESET' })),
        );
        req.end(body?.text);
      });
    try {
      try {
        return { response: await attempt(), pool };
      } catch (err) {
        if (!(err as { closedIdle: boolean }).closedIdle || method === 'POST' || method === 'PATCH' || signal.aborted) throw err;
        return { response: await attempt(), pool };
      }
    } catch (err) {
      // The caller's own abort says nothing about the connections; a timeout does.
      if (!signal.aborted || (signal.reason as Error | undefined)?.name === 'TimeoutError') this.discard(pool);
      throw err;
    }
  }
}

/**
 * One key for every connection of the pool. node:https keys its connections by the request's TLS options,
 * CA, certificate and key included, concatenated into a new string of several KB for every request: garbage
 * that costs GC time at a thousand Services. A pool's requests all go to one server with the TLS material
 * the pool was made with, so they all share one key anyway.
 */
class SingleServerAgent extends HttpsAgent {
  override getName(): string {
    return 'api-server';
  }
}

function newPool(server: string, tls: RequestOptions): Pool {
  const common = { keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const };
  if (!server.startsWith('https:')) return { agent: new http.Agent(common), request: http.request };
  return {
    agent: new SingleServerAgent({
      ...common,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
      ...(tls.servername ? { servername: tls.servername } : {}),
    }),
    request: httpsRequest,
  };
}

/** The whole body; an error if the connection ends before it does. */
async function readText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What went wrong: the timeout or the caller's abort if either ended the request (node's error then says
 * only "aborted"), else the error with its cause.
 */
function failure(err: unknown, deadline: AbortSignal): string {
  if (deadline.aborted) return errorMessage(deadline.reason);
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
