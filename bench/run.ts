// `npm run bench`: every benchmark in turn. Benchmarks print figures; none of them is a test.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = [
  'controller.ts',
  'scale.ts',
  'local-proxy.ts',
  'local-proxy-hostile.ts',
  'local-udp.ts',
  'local-engine-nodes.ts',
  'aws-nlb.ts',
  'azure.ts',
  'gcp.ts',
];
for (const bench of benches) {
  console.log(`\n### ${bench}\n`);
  execFileSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url))], { stdio: 'inherit' });
}
