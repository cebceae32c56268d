// The test side of a controller running in a child process.
import { fork, type ChildProcess } from 'node:child_process';
import type { ControllerProcessOptions, ControllerProcessStats } from './controller-process.ts';

/** Parent side of controller-process.ts. */
export class ControllerProcess {
  readonly child: ChildProcess;
  private readonly ready: Promise<void>;

  constructor(options: ControllerProcessOptions) {
    const script = new URL('./controller-process.ts', import.meta.url).pathname;
    this.child = fork(script, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code) => reject(new Error(`controller process exited with ${code} before it was ready`)));
    });
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  stats(): Promise<ControllerProcessStats> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: ControllerProcessStats) => {
        if (msg.type !== 'stats') return;
        this.child.off('message', onMessage);
        resolve(msg);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'stats' }, (err) => err && reject(err));
    });
  }

  /** A crash: no graceful stop, no lease release. */
  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    return exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'stop' });
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await this.kill();
  }
}
