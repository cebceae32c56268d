// What loading the controller costs: an ESM import of node:http anywhere in src loads Node's bundled undici.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

test("loading the controller and the local provider does not load Node's bundled undici (6 MB of RSS)", () => {
  const modules = ['../../src/app.ts', '../../src/providers/local/index.ts'].map((m) => new URL(m, import.meta.url).href);
  const script = `${modules.map((m) => `await import(${JSON.stringify(m)});`).join(' ')} console.log(JSON.stringify(process.moduleLoadList));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
  assert.ok(loaded.includes('NativeModule http'), 'node:http is loaded (the check below would pass vacuously otherwise)');
  assert.deepEqual(
    loaded.filter((m) => m.includes('undici')),
    [],
  );
});
