// Long-running test children in their own process groups, killed whatever happens to the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';

/** A long-running child in its own process group, with its output in a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Set once the process has exited; describes how. */
  exitDescription(): string | undefined;
  /** SIGTERM to the whole group, SIGKILL after graceMs; resolves once it has exited. Idempotent. */
  stop(graceMs: number): Promise<void>;
}

// Process groups still alive, with the directory to remove after killing them, handled synchronously
// if this process exits or is told to stop.
const liveGroups = new Map<number, string | undefined>();
let handlersInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function killAllSync(): void {
  for (const pgid of liveGroups.keys()) killGroup(pgid, 'SIGKILL');
  for (const dir of liveGroups.values()) if (dir) rmSync(dir, { recursive: true, force: true });
  liveGroups.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllSync();
  process.removeListener(signal, onSignal);
  // Our listener replaced the default "terminate"; restore it unless someone else handles the signal.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

/**
 * Kills the group once our end of its stdin pipe closes, which the kernel does even when this process
 * dies by SIGKILL and no handler runs. Detached, so a terminal's Ctrl-C does not kill it first.
 */
function spawnWatchdog(pgid: number, orphanDir: string | undefined): ChildProcess {
  const script = 'read _ignored; kill -9 -"$1" 2>/dev/null; [ -z "$2" ] || rm -rf -- "$2"';
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(pgid), orphanDir ?? ''], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  (watchdog.stdin as unknown as Socket).unref();
  return watchdog;
}

export function tailFile(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

/**
 * Starts `command` in a new process group. If this process dies without calling stop(), the group is
 * killed and `orphanDir` (if given) removed: by exit/signal handlers, or by a watchdog after SIGKILL.
 */
export function spawnManaged(name: string, command: string, args: string[], logPath: string, orphanDir?: string): ManagedProcess {
  installHandlers();
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) {
    child.once('error', () => {}); // reported by the throw below
    throw new Error(`cannot start ${name} (${command})`);
  }
  const pid = child.pid;
  liveGroups.set(pid, orphanDir);
  const watchdog = spawnWatchdog(pid, orphanDir);
  let exitDescription: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      exitDescription = `failed to start: ${err.message}`;
      resolve();
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = async (graceMs: number): Promise<void> => {
    if (exitDescription === undefined) {
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    // The leader is gone; take any straggler of its group with it.
    killGroup(pid, 'SIGKILL');
    liveGroups.delete(pid);
    watchdog.kill('SIGKILL');
  };

  return {
    name,
    pid,
    logPath,
    exitDescription: () => exitDescription,
    stop: (graceMs) => (stopping ??= stop(graceMs)),
  };
}
