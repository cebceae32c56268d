// provider.name: module: loads a provider from a user's module with import() and checks it keeps the contract.
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/load.ts';
import { errorMessage } from '../error-message.ts';
import type { LoadBalancerProvider, ProviderDeps, ProviderFactory } from './provider.ts';

/** A provider module that cannot be used: a config problem (exit code 2), found before any cloud call. */
export class ProviderModuleError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderModuleError';
  }
}

const METHODS = ['start', 'stop', 'get', 'ensure', 'updateTargets', 'delete', 'listOwned'] as const;

/**
 * What import() is given: an absolute path as a file URL (loadConfig has made relative paths absolute),
 * anything else as written, so a package name resolves as Node resolves it from the controller's own
 * installation (its node_modules and those above it).
 */
function importSpecifier(module: string): string {
  return isAbsolute(module) ? pathToFileURL(module).href : module;
}

/** The module's factory: its named export createProvider, else its default export. */
export async function loadProviderFactory(module: string): Promise<ProviderFactory> {
  let exports: Record<string, unknown>;
  try {
    exports = (await import(importSpecifier(module))) as Record<string, unknown>;
  } catch (err) {
    throw new ProviderModuleError(`provider.module ${module}: cannot load: ${errorMessage(err)}`);
  }
  const factory = typeof exports['createProvider'] === 'function' ? exports['createProvider'] : exports['default'];
  if (typeof factory !== 'function') {
    const names = Object.keys(exports);
    throw new ProviderModuleError(
      `provider.module ${module}: exports no createProvider function (expected a named export "createProvider" or a default export; ` +
        `found ${names.length > 0 ? names.map((n) => `"${n}"`).join(', ') : 'no exports'})`,
    );
  }
  return factory as ProviderFactory;
}

/** What a value lacks to be a LoadBalancerProvider, in the words of the error message; empty when nothing. */
export function missingMembers(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return ['everything (it is not an object)'];
  const record = value as Record<string, unknown>;
  return [
    ...(typeof record['name'] === 'string' && record['name'] !== '' ? [] : ['name (a non-empty string)']),
    ...METHODS.filter((method) => typeof record[method] !== 'function').map((method) => `${method}()`),
  ];
}

/** Loads the module, calls its factory with moduleConfig, and checks what comes back. */
export async function createModuleProvider(module: string, moduleConfig: unknown, deps: ProviderDeps): Promise<LoadBalancerProvider> {
  const factory = await loadProviderFactory(module);
  let provider: unknown;
  try {
    provider = await factory(moduleConfig, deps);
  } catch (err) {
    throw new ProviderModuleError(`provider.module ${module}: createProvider failed: ${errorMessage(err)}`);
  }
  const missing = missingMembers(provider);
  if (missing.length > 0) {
    throw new ProviderModuleError(`provider.module ${module}: the provider createProvider returned is missing ${missing.join(', ')}`);
  }
  return provider as LoadBalancerProvider;
}
