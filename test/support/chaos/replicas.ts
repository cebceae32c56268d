// Two controller replicas with leader election, supervised as a Deployment would be: a replica that exits
// (a lost lease, a crash) is started again; the chaos runner SIGKILLs the leader and measures the failover.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../../src/config/schema.ts';
import type { ReplicaOptions } from './replica.ts';

const SCRIPT = new URL('./replica.ts', import.meta.url).pathname;
const RESTART_DELAY_MS = 1_000;

class Replica {
  #child: ChildProcess | undefined;
  #metricsUrl: string | undefined;
  #healthUrl: string | undefined;
  #stopped = false;
  /** Exits nobody asked for (a replica that lost its lease exits, as the CLI does). */
  unexpectedExits = 0;

  readonly #options: ReplicaOptions;
  readonly #logPath: string;

  constructor(options: ReplicaOptions, logPath: string) {
    this.#options = options;
    this.#logPath = logPath;
  }

  start(): void {
    const log = openSync(this.#logPath, 'a');
    let child: ChildProcess;
    try {
      child = fork(SCRIPT, [JSON.stringify(this.#options)], { stdio: ['ignore', log, log, 'ipc'] });
    } catch {
      // A failed spawn (seen: ELOOP while node_modules was being reinstalled) is retried as a crash is.
      setTimeout(() => !this.#stopped && !this.#child && this.start(), RESTART_DELAY_MS).unref();
      return;
    } finally {
      closeSync(log);
    }
    this.#child = child;
    this.#metricsUrl = undefined;
    this.#healthUrl = undefined;
    child.on('message', (msg: { type: string; metricsUrl?: string; healthUrl?: string }) => {
      if (msg.type !== 'ready') return;
      this.#metricsUrl = msg.metricsUrl;
      this.#healthUrl = msg.healthUrl;
    });
    const ended = (signal: NodeJS.Signals | null) => {
      if (this.#child !== child || this.#stopped) return;
      this.#child = undefined;
      if (signal !== 'SIGKILL') this.unexpectedExits += 1;
      setTimeout(() => !this.#stopped && !this.#child && this.start(), RESTART_DELAY_MS).unref();
    };
    child.once('exit', (_code, signal) => ended(signal));
    // A spawn that fails late (ENOENT while node_modules was being reinstalled) emits only 'error'.
    child.once('error', () => ended(null));
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** /readyz: informers synced and the leader known, so a standby is ready to take over. */
  async ready(): Promise<boolean> {
    if (!this.#healthUrl) return false;
    try {
      return (await fetch(`${this.#healthUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }

  async leading(): Promise<boolean> {
    if (!this.#metricsUrl) return false;
    try {
      const text = await (await fetch(`${this.#metricsUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
      return /^leader_election_master_status\{[^}]*\} 1$/m.test(text);
    } catch {
      return false;
    }
  }

  /** SIGKILL, as a node or OOM kill would; the supervisor starts it again a second later. */
  kill(): void {
    this.#child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

export class Replicas {
  readonly #replicas: Replica[];

  constructor(kubeconfig: string, config: ConfigInput, extras: Omit<ReplicaOptions, 'kubeconfig' | 'config'>, logDir: string, count = 2) {
    this.#replicas = Array.from(
      { length: count },
      (_, i) => new Replica({ kubeconfig, config, ...extras }, join(logDir, `replica-${i}.log`)),
    );
  }

  start(): void {
    for (const r of this.#replicas) r.start();
    // Never leave a replica behind, whatever happens to the runner.
    process.once('exit', () => {
      for (const r of this.#replicas) r.kill();
    });
  }

  /** The replica that says it leads (its leader_election_master_status), if one does now. */
  async leader(): Promise<Replica | undefined> {
    for (const r of this.#replicas) if (await r.leading()) return r;
    return undefined;
  }

  async allReady(): Promise<boolean> {
    for (const r of this.#replicas) if (!(await r.ready())) return false;
    return true;
  }

  get unexpectedExits(): number {
    return this.#replicas.reduce((sum, r) => sum + r.unexpectedExits, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#replicas.map((r) => r.stop()));
  }
}
