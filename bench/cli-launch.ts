// How the shipped CLI starts node: the environment and flags of src/cli.ts's shebang, which npm start and
// the Dockerfile repeat. Benchmarks that start the controller another way start it with these.
import { readFileSync } from 'node:fs';

export interface CliLaunch {
  env: Record<string, string>;
  flags: string[];
}

export function cliLaunch(): CliLaunch {
  const shebang = readFileSync(new URL('../src/cli.ts', import.meta.url), 'utf8').split('\n', 1)[0]!;
  const [, env, flags] = /^#!\/usr\/bin\/env -S(.*?) node(.*)$/.exec(shebang) ?? [];
  if (env === undefined || flags === undefined)
    throw new Error(`src/cli.ts's shebang is not "#!/usr/bin/env -S [VAR=value ...] node [flags]": ${shebang}`);
  const words = (text: string) => text.split(' ').filter(Boolean);
  return { env: Object.fromEntries(words(env).map((a) => a.split('=', 2) as [string, string])), flags: words(flags) };
}
