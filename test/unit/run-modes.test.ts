// Every documented way to start the controller runs node with the same flags, so they use the same memory.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(`${root}/${file}`, 'utf8');

test('the bin, npm start and the image run node with the same environment and flags; the Deployment keeps the image entrypoint', () => {
  const shebang = /^#!\/usr\/bin\/env -S((?: [A-Z_]+=\S+)*) node((?: --[\w-]+(?:=\S+)?)*)\n/.exec(read('src/cli.ts'));
  assert.ok(shebang, 'src/cli.ts starts with a `#!/usr/bin/env -S [VAR=value ...] node <flags>` line, which tsc keeps in dist/cli.js');
  const env = shebang[1]!.trim().split(' ');
  const flags = shebang[2]!.trim().split(' ');
  assert.ok(flags.includes('--optimize-for-size'));
  assert.ok(env.includes('MALLOC_ARENA_MAX=2'));

  // npm start compiles first: run from source, Node's type stripping costs over 30 MB in each thread.
  const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
  assert.deepEqual(
    start.split(' && ').map((command) => command.split(' ')),
    [
      ['npm', 'run', 'build', '--silent'],
      [...env, 'node', ...flags, 'dist/cli.js'],
    ],
  );

  const dockerEnv = [...read('Dockerfile').matchAll(/^ENV (\S+=\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(dockerEnv, env);
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
  assert.deepEqual(JSON.parse(entrypoint![1]!), ['node', ...flags, '/app/dist/cli.js']);

  const deployment = parse(read('deploy/base/deployment.yaml')) as {
    spec: { template: { spec: { containers: { command?: string[]; args?: string[] }[] } } };
  };
  const container = deployment.spec.template.spec.containers[0]!;
  assert.equal(container.command, undefined);
  assert.equal(container.args?.[0], 'run');
});
