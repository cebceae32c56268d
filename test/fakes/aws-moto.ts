// Starts moto_server (the AWS emulator) on a free loopback port for a test file, and stops it. A missing
// moto_server is a test failure, never a skip.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnManaged, tailFile, type ManagedProcess } from '../harness/processes.ts';
import { freePort } from '../support/ports.ts';

export interface Moto {
  readonly url: string;
  /** Drops every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

function findMotoServer(): string {
  const fromEnv = process.env['MOTO_SERVER'];
  if (fromEnv) return fromEnv;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'moto_server');
    if (dir && existsSync(candidate)) return candidate;
  }
  const pyenv = join(process.env['HOME'] ?? '/root', '.pyenv', 'shims', 'moto_server');
  if (existsSync(pyenv)) return pyenv;
  throw new Error('moto_server not found (set MOTO_SERVER, or pip install "moto[server]")');
}

async function waitUntilUp(url: string, proc: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exited = proc.exitDescription();
    if (exited) throw new Error(`moto_server ${exited}:\n${tailFile(proc.logPath)}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`);
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not answer within ${timeoutMs} ms:\n${tailFile(proc.logPath)}`);
}

export async function startMoto(): Promise<Moto> {
  const bin = findMotoServer();
  const dir = mkdtempSync(join(tmpdir(), 'slc-moto-'));
  const port = await freePort();
  // env(1) puts moto-patches/ on PYTHONPATH, so that moto imports its sitecustomize.py (what it fixes is
  // in test/aws-moto-quirks.md); it execs moto_server in its place, so the process is still moto's.
  const patches = fileURLToPath(new URL('./moto-patches', import.meta.url));
  const proc = spawnManaged(
    'moto_server',
    'env',
    [
      `PYTHONPATH=${patches}${process.env['PYTHONPATH'] ? `${delimiter}${process.env['PYTHONPATH']}` : ''}`,
      bin,
      '-H',
      '127.0.0.1',
      '-p',
      String(port),
    ],
    join(dir, 'moto.log'),
    dir,
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilUp(url, proc, 30_000);
  } catch (err) {
    await proc.stop(2_000);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    reset: async () => {
      const res = await fetch(`${url}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset: HTTP ${res.status}`);
    },
    stop: async () => {
      await proc.stop(5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
