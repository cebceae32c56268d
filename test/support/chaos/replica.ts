// One controller replica for the chaos suite, in its own process so that it can be SIGKILLed: the real
// controller and the real provider, wired to the fakes where a cloud has no endpoint setting of its own.
// Options arrive as JSON in argv[2]; it tells its parent its metrics and health URLs over IPC.
import type { TokenCredential } from '@azure/core-auth';
import { pino } from 'pino';
import { runController } from '../../../src/app.ts';
import { parseConfig } from '../../../src/config/load.ts';
import type { ConfigInput } from '../../../src/config/schema.ts';
import type { LoadBalancerProvider, ProviderDeps } from '../../../src/providers/provider.ts';
import { MetricsRegistry } from '../../../src/server/metrics-registry.ts';

export interface ReplicaOptions {
  kubeconfig: string;
  config: ConfigInput;
  /** The ARM fake's CA (azure): the provider trusts it as the real one trusts Azure's. */
  armCaPem?: string;
}

const options = JSON.parse(process.argv[2]!) as ReplicaOptions;
// The runner is gone (however it ended, SIGKILL included: the kernel closes the IPC pipe): so is this replica.
process.once('disconnect', () => process.exit(1));
const config = parseConfig(options.config);
const logger = pino({ level: config.logging.level });

/**
 * Azure and GCP take credentials the fakes cannot issue, so their providers are built here with stand-ins;
 * imported only when used, as their SDKs take seconds to load on a busy machine.
 */
async function injectedProvider(): Promise<LoadBalancerProvider | undefined> {
  const deps: ProviderDeps = {
    clusterName: config.clusterName,
    logger: logger.child({ provider: config.provider.name }),
    registry: new MetricsRegistry(),
    events: { record: () => undefined },
    capacityFreed: () => undefined,
  };
  if (config.provider.name === 'azure') {
    const credential: TokenCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const endpoint = config.provider.azure!.resourceManagerEndpoint!;
    const { createAzureProvider } = await import('../../../src/providers/azure/index.ts');
    return createAzureProvider(config.provider.azure!, deps, {
      credential,
      clientOptions: { endpoint, tlsOptions: { ca: options.armCaPem } },
    });
  }
  if (config.provider.name === 'gcp') {
    const { OAuth2Client } = await import('google-auth-library');
    const { createGcpProvider } = await import('../../../src/providers/gcp/index.ts');
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'fake-gce-token', expiry_date: Date.now() + 24 * 3_600_000 });
    return createGcpProvider(config.provider.gcp!, deps, { authClient });
  }
  return undefined;
}

const provider = await injectedProvider();
const running = await runController(config, {
  kubeconfig: options.kubeconfig,
  logger,
  ...(provider ? { provider } : {}),
  // As the CLI: a replica that loses its lease exits, and its supervisor (here the chaos runner) restarts it.
  onLostLeadership: () => process.exit(1),
});
process.send!({ type: 'ready', metricsUrl: running.metricsUrl, healthUrl: running.healthUrl });
