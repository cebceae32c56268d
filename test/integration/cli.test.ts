// The command line as users run it: exit codes and messages that name the field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import packageJson from '../../package.json' with { type: 'json' };

const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'slc-cli-'));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
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

  test('a missing config file exits 2', () => {
    const result = run('check-config', join(dir, 'missing.yaml'));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /cannot read config file/);
  });
});
