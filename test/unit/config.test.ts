// Config parsing: defaults, overrides, and errors that name the field.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';

/** Asserts that parsing fails with a ConfigError whose message names `field`. */
function rejects(raw: unknown, field: string, message?: RegExp): ConfigError {
  let error: unknown;
  try {
    parseConfig(raw);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(raw)}, got ${String(error)}`);
  assert.match(error.message, new RegExp(`^  ${field.replace(/[.[\]]/g, '\\$&')}: `, 'm'), error.message);
  if (message) assert.match(error.message, message);
  return error;
}

test('an empty config gets every default', () => {
  const config = parseConfig(undefined);
  assert.deepEqual(parseConfig({}), config);
  assert.equal(config.clusterName, 'kubernetes');
  assert.equal(config.loadBalancerClass, null);
  assert.equal(config.provider.name, 'local');
  assert.equal(config.provider.aws, undefined);
  assert.deepEqual(config.provider.local.addressPools, [{ name: 'default', addresses: ['127.0.100.0/24'], autoAssign: true }]);
  assert.deepEqual(config.controller, {
    workers: 16,
    resyncPeriod: 600_000,
    nodePortRange: { from: 30000, to: 32767 },
    backoff: { initial: 5_000, max: 300_000 },
    kubeApi: { qps: 1000, burst: 2000 },
    garbageCollection: { enabled: true, dryRun: false, period: 300_000 },
  });
  assert.deepEqual(config.leaderElection, {
    enabled: true,
    namespace: 'kube-system',
    leaseName: 'service-lb-controller',
    leaseDuration: 15_000,
    renewDeadline: 10_000,
    retryPeriod: 2_000,
  });
  // Loopback by default: an empty config must not publish metrics on every interface.
  assert.deepEqual(config.server, { metricsAddress: '127.0.0.1:8080', healthAddress: '127.0.0.1:10258' });
  assert.deepEqual(config.logging, { level: 'info' });
});

test('given values override the defaults, durations become milliseconds', () => {
  const config = parseConfig({
    clusterName: 'prod-eu',
    loadBalancerClass: 'example.com/lb',
    controller: {
      workers: 16,
      resyncPeriod: '1h30m',
      nodePortRange: '31000-31999',
      backoff: { initial: '250ms', max: 60 },
      garbageCollection: { dryRun: true },
    },
    leaderElection: { leaseDuration: '30s', renewDeadline: '20s', retryPeriod: '5s' },
    server: { metricsAddress: '127.0.0.1:9100', healthAddress: '[::1]:10258' },
    logging: { level: 'debug' },
  });
  assert.equal(config.clusterName, 'prod-eu');
  assert.equal(config.loadBalancerClass, 'example.com/lb');
  assert.equal(config.controller.workers, 16);
  assert.equal(config.controller.resyncPeriod, 5_400_000);
  assert.deepEqual(config.controller.nodePortRange, { from: 31000, to: 31999 });
  assert.deepEqual(config.controller.backoff, { initial: 250, max: 60_000 });
  assert.deepEqual(config.controller.garbageCollection, { enabled: true, dryRun: true, period: 300_000 });
  assert.equal(config.leaderElection.leaseDuration, 30_000);
  assert.equal(config.leaderElection.renewDeadline, 20_000);
  assert.equal(config.leaderElection.retryPeriod, 5_000);
  assert.equal(config.server.healthAddress, '[::1]:10258');
  assert.equal(config.logging.level, 'debug');
});

test('the aws provider section is accepted with its required fields', () => {
  const config = parseConfig({ provider: { name: 'aws', aws: { region: 'eu-west-1', vpcId: 'vpc-123' } } });
  assert.equal(config.provider.name, 'aws');
  assert.equal(config.provider.aws?.region, 'eu-west-1');
});

test('an unknown key is an error naming its full path', () => {
  rejects({ controller: { bogus: 1 } }, 'controller.bogus', /unknown field/);
  rejects({ bogus: true }, 'bogus', /unknown field/);
  rejects({ controller: { garbageCollection: { intervall: '1m' } } }, 'controller.garbageCollection.intervall', /unknown field/);
  rejects(
    { provider: { local: { addressPools: [{ name: 'p', addresses: ['10.0.0.0/30'], extra: 1 }] } } },
    'provider.local.addressPools[0].extra',
  );
});

test('bad values are errors naming the field', () => {
  rejects({ controller: { workers: 0 } }, 'controller.workers');
  rejects({ controller: { workers: 2.5 } }, 'controller.workers');
  rejects({ controller: { workers: '4' } }, 'controller.workers');
  rejects({ controller: { nodePortRange: '32767-30000' } }, 'controller.nodePortRange', /32767-30000/);
  rejects({ controller: { nodePortRange: '30000-70000' } }, 'controller.nodePortRange');
  rejects({ controller: { nodePortRange: '0-100' } }, 'controller.nodePortRange');
  rejects({ controller: { nodePortRange: '30000' } }, 'controller.nodePortRange');
  rejects({ controller: { resyncPeriod: '5x' } }, 'controller.resyncPeriod', /not a duration: "5x"/);
  rejects({ controller: { backoff: { max: true } } }, 'controller.backoff.max');
  rejects({ controller: { kubeApi: { qps: 0 } } }, 'controller.kubeApi.qps');
  rejects({ controller: { kubeApi: { qps: -5 } } }, 'controller.kubeApi.qps');
  rejects({ controller: { kubeApi: { qps: 1e6 } } }, 'controller.kubeApi.qps');
  rejects({ controller: { kubeApi: { burst: 0 } } }, 'controller.kubeApi.burst');
  rejects({ controller: { kubeApi: { burst: 2.5 } } }, 'controller.kubeApi.burst');
  rejects({ controller: { kubeApi: { burst: 1e6 } } }, 'controller.kubeApi.burst');
  assert.deepEqual(parseConfig({ controller: { kubeApi: { qps: 0.5, burst: 1 } } }).controller.kubeApi, { qps: 0.5, burst: 1 });
  rejects({ clusterName: 'Prod_Cluster' }, 'clusterName', /DNS label/);
  rejects({ loadBalancerClass: '' }, 'loadBalancerClass');
  rejects({ provider: { name: 'gce' } }, 'provider.name');
  rejects({ server: { metricsAddress: 'localhost' } }, 'server.metricsAddress');
  rejects({ logging: { level: 'verbose' } }, 'logging.level');
  rejects({ provider: { local: { addressPools: [{ name: 'p', addresses: [] }] } } }, 'provider.local.addressPools[0].addresses');
});

test('leader election needs retryPeriod < renewDeadline < leaseDuration', () => {
  rejects({ leaderElection: { renewDeadline: '15s' } }, 'leaderElection', /renewDeadline.*leaseDuration/);
  rejects({ leaderElection: { leaseDuration: '20s', renewDeadline: '30s' } }, 'leaderElection', /renewDeadline.*leaseDuration/);
  rejects({ leaderElection: { retryPeriod: '10s' } }, 'leaderElection', /retryPeriod.*renewDeadline/);
});

test('provider.name aws without a provider.aws section names provider.aws', () => {
  rejects({ provider: { name: 'aws' } }, 'provider.aws', /required/);
  rejects({ provider: { name: 'aws', aws: { region: 'eu-west-1' } } }, 'provider.aws.vpcId');
});

test('every bad field is reported, not just the first', () => {
  const error = rejects({ clusterName: 'UPPER', controller: { workers: 0, bogus: 1 } }, 'clusterName');
  assert.match(error.message, /^ {2}controller\.workers: /m);
  assert.match(error.message, /^ {2}controller\.bogus: unknown field/m);
});

// A zero period would make setInterval spin and a zero backoff would retry a failing Service in a hot loop.
test('zero periods and a zero backoff are rejected', () => {
  const zeroes: Array<[string, unknown]> = [
    ['controller.resyncPeriod', { controller: { resyncPeriod: 0 } }],
    ['controller.garbageCollection.period', { controller: { garbageCollection: { period: '0s' } } }],
    ['controller.backoff.initial', { controller: { backoff: { initial: 0 } } }],
    ['leaderElection.retryPeriod', { leaderElection: { retryPeriod: '0s' } }],
  ];
  const accepted = zeroes.filter(([, raw]) => {
    try {
      parseConfig(raw);
      return true;
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return false;
    }
  });
  assert.deepEqual(
    accepted.map(([field]) => field),
    [],
  );
});

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('loadConfig reads a YAML file', async () => {
  const file = join(dir, 'ok.yaml');
  await writeFile(file, 'clusterName: edge\ncontroller:\n  workers: 8\n  resyncPeriod: 30\n');
  const config = await loadConfig(file);
  assert.equal(config.clusterName, 'edge');
  assert.equal(config.controller.workers, 8);
  assert.equal(config.controller.resyncPeriod, 30_000);
});

test('loadConfig: an empty file means every default', async () => {
  const file = join(dir, 'empty.yaml');
  await writeFile(file, '');
  assert.deepEqual(await loadConfig(file), parseConfig({}));
});

test('loadConfig: invalid YAML is a ConfigError naming the file', async () => {
  const file = join(dir, 'broken.yaml');
  await writeFile(file, 'controller:\n  workers: [1, 2\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /not valid YAML/);
    assert.ok(err.message.includes(file));
    return true;
  });
});

test('loadConfig: a bad field names the file and the field', async () => {
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'controller:\n  bogus: 1\n');
  await assert.rejects(loadConfig(file), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.ok(err.message.includes(file));
    assert.match(err.message, /controller\.bogus: unknown field/);
    return true;
  });
});

test('loadConfig: a YAML document that is not a mapping is rejected', async () => {
  const file = join(dir, 'scalar.yaml');
  await writeFile(file, '- a\n- b\n');
  await assert.rejects(loadConfig(file), ConfigError);
});

test('loadConfig: a missing file is a ConfigError', async () => {
  await assert.rejects(loadConfig(join(dir, 'absent.yaml')), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /cannot read config file/);
    return true;
  });
});

test('provider.module: a relative path resolves against the config file, a package name and an absolute path stay', async () => {
  const sub = join(dir, 'conf');
  await mkdir(sub, { recursive: true });
  const load = async (module: string) => {
    const file = join(sub, `module-${module.replaceAll(/\W/g, '_')}.yaml`);
    await writeFile(
      file,
      `provider:\n  name: module\n  module: ${JSON.stringify(module)}\n  moduleConfig:\n    anything: [1, { b: true }]\n`,
    );
    return (await loadConfig(file)).provider;
  };
  assert.equal((await load('./p.js')).module, join(sub, 'p.js'));
  assert.equal((await load('../lib/p.js')).module, join(dir, 'lib/p.js'));
  assert.equal((await load('@acme/slc-provider')).module, '@acme/slc-provider');
  assert.equal((await load('/opt/p.js')).module, '/opt/p.js');
  assert.deepEqual((await load('./p.js')).moduleConfig, { anything: [1, { b: true }] });
  assert.equal(parseConfig({ provider: { name: 'module', module: './p.js' } }).provider.module, join(process.cwd(), 'p.js'));
  rejects({ provider: { name: 'module' } }, 'provider.module', /required when provider.name is "module"/);
  rejects({ provider: { name: 'module', module: 'x', moduleConfig: 'cidr=1' } }, 'provider.moduleConfig');
});
