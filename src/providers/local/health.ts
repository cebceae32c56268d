// Active health checks of the nodes behind one load balancer, run in the main thread.
import { request } from 'node:http';
import { connect } from 'node:net';

export type Probe = { kind: 'tcp'; address: string; port: number } | { kind: 'http'; address: string; port: number; path: string };

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

export function probeKey(probe: Probe): string {
  const host = probe.address.includes(':') ? `[${probe.address}]` : probe.address;
  return probe.kind === 'tcp' ? `tcp://${host}:${probe.port}` : `http://${host}:${probe.port}${probe.path}`;
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
    const req = request({ host: address, port, path, method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
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
  probe: Probe;
  state: HealthState;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  first: Promise<void>;
}

/** The probes of one load balancer; calls onChange when a verdict flips. */
export class HealthChecks {
  private readonly running = new Map<string, Running>();
  private readonly settings: HealthSettings;
  private readonly onChange: () => void;

  constructor(settings: HealthSettings, onChange: () => void) {
    this.settings = settings;
    this.onChange = onChange;
  }

  /** Runs exactly these probes; resolves once each has a first verdict. */
  async set(probes: Probe[]): Promise<void> {
    const wanted = new Map(probes.map((p) => [probeKey(p), p]));
    for (const [key, run] of this.running) {
      if (!wanted.has(key)) {
        run.stopped = true;
        clearTimeout(run.timer);
        this.running.delete(key);
      }
    }
    for (const [key, probe] of wanted) if (!this.running.has(key)) this.running.set(key, this.start(probe));
    await Promise.all([...this.running.values()].map((run) => run.first));
  }

  healthy(probe: Probe): boolean {
    return this.running.get(probeKey(probe))?.state.healthy === true;
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
  }

  private start(probe: Probe): Running {
    const run: Running = { probe, state: { healthy: undefined, streak: 0 }, timer: undefined, stopped: false, first: Promise.resolve() };
    const once = async (): Promise<void> => {
      const ok = await runProbe(probe, this.settings.timeoutMs);
      if (run.stopped) return;
      const before = run.state.healthy;
      run.state = nextHealth(run.state, ok, this.settings);
      run.timer = setTimeout(() => void once(), this.settings.intervalMs);
      run.timer.unref();
      if (before !== undefined && before !== run.state.healthy) this.onChange();
    };
    run.first = once();
    return run;
  }
}
