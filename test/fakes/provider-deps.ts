// ProviderDeps for tests that build a provider directly: a quiet logger, a fresh registry, events kept in a list.
import pino from 'pino';
import type { LoadBalancerIdentity, ProviderDeps } from '../../src/providers/provider.ts';
import { MetricsRegistry } from '../../src/server/metrics-registry.ts';

export interface RecordedProviderEvent {
  identity: LoadBalancerIdentity;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export function providerDeps(overrides: Partial<ProviderDeps> = {}): ProviderDeps & { recorded: RecordedProviderEvent[] } {
  const recorded: RecordedProviderEvent[] = [];
  return {
    clusterName: 'test',
    logger: pino({ level: 'silent' }),
    registry: new MetricsRegistry(),
    events: { record: (identity, type, reason, message) => void recorded.push({ identity, type, reason, message }) },
    capacityFreed: () => undefined,
    ...overrides,
    recorded,
  };
}
