// Hostile config files: every case exits with a message naming the field, and no period can overflow a timer.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';

/** Node fires a timer of this many ms or more after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** [what, YAML text, the field named, the message after "field: "]. */
const cases: Array<[string, string, string, RegExp]> = [
  ['resyncPeriod of 1000h', 'controller: {resyncPeriod: 1000h}', 'controller.resyncPeriod', /must be at most 24h/],
  ['resyncPeriod in seconds past 24h', 'controller: {resyncPeriod: 86401}', 'controller.resyncPeriod', /must be at most 24h/],
  ['backoff.initial of 1000h', 'controller: {backoff: {initial: 1000h}}', 'controller.backoff.initial', /must be at most 1h/],
  ['backoff.max of 2h', 'controller: {backoff: {max: 2h}}', 'controller.backoff.max', /must be at most 1h/],
  [
    'garbageCollection.period of 1000h',
    'controller: {garbageCollection: {period: 1000h}}',
    'controller.garbageCollection.period',
    /at most 24h/,
  ],
  ['leaseDuration of 1000h', 'leaderElection: {leaseDuration: 1000h}', 'leaderElection.leaseDuration', /must be at most 1h/],
  ['renewDeadline of 2h', 'leaderElection: {renewDeadline: 2h}', 'leaderElection.renewDeadline', /must be at most 1h/],
  ['retryPeriod of 1000h', 'leaderElection: {retryPeriod: 1000h}', 'leaderElection.retryPeriod', /must be at most 1h/],
  ['a negative duration', 'controller: {resyncPeriod: -5s}', 'controller.resyncPeriod', /not a duration: "-5s"/],
  ['a negative number of seconds', 'controller: {resyncPeriod: -1}', 'controller.resyncPeriod', /not a duration: -1/],
  ['an infinite duration', 'controller: {resyncPeriod: .inf}', 'controller.resyncPeriod', /not a duration: Infinity/],
  ['a duration of the wrong type', 'controller: {resyncPeriod: [1m]}', 'controller.resyncPeriod', /not a duration: a list/],
  [
    'a local health check every 1e7 seconds',
    'provider: {local: {healthCheck: {intervalSeconds: 1e7}}}',
    'provider.local.healthCheck.intervalSeconds',
    /<=300/,
  ],
  [
    'a local health check every millisecond',
    'provider: {local: {healthCheck: {intervalSeconds: 0.001}}}',
    'provider.local.healthCheck.intervalSeconds',
    />=0.1/,
  ],
  [
    'a local health check timeout of 1000 s',
    'provider: {local: {healthCheck: {timeoutSeconds: 1000}}}',
    'provider.local.healthCheck.timeoutSeconds',
    /<=120/,
  ],
  [
    'a fractional threshold',
    'provider: {local: {healthCheck: {unhealthyThreshold: 0.5}}}',
    'provider.local.healthCheck.unhealthyThreshold',
    /expected int/,
  ],
  ['a UDP idle timeout of 1e9 s', 'provider: {local: {udpIdleTimeoutSeconds: 1e9}}', 'provider.local.udpIdleTimeoutSeconds', /<=86400/],
  ['a TCP idle timeout of 1e9 s', 'provider: {local: {idleTimeoutSeconds: 1e9}}', 'provider.local.idleTimeoutSeconds', /<=86400/],
  ['a drain grace of 1e6 s', 'provider: {local: {drainGraceSeconds: 1e6}}', 'provider.local.drainGraceSeconds', /<=3600/],
  ['a negative drain grace', 'provider: {local: {drainGraceSeconds: -1}}', 'provider.local.drainGraceSeconds', />=0/],
  [
    'an AWS retry delay past a timer',
    'provider: {name: aws, aws: {region: r, vpcId: v, retryMaxDelayMs: 1e10}}',
    'provider.aws.retryMaxDelayMs',
    /<=3600000/,
  ],
  ['metrics on port 99999', 'server: {metricsAddress: "127.0.0.1:99999"}', 'server.metricsAddress', /port 99999 is out of range/],
  [
    'metrics on IP 999.1.1.1',
    'server: {metricsAddress: "999.1.1.1:8080"}',
    'server.metricsAddress',
    /host "999.1.1.1" is not an IP address/,
  ],
  [
    'health on a host name',
    'server: {healthAddress: "example.com:10258"}',
    'server.healthAddress',
    /host "example.com" is not an IP address/,
  ],
  ['health on a bad IPv6 literal', 'server: {healthAddress: "[fe80::zz]:10258"}', 'server.healthAddress', /expected "host:port"/],
  ['a negative worker count', 'controller: {workers: -4}', 'controller.workers', />=1/],
  ['workers as a string', 'controller: {workers: "four"}', 'controller.workers', /expected number/],
  ['an unknown top-level key', 'contoller: {workers: 4}', 'contoller', /unknown field/],
  ['an unknown nested key', 'provider: {local: {adressPools: []}}', 'provider.local.adressPools', /unknown field/],
  ['a clusterName with capitals', 'clusterName: Prod', 'clusterName', /DNS label/],
  ['a clusterName of 64 characters', `clusterName: ${'a'.repeat(64)}`, 'clusterName', /<=63/],
  ['a clusterName with a trailing dash', 'clusterName: prod-', 'clusterName', /DNS label/],
  [
    'duplicate pool names',
    'provider: {local: {addressPools: [{name: p, addresses: [10.0.0.0/30]}, {name: p, addresses: [10.0.1.0/30]}]}}',
    'provider.local.addressPools[1].name',
    /duplicate pool name "p"/,
  ],
  [
    'overlapping pools',
    'provider: {local: {addressPools: [{name: a, addresses: [10.0.0.0/24]}, {name: b, addresses: [10.0.0.128/25]}]}}',
    'provider.local.addressPools',
    /"10.0.0.0\/24" \(a\) overlaps "10.0.0.128\/25" \(b\)/,
  ],
  [
    'a range mixing families',
    'provider: {local: {addressPools: [{name: a, addresses: ["10.0.0.1-fd00::1"]}]}}',
    'provider.local.addressPools[0].addresses[0]',
    /neither a CIDR nor a range/,
  ],
  ['a logging level that does not exist', 'logging: {level: verbose}', 'logging.level', /Invalid option/],
  ['a top-level list', '- a\n- b', '(root)', /expected object/],
  ['a top-level scalar', 'just a string', '(root)', /expected object/],
];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slc-hostile-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const [i, [what, text, field, message]] of cases.entries()) {
  test(`config with ${what}: an error naming ${field}`, async () => {
    const file = join(dir, `case-${i}.yaml`);
    await writeFile(file, text);
    const error = await loadConfig(file).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(error instanceof ConfigError, `accepted: ${text}`);
    const line = error.message.split('\n').find((l) => l.startsWith(`  ${field}: `));
    assert.ok(line, `no line for ${field} in:\n${error.message}`);
    assert.match(line, message);
  });
}

test('malformed YAML is an error saying so, with the position', async () => {
  const file = join(dir, 'malformed.yaml');
  await writeFile(file, 'controller:\n  workers: [4\n');
  await assert.rejects(loadConfig(file), (err: Error) => err instanceof ConfigError && /is not valid YAML: .*line \d+/s.test(err.message));
});

test('a 20 KB pool entry is quoted in 200 characters', () => {
  const entry = 'z'.repeat(20_000);
  assert.throws(
    () => parseConfig({ provider: { local: { addressPools: [{ name: 'p', addresses: [entry] }] } } }),
    (err: Error) => err.message.includes('…(20000 bytes)') && err.message.length < 500,
  );
});

test('an empty config file runs on every default, listening on loopback only', async () => {
  const file = join(dir, 'empty.yaml');
  await writeFile(file, '# nothing but a comment\n');
  const config = await loadConfig(file);
  assert.deepEqual(config, parseConfig({}));
  assert.deepEqual(config.server, { metricsAddress: '127.0.0.1:8080', healthAddress: '127.0.0.1:10258' });
});

test('the largest accepted value of every period and seconds field is a valid timer', () => {
  const config = parseConfig(
    parse(`
controller: {resyncPeriod: 24h, backoff: {initial: 1h, max: 1h}, garbageCollection: {period: 24h}}
leaderElection: {leaseDuration: 1h, renewDeadline: 59m, retryPeriod: 58m}
provider: {local: {healthCheck: {intervalSeconds: 300, timeoutSeconds: 120}, udpIdleTimeoutSeconds: 86400, idleTimeoutSeconds: 86400, drainGraceSeconds: 3600}}
`),
  );
  const local = config.provider.local;
  const timers = [
    config.controller.resyncPeriod,
    config.controller.backoff.initial,
    config.controller.backoff.max,
    config.controller.garbageCollection.period,
    config.leaderElection.leaseDuration,
    config.leaderElection.renewDeadline,
    config.leaderElection.retryPeriod,
    local.healthCheck.intervalSeconds * 1_000,
    local.healthCheck.timeoutSeconds * 1_000,
    local.udpIdleTimeoutSeconds * 1_000,
    local.idleTimeoutSeconds * 1_000,
    local.drainGraceSeconds * 1_000,
  ];
  for (const ms of timers) assert.ok(ms > 0 && ms < MAX_TIMER_MS, String(ms));
});
