// The frontends one thread serves, as the main thread's messages ask: in a proxy worker, or on the main thread
// itself (provider.local.workers: 0). It owns their listening sockets and connections.
import {
  frontendName,
  type FrontendGroupSpec,
  type FromWorker,
  type FrontendStats,
  type PlannedFrontend,
  type ToWorker,
} from './proxy-spec.ts';
import { errorMessage } from '../../error-message.ts';
import { sourceFilter } from './source-ranges.ts';
import { type EngineLimits, setEngineLimits, TcpFrontend } from './tcp-proxy.ts';
import { UdpFrontend, type UdpContext } from './udp-proxy.ts';

type Frontend = TcpFrontend | UdpFrontend;

/** The frontends of one Service on this thread. */
interface FrontendGroup {
  /** The group's settings without its frontends: backends live in the frontends (TCP: in native code). */
  settings: Omit<FrontendGroupSpec, 'frontends'>;
  context: UdpContext;
  frontends: Map<string, Frontend>;
}

function explainListenError(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRNOTAVAIL') return 'the address is not on this host (set provider.local.interface, or add the address yourself)';
  if (err.code === 'EADDRINUSE') return 'the port is in use by another program';
  if (err.code === 'EACCES') return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
  return err.code ?? err.message;
}

/** The frontends one thread serves: its groups, and the frontends still draining. */
export class FrontendHost {
  private readonly groups = new Map<string, FrontendGroup>();
  /** Frontends closed but still draining, by name, so that shutdown can wait for them. */
  private readonly draining = new Map<Frontend, string>();

  /** The TCP engine is one per thread: the limits are its own. */
  constructor(limits: EngineLimits) {
    setEngineLimits(limits);
  }

  /** Answers the message through reply, exactly once. */
  handle(message: ToWorker, reply: (answer: FromWorker) => void): void {
    const failed = (what: string) => (err: unknown) => reply({ type: 'done', id: message.id, errors: [`${what}: ${errorMessage(err)}`] });
    // A throw must come back as an error answer: uncaught, it would end a worker thread, whose replacement
    // would be given the same spec, or on the main thread the process.
    try {
      switch (message.type) {
        case 'apply':
          // One group that throws fails only itself.
          Promise.all(
            message.specs.map((spec) => this.apply(spec).catch((err: unknown) => [`cannot serve ${spec.key}: ${errorMessage(err)}`])),
          ).then(
            (errors) =>
              reply({ type: 'applied', id: message.id, errors: Object.fromEntries(message.specs.map((s, i) => [s.key, errors[i]!])) }),
            failed('apply failed'),
          );
          break;
        case 'remove':
          this.remove(message.key);
          reply({ type: 'done', id: message.id, errors: [] });
          break;
        case 'stats':
          reply({ type: 'stats', id: message.id, stats: this.stats() });
          break;
        case 'ping':
          reply({ type: 'done', id: message.id, errors: [] });
          break;
        case 'shutdown':
          this.shutdown(message.graceMs).then(() => reply({ type: 'done', id: message.id, errors: [] }), failed('shutdown'));
          break;
      }
    } catch (err) {
      failed(`${message.type} failed`)(err);
    }
  }

  private closeFrontend(frontend: Frontend, name: string, graceMs: number): void {
    frontend.close(graceMs);
    this.draining.set(frontend, name);
    const timer = setTimeout(() => this.draining.delete(frontend), graceMs + 1_000);
    timer.unref();
  }

  /**
   * A UDP port served again while its old socket drains: the kernel would share new clients between the
   * two sockets and the old one drops them, so the old flows end now instead.
   */
  private cutDrainingUdp(name: string): void {
    for (const [frontend, drainingName] of this.draining) {
      if (drainingName === name && frontend instanceof UdpFrontend) {
        frontend.cut();
        this.draining.delete(frontend);
      }
    }
  }

  private async apply(spec: FrontendGroupSpec): Promise<string[]> {
    let group = this.groups.get(spec.key);
    const context: UdpContext = { filter: sourceFilter(spec.sourceRanges), idleMs: spec.udpIdleMs, maxFlows: spec.udpMaxFlows };
    const { frontends: _frontends, ...settings } = spec;
    if (!group) {
      group = { settings, context, frontends: new Map() };
      this.groups.set(spec.key, group);
    } else {
      // UDP frontends read the context on every new flow, so this updates them in place.
      Object.assign(group.context, context);
      group.settings = settings;
    }
    const wanted = new Map(spec.frontends.map((f) => [frontendName(f), f] as [string, PlannedFrontend]));
    for (const [name, frontend] of group.frontends) {
      if (!wanted.has(name)) {
        group.frontends.delete(name);
        this.closeFrontend(frontend, name, spec.drainGraceMs);
      }
    }
    const errors: string[] = [];
    const opening: Promise<void>[] = [];
    for (const [name, fspec] of wanted) {
      const existing = group.frontends.get(name);
      if (existing) {
        existing.update(fspec, settings);
        continue;
      }
      if (fspec.protocol === 'UDP') this.cutDrainingUdp(name);
      const frontend = fspec.protocol === 'TCP' ? new TcpFrontend(fspec, settings) : new UdpFrontend(fspec, group.context, spec.affinity);
      group.frontends.set(name, frontend);
      const b = group;
      opening.push(
        frontend.listen().catch((err: NodeJS.ErrnoException) => {
          // Forget it, so that the next apply tries to bind again.
          if (b.frontends.get(name) === frontend) b.frontends.delete(name);
          errors.push(`cannot listen on ${name}: ${explainListenError(err)}`);
        }),
      );
    }
    await Promise.all(opening);
    return errors;
  }

  private remove(key: string): void {
    const group = this.groups.get(key);
    if (!group) return;
    this.groups.delete(key);
    for (const [name, frontend] of group.frontends) this.closeFrontend(frontend, name, group.settings.drainGraceMs);
  }

  private stats(): FrontendStats[] {
    const out: FrontendStats[] = [];
    for (const group of this.groups.values()) {
      for (const [name, frontend] of group.frontends)
        out.push({ key: group.settings.key, service: group.settings.service, frontend: name, ...frontend.totals() });
    }
    return out;
  }

  /** Closes every listener, lets connections finish for up to graceMs, then cuts the rest. */
  private async shutdown(graceMs: number): Promise<void> {
    for (const key of [...this.groups.keys()]) this.remove(key);
    const deadline = performance.now() + graceMs;
    while (performance.now() < deadline && [...this.draining.keys()].some((f) => f.liveCount > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const frontend of this.draining.keys()) frontend.cut();
    this.draining.clear();
  }
}
