// `npm run demo` end to end, in its non-interactive form: it must show EXTERNAL-IPs, spread, eTP Local
// avoiding the node without an endpoint, and traffic leaving a removed node, then stop cleanly.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

test('the demo runs through and leaves nothing behind', async () => {
  const { stdout } = await run(process.execPath, ['demo/main.ts', '--once'], { cwd: root, timeout: 600_000 });
  assert.match(stdout, /default\s+example-service\s+LoadBalancer\s+\S+\s+127\.0\.100\.\d+\s+8765:\d+\/TCP/);
  assert.match(
    stdout,
    /ingress-nginx\s+ingress-nginx-controller\s+LoadBalancer\s+\S+\s+127\.0\.100\.\d+\s+80:\d+\/TCP,443:\d+\/TCP,3306:\d+\/TCP/,
  );
  const [before, after] = stdout.split('Removing node-2');
  assert.ok(after, stdout);
  const requests = before!.split('Sending requests')[1]!;
  const [cluster, local] = requests.split('(externalTrafficPolicy: Local') as [string, string];
  for (const node of ['node-1', 'node-2', 'node-3'])
    assert.match(cluster, new RegExp(`${node}: #+ \\d+`), `spread over every node:\n${stdout}`);
  assert.doesNotMatch(local, /node-3/, 'node-3 fails /healthz, so eTP Local avoids it');
  assert.doesNotMatch(after, /node-2: #/, 'the removed node gets no traffic');
  assert.match(after, /node-3: #+ \d+/);
  assert.match(stdout, /kubeconfig: \S+admin\.kubeconfig/);
});
