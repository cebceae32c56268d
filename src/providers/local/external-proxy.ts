// provider.local.dataPath: external: the controller's side of the proxy channel. It stands in for the
// in-process ProxyWorkers: it keeps every spec, sends them all after each (re)connect, then each change.
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { type FromProxy, incompatible, PROTOCOL_VERSION, receive, send, type ToProxy } from './proxy-channel.ts';
import type { FrontendGroupSpec, FrontendStats } from './proxy-spec.ts';
import { answerWithin, type ProxyWorkers } from './proxy-workers.ts';

/** What the provider asks of its data path, in process or not. */
export type DataPath = Pick<ProxyWorkers, 'apply' | 'remove' | 'stats' | 'shutdown'>;

type Request = ToProxy extends infer T ? (T extends { seq: number } ? Omit<T, 'seq'> : never) : never;

const RECONNECT_FIRST_MS = 200;
const RECONNECT_MAX_MS = 5_000;
/** How long a change waits for a proxy that is not connected before it fails (and is retried). */
const CONNECT_WAIT_MS = 5_000;
/** /metrics must answer even when the proxy does not. */
const STATS_TIMEOUT_MS = 2_000;

export class ExternalProxy implements DataPath {
  private readonly socketPath: string;
  private readonly logger: Logger;
  private readonly specs = new Map<string, FrontendGroupSpec>();
  private readonly pending = new Map<number, (answer: FromProxy) => void>();
  private socket: Socket | undefined;
  /** True once the proxy acknowledged the snapshot of this connection. */
  private ready = false;
  /** True once this connection's snapshot is sent: from then on the proxy must hear of every change. */
  private synced = false;
  private readyWaiters: (() => void)[] = [];
  private nextSeq = 1;
  private delayMs = RECONNECT_FIRST_MS;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Keys of the load balancers the provider owns, including those restored from status not rebuilt yet. */
  private readonly owned: () => string[];

  constructor(socketPath: string, logger: Logger, owned: () => string[]) {
    this.socketPath = socketPath;
    this.logger = logger;
    this.owned = owned;
    this.connect();
  }

  connected(): boolean {
    return this.ready;
  }

  private connect(): void {
    const socket = connect(this.socketPath);
    this.socket = socket;
    let greeted = false;
    socket.on('connect', () => send(socket, { type: 'hello', version: PROTOCOL_VERSION }));
    socket.on('error', (err) => this.logger.debug({ err: err.message, socket: this.socketPath }, 'proxy connection failed'));
    socket.on('close', () => this.closed(socket));
    receive(socket, (message) => {
      const answer = message as FromProxy;
      if (answer.type === 'error') {
        this.logger.error({ socket: this.socketPath, problem: answer.message }, 'the data path proxy refused the controller');
        return;
      }
      if (!greeted) {
        const problem = answer.type === 'hello' ? incompatible(answer.version) : 'the proxy did not answer the hello';
        if (problem) {
          this.logger.error({ socket: this.socketPath, problem }, 'cannot use the data path proxy');
          socket.destroy();
          return;
        }
        greeted = true;
        void this.sendSnapshot();
        return;
      }
      if ('seq' in answer) {
        const resolve = this.pending.get(answer.seq);
        this.pending.delete(answer.seq);
        resolve?.(answer);
      }
    });
  }

  private async sendSnapshot(): Promise<void> {
    this.synced = true;
    // A restarted controller knows its load balancers before it has rebuilt their specs: the proxy keeps those.
    const keep = this.owned().filter((key) => !this.specs.has(key));
    const answer = await this.request({ type: 'snapshot', groups: [...this.specs.values()], keep });
    if (answer.type !== 'ack') return;
    if (answer.errors.length > 0) this.logger.error({ errors: answer.errors }, 'the data path proxy cannot serve every load balancer');
    this.logger.info({ socket: this.socketPath, groups: this.specs.size }, 'data path proxy connected');
    this.delayMs = RECONNECT_FIRST_MS;
    this.ready = true;
    for (const wake of this.readyWaiters.splice(0)) wake();
  }

  private closed(socket: Socket): void {
    if (this.socket !== socket) return;
    if (this.ready) this.logger.warn({ socket: this.socketPath }, 'data path proxy disconnected; it keeps serving the last specs');
    this.ready = false;
    this.synced = false;
    this.socket = undefined;
    for (const [seq, resolve] of this.pending) resolve({ type: 'ack', seq, errors: ['the connection to the data path proxy was lost'] });
    this.pending.clear();
    if (this.stopped) return;
    this.timer = setTimeout(() => this.connect(), this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
  }

  /** The proxy's answer; with timeoutMs, an error answer if it takes longer. */
  private request(request: Request, timeoutMs?: number): Promise<FromProxy> {
    const seq = this.nextSeq++;
    const socket = this.socket;
    if (!socket) return Promise.resolve({ type: 'ack', seq, errors: ['the data path proxy is not connected'] });
    const answer = new Promise<FromProxy>((resolve) => {
      this.pending.set(seq, resolve);
      send(socket, { ...request, seq } as ToProxy);
    });
    if (timeoutMs === undefined) return answer;
    return answerWithin(answer, timeoutMs, () => {
      this.pending.delete(seq);
      return { type: 'ack', seq, errors: [`the data path proxy did not answer within ${timeoutMs} ms`] };
    });
  }

  /** True once connected, false if that takes longer than ms. */
  private waitReady(ms: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    const wait = new Promise<boolean>((resolve) => this.readyWaiters.push(() => resolve(true)));
    return answerWithin(wait, ms, () => false);
  }

  async apply(spec: FrontendGroupSpec): Promise<string[]> {
    this.specs.set(spec.key, spec);
    // Not connected: the spec goes in the snapshot of the next connection; failing here retries the Service.
    if (!(await this.waitReady(CONNECT_WAIT_MS))) return [`the data path proxy at ${this.socketPath} is not connected`];
    const answer = await this.request({ type: 'apply', spec });
    return answer.type === 'ack' ? answer.errors : [];
  }

  async remove(key: string): Promise<void> {
    this.specs.delete(key);
    if (this.synced) await this.request({ type: 'remove', key });
  }

  async stats(): Promise<FrontendStats[]> {
    if (!this.ready) return [];
    const answer = await this.request({ type: 'stats' }, STATS_TIMEOUT_MS);
    return answer.type === 'stats' ? answer.stats : [];
  }

  /** Leaves the proxy serving: the data path outlives the controller. */
  async shutdown(_graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.end();
  }
}
