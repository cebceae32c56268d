// The real controller CLI (`run`, or `proxy` for the data path alone) as a child process, with its log kept
// for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));

export class ControllerProcess {
  readonly logPath: string;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly dir: string;

  /** With command proxy, kubeconfigPath is not used. */
  constructor(config: object, kubeconfigPath: string, label: string, command: 'run' | 'proxy' = 'run') {
    this.dir = mkdtempSync(join(tmpdir(), `slb-${label}-`));
    const configPath = join(this.dir, 'config.yaml');
    writeFileSync(configPath, stringify(config));
    this.logPath = join(this.dir, 'controller.log');
    const log = openSync(this.logPath, 'a');
    const args = command === 'run' ? ['run', '--config', configPath, '--kubeconfig', kubeconfigPath] : ['proxy', '--config', configPath];
    this.child = spawn(process.execPath, ['src/cli.ts', ...args], {
      cwd: root,
      stdio: ['ignore', log, log],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    // Never leave a controller behind, whatever happens to the test.
    process.once('exit', () => this.child.kill('SIGKILL'));
  }

  /** Node's flags of the process now: `run` may have restarted itself (execve, same pid) with others. */
  nodeFlags(): string[] {
    const argv = readFileSync(`/proc/${this.child.pid}/cmdline`, 'utf8').split('\0');
    return argv.slice(
      1,
      argv.findIndex((arg) => arg.endsWith('src/cli.ts')),
    );
  }

  /** SIGTERM: the controller stops reconciling and drains its proxy. */
  terminate(): void {
    this.child.kill('SIGTERM');
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
