// The chaos suite, shortened (`npm run chaos` is the full run): 30 seeded operations while the leader is
// SIGKILLed once, the API server restarts once and 30% of cloud calls fail, for the local provider (real
// traffic on loopback) and aws (moto behind the fault proxy). Judged from the cloud and the API only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChaosProviderName } from '../support/chaos/clouds.ts';
import { cloudFaults, formatReport, runChaos } from '../support/chaos/engine.ts';

const SEED = process.env['CHAOS_SEED'] ? Number(process.env['CHAOS_SEED']) : 13;

describe('chaos, shortened', () => {
  for (const provider of ['local', 'aws'] as ChaosProviderName[]) {
    test(`${provider}: converges with nothing lost, leaked or duplicated`, async () => {
      const report = await runChaos({
        provider,
        seed: SEED,
        operations: 30,
        failovers: 1,
        apiServerRestarts: 1,
        faultRate: 0.3,
        // Generous for a loaded 2-core machine; the full run holds itself to 2 minutes.
        convergeTimeoutMs: 300_000,
        keepLogs: Boolean(process.env['SLC_KEEP_CONTROL_PLANE']),
        log: (line) => console.log(line),
      });
      console.log(formatReport(report));
      assert.notEqual(report.convergeMs, undefined, 'converged');
      assert.deepEqual(report.problems, []);
      assert.deepEqual(report.duplicateCreates, []);
      assert.ok(report.checked.services > 0, 'the final check judged Services with load balancers');
      assert.equal(report.failoverMs.length, 1);
      assert.equal(report.apiServerRestarts, 1);
      assert.equal(Object.values(report.operations).reduce((a, b) => a + b, 0) + report.refused, 30);
      if (provider !== 'local') assert.ok(cloudFaults(report) >= 0.3 * report.cloudCalls.window, 'at least 30% of cloud calls failed');
    });
  }
});
