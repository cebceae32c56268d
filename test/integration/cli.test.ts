// The command line as users run it: exit codes and messages that name the field.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import packageJson from '../../package.json' with { type: 'json' };

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'slc-cli-'));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** As run(), without blocking this process's event loop (a test server must keep accepting). */
function runAsync(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr })));
}

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('service-lb-controller CLI', () => {
  test('--version prints the package version', () => {
    const result = run('--version');
    assert.equal(result.status, 0);
    assert.equal(result.stdout.trim(), packageJson.version);
  });

  test('check-config accepts the example config and an empty one', () => {
    for (const file of [new URL('../../deploy/config.example.yaml', import.meta.url).pathname, configFile('empty.yaml', '')]) {
      const result = run('check-config', file);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /ok/);
    }
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', 'controller:\n  workerz: 4\n', /controller\.workerz: unknown field/],
    ['bad value', 'controller:\n  workers: 0\n', /controller\.workers: /],
    ['bad duration', 'controller:\n  resyncPeriod: soon\n', /controller\.resyncPeriod: not a duration/],
    ['bad range', 'controller:\n  nodePortRange: "32767-30000"\n', /controller\.nodePortRange: invalid range/],
    ['unknown provider', 'provider:\n  name: openstack\n', /provider\.name: /],
    ['aws without its section', 'provider:\n  name: aws\n', /provider\.aws: required/],
    ['not YAML', 'controller: [\n', /not valid YAML/],
    ['a resync period past 24h', 'controller:\n  resyncPeriod: 1000h\n', /controller\.resyncPeriod: must be at most 24h/],
    ['a lease past 1h', 'leaderElection:\n  leaseDuration: 1000h\n', /leaderElection\.leaseDuration: must be at most 1h/],
    ['a port out of range', 'server:\n  metricsAddress: "127.0.0.1:99999"\n', /server\.metricsAddress: port 99999 is out of range/],
    ['a host that is no IP', 'server:\n  metricsAddress: "999.1.1.1:8080"\n', /server\.metricsAddress: host "999\.1\.1\.1" is not an IP/],
    [
      "a proxy's port out of range",
      'provider:\n  local:\n    proxyServer:\n      healthAddress: "127.0.0.1:99999"\n',
      /provider\.local\.proxyServer\.healthAddress: port 99999 is out of range/,
    ],
  ];
  for (const [what, text, message] of bad) {
    test(`a config with ${what} exits 2 naming the problem, for check-config and run`, () => {
      const file = configFile(`${what.replaceAll(' ', '-')}.yaml`, text);
      for (const args of [
        ['check-config', file],
        ['run', '--config', file, '--kubeconfig', '/nonexistent'],
      ]) {
        const result = run(...args);
        assert.equal(result.status, 2, `${args[0]}: ${result.stderr}`);
        assert.match(result.stderr, message);
      }
    });
  }

  // The servers start before the first API request, so a kubeconfig that points nowhere will do.
  const nowhere = () =>
    configFile(
      'nowhere.kubeconfig',
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n' +
        'users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
  const busy: Array<{ command: 'run' | 'proxy'; section: string; config: (addresses: string) => string }> = [
    { command: 'run', section: 'server', config: (addresses) => `leaderElection: {enabled: false}\nserver: {${addresses}}\n` },
    {
      command: 'proxy',
      section: 'provider.local.proxyServer',
      config: (addresses) =>
        `provider: {name: local, local: {dataPath: external, proxySocket: "${dir}/proxy.sock", proxyServer: {${addresses}}}}\n`,
    },
  ];
  for (const { command, section, config } of busy) {
    for (const field of ['metricsAddress', 'healthAddress'] as const) {
      test(`${command}: a ${field} port already in use exits 2 naming ${section}.${field}`, async () => {
        const blocker = createServer();
        await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
        const { port } = blocker.address() as AddressInfo;
        try {
          const other = field === 'metricsAddress' ? 'healthAddress' : 'metricsAddress';
          const file = configFile(`${command}-${field}-busy.yaml`, config(`${field}: "127.0.0.1:${port}", ${other}: "127.0.0.1:0"`));
          const args = command === 'run' ? ['run', '--config', file, '--kubeconfig', nowhere()] : ['proxy', '--config', file];
          const result = await runAsync(...args);
          assert.equal(result.status, 2, result.stderr);
          const name = `${section}.${field}`.replaceAll('.', '\\.');
          assert.match(result.stderr, new RegExp(`^${name}: cannot listen on "127\\.0\\.0\\.1:${port}": .*EADDRINUSE`, 'm'));
        } finally {
          blocker.close();
        }
      });
    }
  }

  test('a missing config file exits 2', () => {
    const result = run('check-config', join(dir, 'missing.yaml'));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /cannot read config file/);
  });

  describe('provider.name: module', () => {
    // A kubeconfig that parses: run reads it before it loads the provider, and contacts nothing before then.
    const kubeconfig = configFile(
      'kubeconfig.yaml',
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]',
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
    );
    const methods = `name: 'fixture', start: async () => { throw new Error('start must not run'); }, stop: async () => {},
      get: async () => undefined, ensure: async () => [], updateTargets: async () => {}, delete: async () => {}, listOwned: async () => []`;
    const modules: Record<string, string> = {
      'good.mjs': `export function createProvider(config) { return { ${methods} }; }`,
      'default-export.mjs': `export default async (config, deps) => ({ ${methods} });`,
      'no-factory.mjs': 'export const provider = {}; export function helper() {}',
      'incomplete.mjs':
        'export function createProvider() { return { start: async () => {}, stop: async () => {}, get: async () => undefined, ensure: async () => [], delete: async () => {} }; }',
      'not-object.mjs': 'export default () => undefined;',
      'throws-on-load.mjs': "throw new Error('boom at load');",
      'rejects-config.mjs': `export function createProvider(config) { if (!config.cidr) throw new Error('moduleConfig.cidr: required'); return { ${methods} }; }`,
    };
    for (const [name, text] of Object.entries(modules)) configFile(name, text);
    const moduleConfig = (module: string, extra = '') =>
      configFile(`uses-${module.replaceAll(/\W/g, '_')}.yaml`, `provider:\n  name: module\n  module: ${module}\n${extra}`);

    test('check-config loads the module, builds the provider without starting it, and accepts it', () => {
      for (const module of ['./good.mjs', './default-export.mjs']) {
        const result = run('check-config', moduleConfig(module));
        assert.equal(result.status, 0, `${module}: ${result.stderr}`);
        assert.match(result.stdout, /ok/);
      }
      const withConfig = run('check-config', moduleConfig('./rejects-config.mjs', '  moduleConfig:\n    cidr: 10.0.0.0/24\n'));
      assert.equal(withConfig.status, 0, withConfig.stderr);
    });

    const broken: Array<[string, string, RegExp]> = [
      ['a path that does not exist', './missing.mjs', /provider\.module .*missing\.mjs: cannot load: Cannot find module/],
      [
        'a package that is not installed',
        'no-such-provider-package',
        /provider\.module no-such-provider-package: cannot load: Cannot find package 'no-such-provider-package'/,
      ],
      ['a module that throws while loading', './throws-on-load.mjs', /throws-on-load\.mjs: cannot load: boom at load/],
      ['no factory', './no-factory.mjs', /no-factory\.mjs: exports no createProvider function .*found "helper", "provider"/],
      [
        'a provider missing members',
        './incomplete.mjs',
        /incomplete\.mjs: the provider createProvider returned is missing name \(a non-empty string\), updateTargets\(\), listOwned\(\)$/m,
      ],
      [
        'a factory returning nothing',
        './not-object.mjs',
        /not-object\.mjs: the provider createProvider returned is missing everything \(it is not an object\)/,
      ],
      [
        'a factory refusing its moduleConfig',
        './rejects-config.mjs',
        /rejects-config\.mjs: createProvider failed: moduleConfig\.cidr: required/,
      ],
    ];
    for (const [what, module, message] of broken) {
      test(`${what}: check-config and run exit 2 saying what is wrong`, () => {
        const file = moduleConfig(module);
        for (const args of [
          ['check-config', file],
          ['run', '--config', file, '--kubeconfig', kubeconfig],
        ]) {
          const result = run(...args);
          assert.equal(result.status, 2, `${args[0]}: ${result.stderr}`);
          assert.match(result.stderr, message, args[0]);
        }
      });
    }

    test('provider.name: module without provider.module exits 2', () => {
      const result = run('check-config', configFile('no-module.yaml', 'provider:\n  name: module\n'));
      assert.equal(result.status, 2);
      assert.match(result.stderr, /provider\.module: required when provider\.name is "module"/);
    });
  });
});
