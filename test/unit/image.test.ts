// The image the Deployment runs carries the programs the controller executes: iproute2's ip for the local provider.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The RUN lines of the Dockerfile's last stage, the one the image is made of. */
function finalStageRuns(): string[] {
  const dockerfile = readFileSync(`${root}/Dockerfile`, 'utf8').replaceAll(/\\\n/g, ' ');
  const stages = dockerfile.split(/^FROM /m);
  return stages[stages.length - 1]!.split('\n').filter((line) => line.startsWith('RUN '));
}

test('the final image installs iproute2 (the local provider runs `ip -j addr`), without recommends or apt lists', () => {
  const source = readFileSync(`${root}/src/providers/local/interface-addresses.ts`, 'utf8');
  assert.match(source, /run\('ip', /, 'the local provider still executes ip');
  const install = finalStageRuns().find((line) => /apt-get install\b.*\biproute2\b/.test(line));
  assert.ok(install, 'a RUN apt-get install ... iproute2 in the last stage');
  assert.match(install, /--no-install-recommends/);
  assert.match(install, /rm -rf \/var\/lib\/apt\/lists/);
});
