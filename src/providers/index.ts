// The provider registry: config name -> factory, each provider loaded only when selected.
import type { Config } from '../config/schema.ts';
import type { LoadBalancerProvider, ProviderDeps } from './provider.ts';

/** Loads only the selected provider, so a cluster on one cloud never loads another cloud's SDK. */
export async function createProvider(config: Config, deps: ProviderDeps): Promise<LoadBalancerProvider> {
  switch (config.provider.name) {
    case 'local': {
      const { createLocalProvider } = await import('./local/index.ts');
      return createLocalProvider(config.provider.local, deps);
    }
    case 'aws': {
      const { createAwsProvider } = await import('./aws/index.ts');
      // The schema guarantees the section exists when aws is selected.
      return createAwsProvider(config.provider.aws!, deps);
    }
    case 'azure': {
      const { createAzureProvider } = await import('./azure/index.ts');
      // The schema guarantees the section exists when azure is selected.
      return createAzureProvider(config.provider.azure!, deps);
    }
    case 'gcp': {
      const { createGcpProvider } = await import('./gcp/index.ts');
      // The schema guarantees the section exists when gcp is selected.
      return createGcpProvider(config.provider.gcp!, deps);
    }
    case 'module': {
      const { createModuleProvider } = await import('./module.ts');
      // The schema guarantees provider.module exists when module is selected.
      return createModuleProvider(config.provider.module!, config.provider.moduleConfig ?? {}, deps);
    }
  }
}
