// One UDP socket on a VIP:port. Each client address:port is a flow with its own upstream socket, so
// replies find their way back and a node sees one steady peer per client, as with kube-proxy.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Backends, type Backend, type Closable } from './backends.ts';
import { Counters, type FrontendCounters, type FrontendTotals, totalsOf } from './frontend-stats.ts';
import { type FrontendSettings, type PlannedFrontend, servedBackends } from './proxy-spec.ts';
import type { SourceFilter } from './source-ranges.ts';

/** Datagrams held while a new flow's upstream socket connects; more than this are dropped, as UDP may. */
const PENDING_LIMIT = 64;

interface Flow extends Closable {
  backend: Backend;
  upstream: Socket;
  lastSeen: number;
  pending: Buffer[] | undefined;
}

/** Read on every new flow: the worker updates it in place when the load balancer changes. */
export interface UdpContext {
  filter: SourceFilter;
  idleMs: number;
  /** Flows at once; a source that would open one more is dropped and counted. 0 for no limit. */
  maxFlows: number;
}

export class UdpFrontend {
  readonly backends: Backends;
  private readonly counters = new Counters();
  private readonly socket: Socket;
  private readonly flows = new Map<string, Flow>();
  private readonly ip: string;
  private readonly port: number;
  private readonly context: UdpContext;
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(spec: PlannedFrontend, context: UdpContext, affinity: 'None' | 'ClientIP') {
    this.ip = spec.ip;
    this.port = spec.port;
    this.context = context;
    this.backends = new Backends(servedBackends(spec), affinity);
    this.socket = createSocket({ type: isIPv6(spec.ip) ? 'udp6' : 'udp4', reuseAddr: true, reusePort: true });
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: this.ip, port: this.port }, () => {
        this.socket.off('error', reject);
        this.socket.on('error', () => {});
        // Idle flows are swept in batches: one timer per frontend, not one per datagram.
        const every = Math.max(50, Math.min(this.context.idleMs / 4, 5_000));
        this.sweeper = setInterval(() => this.sweep(), every);
        this.sweeper.unref();
        resolve();
      });
    });
  }

  /**
   * Takes no new flows; replies leave through the listening socket, so it stays open until the flows in
   * flight go idle or graceMs runs out, whichever comes first.
   */
  close(graceMs: number): void {
    if (this.closing) return;
    this.closing = true;
    if (this.flows.size === 0 || graceMs <= 0) {
      this.cut();
      return;
    }
    this.closeTimer = setTimeout(() => this.cut(), graceMs);
    this.closeTimer.unref();
  }

  /** Takes new backends and affinity; flows to backends that left are cut after drainGraceMs. */
  update(spec: PlannedFrontend, settings: FrontendSettings): void {
    this.backends.affinity = settings.affinity;
    this.backends.update(servedBackends(spec), settings.drainGraceMs);
  }

  get liveCount(): number {
    return this.flows.size;
  }

  stats(): FrontendCounters {
    return this.counters.snapshot();
  }

  totals(): FrontendTotals {
    return totalsOf(this.counters);
  }

  cut(): void {
    this.closing = true;
    clearTimeout(this.closeTimer);
    this.backends.clearTimers();
    for (const flow of [...this.flows.values()]) flow.close();
    if (this.sweeper) clearInterval(this.sweeper);
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.closing) return;
      if (!this.context.filter.allows(rinfo.address)) {
        this.counters.rejected.source_range++;
        return;
      }
      // Each flow holds a socket; a flood from many sources must not take every descriptor.
      if (this.context.maxFlows > 0 && this.flows.size >= this.context.maxFlows) {
        this.counters.rejected.flow_limit++;
        return;
      }
      const backend = this.backends.pick(rinfo.address, []);
      if (!backend) {
        this.counters.rejected.no_healthy_target++;
        return;
      }
      flow = this.open(key, backend, rinfo);
    }
    flow.lastSeen = performance.now();
    this.counters.bytesIn += msg.length;
    if (flow.pending) {
      if (flow.pending.length < PENDING_LIMIT) flow.pending.push(msg);
    } else flow.upstream.send(msg);
  }

  private open(key: string, backend: Backend, client: RemoteInfo): Flow {
    const upstream = createSocket(isIPv6(backend.spec.address) ? 'udp6' : 'udp4');
    const flow: Flow = {
      backend,
      upstream,
      lastSeen: performance.now(),
      pending: [],
      close: () => {
        if (this.flows.get(key) !== flow) return;
        this.flows.delete(key);
        backend.live.delete(flow);
        this.counters.active--;
        upstream.close();
        if (this.closing && this.flows.size === 0) this.cut();
      },
    };
    this.flows.set(key, flow);
    backend.live.add(flow);
    this.counters.open(backend.spec.node);
    upstream.on('message', (reply) => {
      flow.lastSeen = performance.now();
      this.counters.bytesOut += reply.length;
      this.socket.send(reply, client.port, client.address);
    });
    // An ICMP "port unreachable" ends the flow; the next datagram opens a new one, maybe elsewhere.
    upstream.on('error', () => flow.close());
    upstream.connect(backend.spec.port, backend.spec.address, () => {
      const pending = flow.pending ?? [];
      flow.pending = undefined;
      for (const msg of pending) upstream.send(msg);
    });
    return flow;
  }

  private sweep(): void {
    const oldest = performance.now() - this.context.idleMs;
    for (const flow of this.flows.values()) if (flow.lastSeen < oldest) flow.close();
  }
}
