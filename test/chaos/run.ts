// `npm run chaos`: the full chaos run per provider (CHAOS_PROVIDERS, default all four), 200 seeded
// operations under leader kills, API server restarts and failing cloud calls; prints the figures and
// exits 1 if any run did not converge or found a problem. CHAOS_SEED replays a run; CHAOS_LOG_LEVEL=debug
// makes the replicas' logs verbose.
import { formatReport, runChaos, type ChaosReport } from '../support/chaos/engine.ts';
import type { ChaosProviderName } from '../support/chaos/clouds.ts';

const PROVIDERS: readonly ChaosProviderName[] = ['local', 'aws', 'azure', 'gcp'];

const providers = (process.env['CHAOS_PROVIDERS'] ?? PROVIDERS.join(','))
  .split(',')
  .map((p) => p.trim())
  .filter(Boolean);
for (const p of providers) if (!PROVIDERS.includes(p as ChaosProviderName)) throw new Error(`CHAOS_PROVIDERS: unknown provider "${p}"`);
const seed = process.env['CHAOS_SEED'] ? Number(process.env['CHAOS_SEED']) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(seed)) throw new Error(`CHAOS_SEED: not an integer: ${process.env['CHAOS_SEED']}`);
const operations = Number(process.env['CHAOS_OPERATIONS'] ?? 200);

console.log(`chaos: seed ${seed}, ${operations} operations, providers ${providers.join(',')}`);
const reports: ChaosReport[] = [];
for (const provider of providers as ChaosProviderName[]) {
  const report = await runChaos({
    provider,
    seed,
    operations,
    failovers: 'continuous',
    apiServerRestarts: 2,
    faultRate: 0.3,
    convergeTimeoutMs: 120_000,
    keepLogs: true,
    logLevel: process.env['CHAOS_LOG_LEVEL'] === 'debug' ? 'debug' : 'info',
    log: (line) => console.log(`  ${new Date().toISOString().slice(11, 19)} ${line}`),
  });
  reports.push(report);
  console.log(formatReport(report));
}
const failed = reports.filter((r) => r.convergeMs === undefined || r.problems.length > 0 || r.duplicateCreates.length > 0);
const slow = reports.filter((r) => r.failoverMs.some((ms) => ms > 15_000));
console.log(
  `\nchaos: ${reports.length - failed.length}/${reports.length} providers converged with nothing wrong; failovers over 15 s in: ${slow.map((r) => r.provider).join(', ') || 'none'}`,
);
process.exit(failed.length > 0 ? 1 : 0);
