// A breakable TCP relay in front of the API server, for outage tests.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between a client and the API server that a test can break: cut every connection, refuse
 * new ones for a while, or freeze traffic while keeping the sockets open (a watch that goes silent).
 */
export class TcpRelay {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private refusing = false;
  private frozen = false;

  constructor(targetPort: number, targetHost = '127.0.0.1') {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: targetHost, port: targetPort });
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => {
          if (!this.frozen) to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)));
  }

  /** Drops every live connection; with refuse, new ones are dropped too until restore(). */
  cut(refuse = false): void {
    this.refusing = refuse;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Swallows all traffic on every connection, old and new, without closing anything. */
  freeze(): void {
    this.frozen = true;
  }

  restore(): void {
    this.refusing = false;
    this.frozen = false;
  }

  get connections(): number {
    return this.pairs.size;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
