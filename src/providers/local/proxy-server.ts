// `service-lb-controller proxy`: the data path as its own process. It serves the specs the controller sends
// over the unix socket, keeps serving the last ones while no controller is connected, and in interface
// mode owns the VIPs on this host's interface and announces them.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { announce } from './announce.ts';
import { InterfaceAddresses } from './interface-addresses.ts';
import { isLoopback, parseIP } from './ip.ts';
import { NodeLists } from './node-lists.ts';
import { incompatible, PROTOCOL_VERSION, receive, send } from './proxy-channel.ts';
import type { FrontendGroupSpec, FrontendStats } from './proxy-spec.ts';
import { ProxyWorkers } from './proxy-workers.ts';
import type { EngineLimits } from './tcp-proxy.ts';

export interface ProxyServerOptions {
  socketPath: string;
  workers: number;
  limits: EngineLimits;
  /** provider.local.interface: VIPs outside loopback are added to it, and announced. */
  interface: string | undefined;
  logger: Logger;
}

/** What the proxy's /metrics and /readyz report about the channel and the state it serves. */
export interface ProxyStatus {
  /** A controller completed the hello and is connected now. */
  connected: boolean;
  /** When the last snapshot, apply or remove was applied (ms since the epoch); undefined before the first. */
  lastUpdateMs: number | undefined;
  /** The channel seq of that message (numbered per controller process). */
  stateSeq: number | undefined;
  /** State messages applied since this process started, by type; no snapshot yet: never told what to serve. */
  updates: Record<StateMessage, number>;
  loadBalancers: number;
  /** Load balancers the last spec of which could not be served in full (a port in use), with why. */
  unserved: { service: string; errors: string[] }[];
}

type StateMessage = 'snapshot' | 'apply' | 'remove';

/** How many load balancers not served in full /readyz names; the rest are counted. */
const READYZ_MAX_LISTED = 10;
/** A worker whose loop does not answer a ping within this is hung (kubelet probes wait 5 s in deploy/). */
const PING_TIMEOUT_MS = 2_000;

export class ProxyServer {
  private readonly options: ProxyServerOptions;
  private readonly logger: Logger;
  private readonly workers: ProxyWorkers;
  private readonly iface: InterfaceAddresses | undefined;
  private readonly groups = new Map<string, FrontendGroupSpec>();
  private readonly nodeLists = new NodeLists();
  /** VIPs this process put on the interface. */
  private readonly added = new Set<string>();
  private readonly server: Server;
  /** The controller connected now; a newer connection replaces it (a restarted controller). */
  private controller: Socket | undefined;
  /** Messages are handled one at a time, in the order sent. */
  private queue: Promise<void> = Promise.resolve();
  private readonly unserved = new Map<string, { service: string; errors: string[] }>();
  private readonly updates: Record<StateMessage, number> = { snapshot: 0, apply: 0, remove: 0 };
  private lastUpdate: { ms: number; seq: number } | undefined;
  /** The last removeUnused() left an address behind: the next apply tries again. */
  private removalFailed = false;

  constructor(options: ProxyServerOptions) {
    this.options = options;
    this.logger = options.logger;
    this.workers = new ProxyWorkers(options.workers, options.logger, options.limits, () => this.groups.values());
    this.iface = options.interface !== undefined ? new InterfaceAddresses(options.interface) : undefined;
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    const path = this.options.socketPath;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A socket file left by a proxy that was killed; a live proxy on it would still be replaced here.
    rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Whoever may connect may open any listener on this host.
    chmodSync(path, 0o600);
    this.logger.info({ socket: path, protocol: PROTOCOL_VERSION }, 'proxy listening for the controller');
  }

  private accept(socket: Socket): void {
    let greeted = false;
    /** Apply messages in a row whose turn has not come yet: they are applied together (applyAll). */
    let applies: Record<string, unknown>[] | undefined;
    socket.on('error', (err) => this.logger.warn({ err: err.message }, 'controller connection failed'));
    socket.on('close', () => {
      if (this.controller !== socket) return;
      this.controller = undefined;
      this.logger.warn({ groups: this.groups.size }, 'controller disconnected; serving the last specs');
    });
    receive(socket, (message) => {
      if (!greeted) {
        const problem = message.type === 'hello' ? incompatible(message.version) : 'the first message must be a hello';
        if (problem) {
          this.logger.error({ problem }, 'refusing a controller');
          send(socket, { type: 'error', message: problem });
          socket.end();
          return;
        }
        greeted = true;
        if (this.controller) this.logger.info('a new controller connection replaces the previous one');
        this.controller?.destroy();
        this.controller = socket;
        send(socket, { type: 'hello', version: PROTOCOL_VERSION });
        return;
      }
      if (message.type === 'apply') {
        if (applies) {
          applies.push(message);
          return;
        }
        const batch = [message];
        applies = batch;
        this.queue = this.queue.then(() => {
          if (applies === batch) applies = undefined;
          // The queue must go on whatever happens: a rejected link would stop every later message.
          return this.applyAll(socket, batch).catch((err: unknown) =>
            this.logger.error({ err: (err as Error).message, type: 'apply' }, 'cannot handle a controller message'),
          );
        });
        return;
      }
      // A later apply must not overtake this message.
      applies = undefined;
      this.queue = this.queue.then(() =>
        this.handle(socket, message).catch((err: unknown) => {
          this.logger.error({ err: (err as Error).message, type: message.type }, 'cannot handle a controller message');
          send(socket, { type: 'ack', seq: Number(message.seq), errors: [(err as Error).message] });
        }),
      );
    });
  }

  private async handle(socket: Socket, message: Record<string, unknown>): Promise<void> {
    const seq = Number(message.seq);
    switch (message.type) {
      case 'snapshot': {
        const wanted = new Map((message.groups as FrontendGroupSpec[]).map((g) => [g.key, this.nodeLists.share(g)]));
        const errors = [...(await this.addAddresses([...wanted.values()]))];
        for (const spec of wanted.values()) errors.push(...(await this.apply(spec)));
        const keep = new Set(message.keep as string[]);
        const removed = [...this.groups.keys()].filter((key) => !wanted.has(key) && !keep.has(key));
        for (const key of removed) await this.remove(key);
        errors.push(...(await this.removeUnused()));
        this.logger.info({ groups: wanted.size, kept: keep.size, removed, errors }, 'applied the controller snapshot');
        this.applied('snapshot', seq);
        send(socket, { type: 'ack', seq, errors });
        return;
      }
      case 'remove': {
        await this.remove(String(message.key));
        const errors = await this.removeUnused();
        this.applied('remove', seq);
        send(socket, { type: 'ack', seq, errors });
        return;
      }
      case 'stats':
        send(socket, { type: 'stats', seq, stats: await this.workers.stats() });
        return;
      default:
        send(socket, { type: 'error', message: `unknown message type ${JSON.stringify(message.type)}` });
        socket.end();
    }
  }

  /**
   * Apply messages that came in a row, applied together: the data path gets them in one turn of the loop,
   * and each is still acknowledged on its own, in order. One at a time, a node round at 1000 Services
   * waited a turn per load balancer.
   */
  private async applyAll(socket: Socket, messages: Record<string, unknown>[]): Promise<void> {
    const jobs: { seq: number; spec?: FrontendGroupSpec; previous?: FrontendGroupSpec; errors: string[] }[] = [];
    for (const message of messages) {
      const seq = Number(message.seq);
      try {
        const spec = this.nodeLists.share(message.spec as FrontendGroupSpec);
        jobs.push({ seq, spec, previous: this.groups.get(spec.key), errors: await this.addAddresses([spec]) });
      } catch (err) {
        this.logger.error({ err: (err as Error).message, type: 'apply' }, 'cannot handle a controller message');
        jobs.push({ seq, errors: [(err as Error).message] });
      }
    }
    await Promise.all(
      jobs.map(async (job) => {
        if (job.spec) job.errors.push(...(await this.apply(job.spec).catch((err: unknown) => [(err as Error).message])));
      }),
    );
    // Only an address a load balancer gave up can have become unused (or one whose removal failed): a pass
    // over every group per message made a node round at 1000 Services a million steps.
    const dropped = jobs.filter((job) => job.spec && job.previous && this.gaveUpAddress(job.previous, job.spec));
    if (this.removalFailed || dropped.length > 0) {
      const errors = await this.removeUnused();
      for (const job of dropped.length > 0 ? dropped : jobs.slice(-1)) job.errors.push(...errors);
    }
    for (const job of jobs) {
      if (job.spec) this.applied('apply', job.seq);
      send(socket, { type: 'ack', seq: job.seq, errors: job.errors });
    }
  }

  private gaveUpAddress(previous: FrontendGroupSpec, spec: FrontendGroupSpec): boolean {
    const wanted = this.vips([spec]);
    return [...this.vips([previous])].some((ip) => !wanted.has(ip));
  }

  private async apply(spec: FrontendGroupSpec): Promise<string[]> {
    this.groups.set(spec.key, spec);
    const errors = await this.workers.apply(spec);
    if (errors.length > 0) this.unserved.set(spec.key, { service: spec.service, errors });
    else this.unserved.delete(spec.key);
    return errors;
  }

  private async remove(key: string): Promise<void> {
    this.groups.delete(key);
    this.unserved.delete(key);
    await this.workers.remove(key);
  }

  private applied(type: StateMessage, seq: number): void {
    this.updates[type]++;
    this.lastUpdate = { ms: Date.now(), seq };
  }

  status(): ProxyStatus {
    return {
      connected: this.controller !== undefined,
      lastUpdateMs: this.lastUpdate?.ms,
      stateSeq: this.lastUpdate?.seq,
      updates: { ...this.updates },
      loadBalancers: this.groups.size,
      unserved: [...this.unserved.values()],
    };
  }

  /**
   * /readyz: ready once it serves, in full, the state a controller last gave it. A proxy never given a
   * snapshot serves nothing it was asked to, so it is not ready; one that lost its controller serves the
   * last state and stays ready, since outliving the controller is its purpose.
   */
  readiness(): string[] {
    if (this.updates.snapshot === 0) return [`no state from a controller yet (waiting on ${this.options.socketPath})`];
    const unserved = [...this.unserved.values()];
    const listed = unserved.slice(0, READYZ_MAX_LISTED).map((u) => `load balancer ${u.service}: ${u.errors.join('; ')}`);
    if (unserved.length > READYZ_MAX_LISTED)
      listed.push(`and ${unserved.length - READYZ_MAX_LISTED} more load balancers not served in full`);
    return listed;
  }

  /** /healthz: the main loop answers (this runs on it), and so does every worker's. */
  async liveness(): Promise<string | undefined> {
    const problems = await this.workers.problems(PING_TIMEOUT_MS);
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /** The data path's counters, for the proxy's own /metrics. */
  frontendStats(): Promise<FrontendStats[]> {
    return this.workers.stats();
  }

  private managed(ip: string): boolean {
    return this.iface !== undefined && !isLoopback(parseIP(ip)!);
  }

  private vips(specs: Iterable<FrontendGroupSpec>): Set<string> {
    return new Set([...specs].flatMap((s) => s.frontends.map((f) => f.ip)).filter((ip) => this.managed(ip)));
  }

  /** Adds the VIPs of specs to the interface before their listeners bind, and announces new ones. */
  private async addAddresses(specs: FrontendGroupSpec[]): Promise<string[]> {
    const errors: string[] = [];
    for (const ip of this.vips(specs)) {
      if (this.added.has(ip)) continue;
      try {
        await this.iface!.add(ip);
        this.added.add(ip);
        await announce(this.iface!.iface, ip);
        this.logger.info({ address: ip, interface: this.iface!.iface }, 'address added and announced');
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    return errors;
  }

  /** Removes the VIPs this process added that no group serves any more. */
  private async removeUnused(): Promise<string[]> {
    // Nothing added (no interface, or loopback VIPs only): no pass over every group.
    if (this.added.size === 0) return [];
    const used = this.vips(this.groups.values());
    const errors: string[] = [];
    for (const ip of [...this.added]) {
      if (used.has(ip)) continue;
      try {
        await this.iface!.remove(ip);
        this.added.delete(ip);
        this.logger.info({ address: ip, interface: this.iface!.iface }, 'address removed');
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    this.removalFailed = errors.length > 0;
    return errors;
  }

  /** Stops listening for controllers, closes every listener and drains for up to graceMs. VIPs stay. */
  async stop(graceMs: number): Promise<void> {
    this.server.close();
    this.controller?.destroy();
    await this.workers.shutdown(graceMs);
  }
}
