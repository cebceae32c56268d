// Leader election decisions, as pure functions of the Lease and the clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import {
  LeaderElector,
  candidatePauseMs,
  decideLease,
  leaseDurationSeconds,
  microTime,
  observe,
  recordFromLease,
  releasedRecord,
  type LeaseRecord,
  type Observation,
} from '../../src/kube/leader-election.ts';

const LEASE_MS = 15_000;
const T0 = 1_000_000; // an arbitrary monotonic reading

function held(holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: '2030-01-01T00:00:00.000000Z',
    renewTime: '2030-01-01T00:00:00.000000Z',
    leaseTransitions: 3,
    ...overrides,
  };
}

function decide(current: LeaseRecord | undefined, previous: Observation | undefined, now: number, identity = 'me') {
  return decideLease({ current, previous, identity, leaseDurationMs: LEASE_MS, now, timestamp: 'NOW' });
}

describe('decideLease', () => {
  test('creates the lease when it does not exist', () => {
    const { decision, observation } = decide(undefined, undefined, T0);
    assert.deepEqual(decision, {
      action: 'create',
      record: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: 'NOW', renewTime: 'NOW', leaseTransitions: 0 },
    });
    assert.equal(observation, undefined);
  });

  test('waits while another holder renewed within the lease duration, by our clock since first seen', () => {
    const first = decide(held('other'), undefined, T0);
    assert.deepEqual(first.decision, { action: 'wait', holder: 'other', expiresAt: T0 + LEASE_MS });
    const later = decide(held('other'), first.observation, T0 + LEASE_MS - 1);
    assert.equal(later.decision.action, 'wait');
    assert.equal(later.observation, first.observation, 'an unchanged record keeps its first-seen time');
  });

  test('takes over an unchanged lease once leaseDurationSeconds passed locally, counting a transition', () => {
    const first = decide(held('other'), undefined, T0);
    const { decision } = decide(held('other'), first.observation, T0 + LEASE_MS);
    assert.deepEqual(decision, {
      action: 'update',
      record: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: 'NOW', renewTime: 'NOW', leaseTransitions: 4 },
    });
  });

  test('a renewal by the holder restarts the expiry clock', () => {
    const first = decide(held('other'), undefined, T0);
    const renewed = held('other', { renewTime: '2030-01-01T00:00:10.000000Z' });
    const afterRenew = decide(renewed, first.observation, T0 + 10_000);
    assert.equal(afterRenew.observation?.observedAt, T0 + 10_000);
    // Past the first sighting's expiry, but not the renewal's.
    assert.equal(decide(renewed, afterRenew.observation, T0 + LEASE_MS + 1).decision.action, 'wait');
    assert.equal(decide(renewed, afterRenew.observation, T0 + 10_000 + LEASE_MS).decision.action, 'update');
  });

  test('ignores the renewTime written by the holder: a skewed clock cannot cause an early takeover', () => {
    const ancient = held('other', { renewTime: '1999-01-01T00:00:00.000000Z' });
    assert.equal(decide(ancient, undefined, T0).decision.action, 'wait');
  });

  test("uses the holder's leaseDurationSeconds, not our own", () => {
    const shortLease = held('other', { leaseDurationSeconds: 2 });
    const first = decide(shortLease, undefined, T0);
    assert.equal(decide(shortLease, first.observation, T0 + 1_999).decision.action, 'wait');
    assert.equal(decide(shortLease, first.observation, T0 + 2_000).decision.action, 'update');
  });

  test('renews our own lease, keeping acquireTime and the transition count, even when it looks expired', () => {
    const ours = held('me');
    const first = decide(ours, undefined, T0);
    for (const now of [T0, T0 + LEASE_MS * 10]) {
      const { decision } = decide(ours, first.observation, now);
      assert.deepEqual(decision, {
        action: 'update',
        record: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: ours.acquireTime, renewTime: 'NOW', leaseTransitions: 3 },
      });
    }
  });

  test('takes a released lease (empty holder) at once', () => {
    const released = releasedRecord(held('other'), 'THEN');
    const { decision } = decide(released, undefined, T0);
    assert.equal(decision.action, 'update');
    assert.equal(decision.action === 'update' && decision.record.leaseTransitions, 4);
  });
});

describe('observe', () => {
  test('keeps the first-seen time for an identical record and restarts it on any change', () => {
    const seen = observe(undefined, held('a'), T0);
    assert.equal(observe(seen, held('a'), T0 + 5).observedAt, T0);
    for (const change of [
      { holderIdentity: 'b' },
      { leaseTransitions: 9 },
      { leaseDurationSeconds: 1 },
      { acquireTime: 'x' },
      { renewTime: 'y' },
    ]) {
      assert.equal(observe(seen, held('a', change), T0 + 5).observedAt, T0 + 5, JSON.stringify(change));
    }
  });
});

test('releasedRecord clears the holder, shortens the lease to 1 s and keeps the transition count', () => {
  assert.deepEqual(releasedRecord(held('me'), 'T'), {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: 'T',
    renewTime: 'T',
    leaseTransitions: 3,
  });
});

test('a candidate retries after the jittered period, or at the expiry of the lease it waits for if sooner', () => {
  assert.equal(candidatePauseMs(2_000, 0, undefined), 2_000);
  assert.equal(candidatePauseMs(2_000, 1, undefined), 4_400);
  assert.equal(candidatePauseMs(2_000, 0.5, 13_000), 3_200);
  assert.equal(candidatePauseMs(2_000, 1, 1_500), 1_501);
  assert.equal(candidatePauseMs(2_000, 1, -20), 1);
});

test('leaseDurationSeconds rounds up to whole seconds, at least 1', () => {
  assert.equal(leaseDurationSeconds(15_000), 15);
  assert.equal(leaseDurationSeconds(1_500), 2);
  assert.equal(leaseDurationSeconds(200), 1);
});

test('microTime writes RFC 3339 with six fractional digits, as MicroTime requires', () => {
  assert.equal(microTime(Date.UTC(2030, 0, 2, 3, 4, 5, 678)), '2030-01-02T03:04:05.678000Z');
});

test('recordFromLease reads strings or Dates and defaults missing fields', () => {
  assert.deepEqual(recordFromLease({ metadata: { name: 'x' } }), {
    holderIdentity: '',
    leaseDurationSeconds: 0,
    acquireTime: undefined,
    renewTime: undefined,
    leaseTransitions: 0,
  });
  const record = recordFromLease({
    spec: {
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2030-01-01T00:00:00.123456Z' as unknown as Date,
      renewTime: new Date(Date.UTC(2030, 0, 1)),
      leaseTransitions: 2,
    },
  });
  assert.equal(record.acquireTime, '2030-01-01T00:00:00.123456Z');
  assert.equal(record.renewTime, '2030-01-01T00:00:00.000000Z');
});

/**
 * Two candidates on a fake clock and an in-memory store with resourceVersion checks: whatever the
 * interleaving, at most one believes it leads, and after the leader stops renewing the other takes over
 * between leaseDuration and leaseDuration + retryPeriod later.
 */
describe('two candidates on a fake clock', () => {
  const RETRY_MS = 2_000;

  interface Candidate {
    id: string;
    observation: Observation | undefined;
    leading: boolean;
    alive: boolean;
  }

  function simulate(crashAt: number, until: number) {
    let stored: { record: LeaseRecord; version: number } | undefined;
    const write = (record: LeaseRecord, expectedVersion: number | undefined): boolean => {
      if (stored?.version !== expectedVersion) return false;
      stored = { record, version: (stored?.version ?? 0) + 1 };
      return true;
    };
    const candidates: Candidate[] = [
      { id: 'a', observation: undefined, leading: false, alive: true },
      { id: 'b', observation: undefined, leading: false, alive: true },
    ];
    const leaderAt: Array<{ now: number; leaders: string[] }> = [];
    let now = 0;
    for (; now <= until; now += RETRY_MS / 2) {
      if (now >= crashAt) candidates[0]!.alive = false;
      // Alternate who goes first each tick, so both orders of a race occur.
      const order = (now / (RETRY_MS / 2)) % 2 === 0 ? candidates : [...candidates].reverse();
      for (const c of order) {
        if (!c.alive) continue;
        const seen = stored;
        const { decision, observation } = decideLease({
          current: seen?.record,
          previous: c.observation,
          identity: c.id,
          leaseDurationMs: LEASE_MS,
          now,
          timestamp: String(now),
        });
        c.observation = observation;
        if (decision.action === 'wait') {
          c.leading = false;
          continue;
        }
        if (write(decision.record, seen?.version)) {
          c.leading = true;
          c.observation = { record: decision.record, observedAt: now };
        }
      }
      leaderAt.push({ now, leaders: candidates.filter((c) => c.alive && c.leading).map((c) => c.id) });
    }
    return leaderAt;
  }

  test('exactly one leads while both run', () => {
    const timeline = simulate(Infinity, 60_000);
    for (const { now, leaders } of timeline) assert.equal(leaders.length, 1, `at ${now}: ${leaders.join(',')}`);
    assert.ok(
      timeline.every(({ leaders }) => leaders[0] === timeline[0]!.leaders[0]),
      'no needless leader changes',
    );
  });

  test('the survivor takes over within leaseDuration + retryPeriod of the last renewal, and not before', () => {
    const crashAt = 20_000;
    const timeline = simulate(crashAt, 60_000);
    const first = timeline[0]!.leaders[0];
    assert.equal(first, 'a', 'a moves first at t=0');
    const takeover = timeline.find(({ now, leaders }) => now >= crashAt && leaders[0] === 'b');
    assert.ok(takeover, 'b took over');
    const lastRenewal = crashAt - RETRY_MS / 2;
    assert.ok(takeover.now >= lastRenewal + LEASE_MS, `took over at ${takeover.now}, before the lease expired`);
    assert.ok(takeover.now <= lastRenewal + LEASE_MS + RETRY_MS, `took over at ${takeover.now}, too late`);
  });
});

test('LeaderElector rejects timings that break the safety margin', () => {
  const base = { kubeConfig: new KubeConfig(), namespace: 'ns', leaseName: 'l', identity: 'me', logger: pino({ level: 'silent' }) };
  assert.throws(
    () => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }),
    /retryPeriod < renewDeadline < leaseDuration/,
  );
  assert.throws(
    () => new LeaderElector({ ...base, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 10_000 }),
    /retryPeriod < renewDeadline < leaseDuration/,
  );
});
