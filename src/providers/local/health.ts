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

/**
 * Calls onTimeout after ms; returns what cancels it. Timers run before I/O in each turn of the loop, so a
 * timer that fires late (the loop was held up: a busy turn such as a node round at a thousand Services, a
 * GC) may have the answer waiting behind it, or the request not even sent: it waits once more rather than
 * fail a node that answered in time.
 */
function probeTimeout(ms: number, onTimeout: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (mayWaitAgain: boolean) => {
    const due = performance.now() + ms;
    timer = setTimeout(() => {
      if (mayWaitAgain && performance.now() - due > ms / 2) arm(false);
      else onTimeout();
    }, ms);
  };
  arm(true);
  return () => clearTimeout(timer);
}

function checkTcp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (ok: boolean) => () => {
      cancel();
      socket.destroy();
      resolve(ok);
    };
    const cancel = probeTimeout(timeoutMs, done(false));
    socket.once('connect', done(true));
    socket.once('error', done(false));
  });
}

/** kube-proxy's health endpoint answers 200 when the node has local endpoints and 503 when not. */
function checkHttp(address: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: address, port, path, method: 'GET', agent: false }, (res) => {
      cancel();
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300);
    });
    const cancel = probeTimeout(timeoutMs, () => req.destroy());
    req.once('error', () => {
      cancel();
      resolve(false);
    });
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
  /** The probe lists that hold this check. */
  lists: Set<ProbeList>;
}

/** One probe list (by identity) and the load balancers that use it. */
interface ProbeList {
  probes: readonly Probe[];
  /** Its checks, once each. */
  runs: Running[];
  users: Set<string>;
  /** Every check has had a first verdict (a verdict never goes back to unknown). */
  settled: boolean;
}

/**
 * Health checks shared by every load balancer: a check (a node address, a port, a path) runs once per
 * interval however many load balancers use it, so the work grows with nodes and health check ports,
 * not with Services x ports x nodes. onChange gets the users of a check whose verdict flipped.
 *
 * Users hand in probe lists, and load balancers planned against the same nodes share one list object
 * (targets.ts): checks are held per distinct list, so a node change costs one pass over the nodes per
 * distinct list, and each load balancer only moves from the old list to the new one.
 */
export class HealthMonitor {
  private readonly running = new Map<string, Running>();
  /** Bumped whenever a verdict changes (a first result, a flip, a check stopping). */
  private changes = 0;
  private readonly lists = new Map<readonly Probe[], ProbeList>();
  /** User -> the list it uses. */
  private readonly uses = new Map<string, ProbeList>();
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
    const current = this.uses.get(user);
    let list = current;
    if (current?.probes !== probes) {
      // The new list's checks are held before the old list's are let go, so shared checks keep running.
      list = this.lists.get(probes) ?? this.hold(probes);
      list.users.add(user);
      this.uses.set(user, list);
      if (current) this.leave(user, current);
    }
    if (list!.settled) return;
    const pending = list!.runs.filter((run) => run.state.healthy === undefined).map((run) => run.first);
    await Promise.all(pending);
    list!.settled = true;
  }

  /** The user no longer needs any check; checks nobody uses stop. */
  release(user: string): void {
    const list = this.uses.get(user);
    if (!list) return;
    this.uses.delete(user);
    this.leave(user, list);
  }

  /** Changes whenever any verdict does: plans made at the same generation saw the same verdicts. */
  get generation(): number {
    return this.changes;
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
    this.changes++;
    this.lists.clear();
    this.uses.clear();
  }

  private hold(probes: readonly Probe[]): ProbeList {
    const list: ProbeList = { probes, runs: [], users: new Set(), settled: false };
    const seen = new Set<string>();
    for (const probe of probes) {
      const key = probeKey(probe);
      if (seen.has(key)) continue;
      seen.add(key);
      let run = this.running.get(key);
      if (!run) {
        run = this.start(key, probe);
        this.running.set(key, run);
      }
      run.lists.add(list);
      list.runs.push(run);
    }
    this.lists.set(probes, list);
    return list;
  }

  /** The user leaves the list; a list nobody uses lets go of its checks, and checks no list holds stop. */
  private leave(user: string, list: ProbeList): void {
    list.users.delete(user);
    if (list.users.size > 0) return;
    this.lists.delete(list.probes);
    for (const run of list.runs) {
      run.lists.delete(list);
      if (run.lists.size > 0) continue;
      run.stopped = true;
      clearTimeout(run.timer);
      this.running.delete(run.key);
      this.changes++;
    }
  }

  /** Everyone who uses the check, through any list. */
  private usersOf(run: Running): Set<string> {
    const users = new Set<string>();
    for (const list of run.lists) for (const user of list.users) users.add(user);
    return users;
  }

  private start(key: string, probe: Probe): Running {
    const run: Running = {
      key,
      probe,
      state: { healthy: undefined, streak: 0 },
      timer: undefined,
      stopped: false,
      first: Promise.resolve(),
      lists: new Set(),
    };
    const once = async (): Promise<void> => {
      const ok = await this.probe(probe, this.settings.timeoutMs);
      if (run.stopped) return;
      const before = run.state.healthy;
      run.state = nextHealth(run.state, ok, this.settings);
      if (before !== run.state.healthy) this.changes++;
      run.timer = setTimeout(() => void once(), this.settings.intervalMs);
      run.timer.unref();
      if (before !== undefined && before !== run.state.healthy) this.onChange(this.usersOf(run), probe, run.state.healthy!);
    };
    run.first = once();
    return run;
  }
}
