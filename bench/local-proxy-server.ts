// The local provider as bench/local-proxy.ts runs it: one load balancer with two ports (request/response
// and bulk) in front of one backend, served by `workers` proxy threads. Prints "ready" once it listens.
import { pino } from 'pino';
import { localProviderConfigSchema } from '../src/providers/local/config.ts';
import { createLocalProvider } from '../src/providers/local/index.ts';
import { MetricsRegistry } from '../src/server/metrics-registry.ts';

const [vip = '127.0.100.250', port = '21000', backendPort = '20000', workers = '1'] = process.argv.slice(2);

const provider = createLocalProvider(
  localProviderConfigSchema.parse({
    addressPools: [{ name: 'bench', addresses: [`${vip}/32`] }],
    workers: Number(workers),
    // No kube-proxy here: the backend itself is the node check.
    healthCheck: { cluster: { protocol: 'TCP', port: Number(backendPort) } },
  }),
  {
    clusterName: 'bench',
    logger: pino({ level: 'warn' }),
    registry: new MetricsRegistry(),
    events: { record: () => undefined },
    capacityFreed: () => undefined,
  },
);
await provider.start([]);
await provider.ensure({
  identity: { clusterName: 'bench', namespace: 'bench', name: 'bench', uid: 'bench', lbName: 'abench' },
  listeners: [
    { name: 'rr', protocol: 'TCP', port: Number(port), nodePort: Number(backendPort) },
    { name: 'bulk', protocol: 'TCP', port: Number(port) + 1, nodePort: Number(backendPort) + 1 },
  ],
  targets: [{ nodeName: 'backend', addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] }],
  healthCheck: { kind: 'tcp' },
  externalTrafficPolicy: 'Cluster',
  sourceRanges: [],
  sessionAffinity: { type: 'None' },
  requestedIPs: [vip],
  ipFamilies: ['IPv4'],
  annotations: {},
  currentIngress: [],
});
process.stdout.write('ready\n');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void provider.stop().then(() => process.exit(0)));
