// A FrontendGroupSpec for data path tests: one Service's frontends, with the settings a test does not vary.
import type { FrontendGroupSpec, PlannedFrontend } from '../../src/providers/local/proxy-spec.ts';

export function frontendGroup(
  key: string,
  service: string,
  frontends: PlannedFrontend[],
  settings: Partial<Omit<FrontendGroupSpec, 'key' | 'service' | 'frontends'>> = {},
): FrontendGroupSpec {
  return {
    key,
    service,
    frontends,
    sourceRanges: [],
    affinity: 'None',
    drainGraceMs: 0,
    udpIdleMs: 60_000,
    udpMaxFlows: 0,
    maxConnectionsPerListener: 0,
    idleTimeoutMs: 0,
    ...settings,
  };
}
