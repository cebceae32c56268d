// provider.name: module end to end: the package's public entry points, the worked example passing the conformance kit, and the controller running it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExampleProvider } from '../../examples/provider-module/provider.ts';
import { runConformance } from '../../src/conformance/index.ts';
import { ProviderError, type Target } from '../../src/providers/provider.ts';
import { ControllerProcess } from '../e2e/controller-process.ts';
import { useControlPlane } from '../harness/node-test.ts';
import { buildPackage, PACKAGE_ROOT } from '../support/package-build.ts';

const EXAMPLE = join(PACKAGE_ROOT, 'examples/provider-module/provider.ts');

// The example imports service-lb-controller/provider as a user's module would; inside this package that
// name resolves through `exports` to dist/, so build it first.
before(() => buildPackage());

const addressesOf = (targets: Target[] | undefined) =>
  (targets ?? []).flatMap((t) => t.addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address));

runConformance({
  name: 'conformance: examples/provider-module',
  createProvider: async (deps) => (await import(EXAMPLE)).createProvider({ cidr: '198.51.100.0/29' }, deps),
  invalidService: (desired) => ({ ...desired, requestedIPs: ['192.0.2.1'] }),
  targetAddresses: async (provider, identity) => addressesOf((provider as ExampleProvider).targets(identity)),
});

describe('the package entry points, as a dependent package sees them', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'slc-dependent-'));
    // What npm install does for a "file:" dependency: a symlink in node_modules.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(PACKAGE_ROOT, join(dir, 'node_modules/service-lb-controller'));
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ type: 'module', dependencies: { 'service-lb-controller': `file:${PACKAGE_ROOT}` } }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('service-lb-controller/provider and /conformance import at run time', () => {
    writeFileSync(
      join(dir, 'main.mjs'),
      `import * as provider from 'service-lb-controller/provider';
       import * as conformance from 'service-lb-controller/conformance';
       const err = provider.invalidService('bad');
       console.log(JSON.stringify({
         provider: Object.keys(provider).sort(),
         conformance: Object.keys(conformance).sort(),
         branded: err instanceof provider.ProviderError && err.retryable === false,
         key: provider.serviceKey({ namespace: 'a', name: 'b' }),
       }));`,
    );
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(out, {
      provider: ['ProviderError', 'defaultLoadBalancerName', 'identityFromTags', 'invalidService', 'ownershipTags', 'serviceKey'],
      conformance: ['runConformance'],
      branded: true,
      key: 'a/b',
    });
  });

  test('the declarations type-check a provider written against them, and catch one that breaks the contract', () => {
    const source = (
      body: string,
    ) => `import { ProviderError, type LoadBalancerProvider, type ProviderFactory } from 'service-lb-controller/provider';
      import { runConformance, type ConformanceOptions } from 'service-lb-controller/conformance';
      ${body}
      export const options: ConformanceOptions = { createProvider: (deps) => factory({}, deps) };
      export { runConformance, ProviderError };`;
    const good = `export const factory: ProviderFactory = (_config, deps) => {
        const provider: LoadBalancerProvider = {
          name: 'scratch', start: async () => {}, stop: async () => {}, get: async () => undefined,
          ensure: async () => [{ ip: '192.0.2.1' }], updateTargets: async () => {}, delete: async () => {},
          listOwned: async () => [{ identity: { clusterName: deps.clusterName, namespace: '', name: '', uid: 'u', lbName: 'a' } }],
        };
        return provider;
      };`;
    const tsc = (file: string) =>
      execFileSync(
        process.execPath,
        [
          join(PACKAGE_ROOT, 'node_modules/typescript/bin/tsc'),
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--module',
          'nodenext',
          '--target',
          'es2024',
          '--types',
          'node',
          '--typeRoots',
          join(PACKAGE_ROOT, 'node_modules/@types'),
          file,
        ],
        { cwd: dir, encoding: 'utf8' },
      );
    writeFileSync(join(dir, 'good.ts'), source(good));
    tsc('good.ts');
    writeFileSync(join(dir, 'bad.ts'), source(good.replace('updateTargets: async () => {}, ', '')));
    assert.throws(
      () => tsc('bad.ts'),
      (err: { stdout?: string }) => /updateTargets/.test(err.stdout ?? ''),
    );
  });
});

describe('the controller with provider.name: module and the example', () => {
  const plane = useControlPlane();
  let controller: ControllerProcess | undefined;
  after(async () => controller?.dispose());

  test('a Service gets an address from the module, found relative to the config file', async () => {
    await plane().createNode('node-1', { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] });
    controller = new ControllerProcess(
      {
        provider: {
          name: 'module',
          // ControllerProcess writes the config into a new directory under the temporary directory.
          module: `../${relative(tmpdir(), EXAMPLE)}`,
          moduleConfig: { cidr: '198.51.100.64/29', latencyMs: 5 },
        },
        leaderElection: { enabled: false },
        server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
        logging: { level: 'debug' },
      },
      plane().kubeconfigPath,
      'module',
    );
    await plane().core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] } },
    });
    const deadline = Date.now() + 60_000;
    let ingress: unknown;
    while (Date.now() < deadline) {
      const svc = await plane().core.readNamespacedService({ namespace: 'default', name: 'web' });
      ingress = JSON.parse(JSON.stringify(svc.status?.loadBalancer?.ingress ?? []));
      if (Array.isArray(ingress) && ingress.length > 0) break;
      await sleep(100);
    }
    assert.deepEqual(ingress, [{ ip: '198.51.100.65', ipMode: 'VIP', ports: [{ port: 80, protocol: 'TCP' }] }], controller.log());
    assert.match(controller.log(), /"provider":"module"/);
    // The process the test started, restarted by `run` without the optimizing compilers (src/compilers.ts).
    assert.deepEqual(controller.nodeFlags(), ['--no-turbofan', '--no-maglev']);
  });
});

test('a ProviderError from another copy of the package is still a ProviderError to the core', async () => {
  const dist = (await import(join(PACKAGE_ROOT, 'dist/providers/provider.js'))) as typeof import('../../src/providers/provider.ts');
  assert.notEqual(dist.ProviderError, ProviderError, 'two copies of the class');
  assert.ok(dist.invalidService('x') instanceof ProviderError);
  assert.ok(!(new Error('x') instanceof ProviderError));
});
