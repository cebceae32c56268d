// One TCP listener on a VIP:port, forwarding each connection to one backend NodeIP:NodePort.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Backends, type Backend, type Closable } from './backends.ts';
import { Counters } from './frontend-stats.ts';
import type { FrontendSpec } from './proxy-spec.ts';
import type { SourceFilter } from './source-ranges.ts';

/** A refused or unreachable node costs one more attempt on another node, not the client's connection. */
const CONNECT_ATTEMPTS = 3;
const CONNECT_TIMEOUT_MS = 5_000;

export interface FrontendContext {
  filter: SourceFilter;
  drainGraceMs: number;
}

export class TcpFrontend {
  readonly backends: Backends;
  readonly counters = new Counters();
  private readonly server: Server;
  private readonly live = new Set<Closable>();
  private readonly spec: FrontendSpec;
  private readonly context: FrontendContext;

  constructor(spec: FrontendSpec, context: FrontendContext, affinity: 'None' | 'ClientIP') {
    this.spec = spec;
    this.context = context;
    this.backends = new Backends(spec.backends, affinity);
    // pauseOnConnect: nothing is read from the client before a node has accepted, so nothing is buffered.
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (client) => this.accept(client));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // reusePort: every worker binds the same VIP:port and the kernel spreads connections among them;
      // a restarted controller can bind while the old one still drains.
      this.server.listen({ host: this.spec.ip, port: this.spec.port, reusePort: true, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops accepting; connections in flight get graceMs to finish. */
  close(graceMs: number): void {
    this.server.close();
    this.backends.drainAll(graceMs);
  }

  get liveCount(): number {
    return this.live.size;
  }

  /** Cuts every connection now. */
  cut(): void {
    this.backends.clearTimers();
    for (const conn of [...this.live]) conn.close();
  }

  private accept(client: Socket): void {
    client.on('error', () => {});
    const remote = client.remoteAddress;
    if (remote === undefined) {
      client.destroy();
      return;
    }
    if (!this.context.filter.allows(remote)) {
      this.counters.rejected.source_range++;
      client.resetAndDestroy();
      return;
    }
    this.dial(client, remote, []);
  }

  private dial(client: Socket, remote: string, tried: Backend[]): void {
    const backend = this.backends.pick(remote, tried);
    if (!backend) {
      this.counters.rejected[tried.length === 0 ? 'no_healthy_target' : 'connect_failed']++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: backend.spec.address, port: backend.spec.port, allowHalfOpen: true, noDelay: true, timeout: CONNECT_TIMEOUT_MS });
    // Tracked from the first attempt, so that a drain or cut also ends connections still dialling, and
    // shutdown waits for them as for any other connection in flight.
    const conn: Closable = {
      close: () => {
        forget();
        client.destroy();
        upstream.destroy();
      },
    };
    const forget = (): void => {
      backend.live.delete(conn);
      this.live.delete(conn);
    };
    backend.live.add(conn);
    this.live.add(conn);
    let failed = false;
    const fail = (): void => {
      // A timeout can be followed by an error from the same attempt: one retry per attempt.
      if (failed) return;
      failed = true;
      forget();
      upstream.destroy();
      if (client.destroyed) return;
      if (tried.length + 1 < CONNECT_ATTEMPTS) this.dial(client, remote, [...tried, backend]);
      else {
        this.counters.rejected.connect_failed++;
        client.resetAndDestroy();
      }
    };
    upstream.once('timeout', fail);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.off('timeout', fail);
      upstream.off('error', fail);
      upstream.setTimeout(0);
      // The splice counts the connection closed when both sides report 'close'; a client already gone
      // would never report it again.
      if (client.destroyed) {
        forget();
        upstream.destroy();
        return;
      }
      this.splice(client, upstream, backend, conn);
    });
  }

  private splice(client: Socket, upstream: Socket, backend: Backend, conn: Closable): void {
    const counters = this.counters;
    counters.open(backend.spec.node);

    // Hand-written forwarding rather than pipe(): it costs less per chunk and per connection, and lets
    // each side's end and error be passed on exactly (half-close, reset).
    client.on('data', (chunk: Buffer) => {
      counters.bytesIn += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      counters.bytesOut += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    upstream.on('error', () => {});

    let closed = 0;
    const onClose = (other: Socket) => (hadError: boolean) => {
      if (hadError && !other.destroyed) other.resetAndDestroy();
      // A side that closed cleanly has finished both ways; the other flushes what it holds, then goes.
      else if (!other.destroyed) other.destroySoon();
      if (++closed === 2) {
        backend.live.delete(conn);
        this.live.delete(conn);
        counters.active--;
      }
    };
    client.on('close', onClose(upstream));
    upstream.on('close', onClose(client));
    client.resume();
  }
}
