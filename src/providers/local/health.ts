// Active health checks of the nodes, shared by every load balancer that needs them; run in the main thread.
import { connect } from 'node:net';
import { http } from '../../net/http.ts';

/** One health check of one node; `node` names it in metrics and is not part of what is checked. */
export type Probe = { node: string } & (
  | { kind: 'tcp'; address: string; port: number }
  | { kind: 'http'; address: string; port: number; path: string }
);

export interface HealthSettings {
  intervalMs: number;
  timeoutMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

export interface HealthState {
  /** Undefined until the first result. */
  healthy: boolean | undefined;
  /** Consecutive results that disagree with `healthy`. */
  streak: number;
}

/** The verdict after one more result: the first result counts at once, later flips need a streak. */
export function nextHealth(
  state: HealthState,
  success: boolean,
  settings: Pick<HealthSettings, 'unhealthyThreshold' | 'healthyThreshold'>,
): HealthState {
  if (state.healthy === undefined) return { healthy: success, streak: 0 };
  if (success === state.healthy) return { healthy: state.healthy, streak: 0 };
  const streak = state.streak + 1;
  const needed = success ? settings.healthyThreshold : settings.unhealthyThreshold;
  return streak >= needed ? { healthy: success, streak: 0 } : { healthy: state.healthy, streak };
}

/** Probes are shared by the load balancers that plan them, so their keys are worked out once. */
const keys = new WeakMap<Probe, string>();

export function probeKey(probe: Probe): string {
  let key = keys.get(probe);
  if (key === undefined) {
    const host = probe.address.includes(':') ? `[${probe.address}]` : probe.address;
    key = probe.kind === 'tcp' ? `tcp://${host}:${probe.port}` : `http://${host}:${probe.port}${probe.path}`;
    keys.set(probe, key);
  }
  return key;
}

function checkTcp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (ok: boolean) => () => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', done(true));
    socket.once('timeout', done(false));
    socket.once('error', done(false));
  });
}

/** kube-proxy's health endpoint answers 200 when the node has local endpoints and 503 when not. */
function checkHttp(address: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: address, port, path, method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

export function runProbe(probe: Probe, timeoutMs: number): Promise<boolean> {
  return probe.kind === 'tcp'
    ? checkTcp(probe.address, probe.port, timeoutMs)
    : checkHttp(probe.address, probe.port, probe.path, timeoutMs);
}

interface Running {
  key: string;
  probe: Probe;
  state: HealthState;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  first: Promise<void>;
  /** The load balancers that use this check. */
  users: Set<string>;
}

/**
 * Health checks shared by every load balancer: a check (a node address, a port, a path) runs once per
 * interval however many load balancers use it, so the work grows with nodes and health check ports,
 * not with Services x ports x nodes. onChange gets the users of a check whose verdict flipped.
 */
export class HealthMonitor {
  private readonly running = new Map<string, Running>();
  /** User -> the checks it uses (the objects, not their keys: a key string per user and node adds up). */
  private readonly uses = new Map<string, Set<Running>>();
  private readonly settings: HealthSettings;
  private readonly onChange: (users: ReadonlySet<string>, probe: Probe, healthy: boolean) => void;
  private readonly probe: (probe: Probe, timeoutMs: number) => Promise<boolean>;

  constructor(
    settings: HealthSettings,
    onChange: (users: ReadonlySet<string>, probe: Probe, healthy: boolean) => void,
    probe: (probe: Probe, timeoutMs: number) => Promise<boolean> = runProbe,
  ) {
    this.settings = settings;
    this.onChange = onChange;
    this.probe = probe;
  }

  /** Makes `user` use exactly these checks; resolves once each has a first verdict. */
  async use(user: string, probes: readonly Probe[]): Promise<void> {
    const wanted = new Map<string, Probe>();
    for (const p of probes) wanted.set(probeKey(p), p);
    for (const run of this.uses.get(user) ?? []) if (!wanted.has(run.key)) this.drop(user, run);
    const firsts: Promise<void>[] = [];
    const used = new Set<Running>();
    for (const [key, probe] of wanted) {
      let run = this.running.get(key);
      if (!run) {
        run = this.start(key, probe);
        this.running.set(key, run);
      }
      run.users.add(user);
      used.add(run);
      if (run.state.healthy === undefined) firsts.push(run.first);
    }
    if (used.size > 0) this.uses.set(user, used);
    else this.uses.delete(user);
    await Promise.all(firsts);
  }

  /** The user no longer needs any check; checks nobody uses stop. */
  release(user: string): void {
    for (const run of this.uses.get(user) ?? []) this.drop(user, run);
    this.uses.delete(user);
  }

  /** The current verdict; undefined before the first result or for a check nobody runs. */
  healthy(key: string): boolean | undefined {
    return this.running.get(key)?.state.healthy;
  }

  /** Checks running now: one per (address, port, path), whoever uses it. */
  get size(): number {
    return this.running.size;
  }

  verdicts(): { probe: Probe; healthy: boolean | undefined }[] {
    return [...this.running.values()].map((run) => ({ probe: run.probe, healthy: run.state.healthy }));
  }

  stop(): void {
    for (const run of this.running.values()) {
      run.stopped = true;
      clearTimeout(run.timer);
    }
    this.running.clear();
    this.uses.clear();
  }

  private drop(user: string, run: Running): void {
    run.users.delete(user);
    if (run.users.size > 0) return;
    run.stopped = true;
    clearTimeout(run.timer);
    this.running.delete(run.key);
  }

  private start(key: string, probe: Probe): Running {
    const run: Running = {
      key,
      probe,
      state: { healthy: undefined, streak: 0 },
      timer: undefined,
      stopped: false,
      first: Promise.resolve(),
      users: new Set(),
    };
    const once = async (): Promise<void> => {
      const ok = await this.probe(probe, this.settings.timeoutMs);
      if (run.stopped) return;
      const before = run.state.healthy;
      run.state = nextHealth(run.state, ok, this.settings);
      run.timer = setTimeout(() => void once(), this.settings.intervalMs);
      run.timer.unref();
      if (before !== undefined && before !== run.state.healthy) this.onChange(run.users, probe, run.state.healthy!);
    };
    run.first = once();
    return run;
  }
}
