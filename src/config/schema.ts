// The config file's schema (zod): every field, its default and its bounds.
import { z } from 'zod';
import { awsProviderConfigSchema } from '../providers/aws/config.ts';
import { azureProviderConfigSchema } from '../providers/azure/config.ts';
import { gcpProviderConfigSchema } from '../providers/gcp/config.ts';
import { localProviderConfigSchema } from '../providers/local/config.ts';
import { quote } from '../error-message.ts';
import { serverAddressesSchema } from '../server/address.ts';
import { formatDuration, parseDuration } from './duration.ts';

/** What a rejected duration looked like: a number as written (Infinity too), a string quoted and capped. */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return quote(value);
  return Array.isArray(value) ? 'a list' : `a ${value === null ? 'null' : typeof value}`;
}

const duration = z.unknown().transform((value, ctx) => {
  const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${shown(value)} (use e.g. "30s", "5m", "1h")` });
    return z.NEVER;
  }
  return ms;
});

/**
 * A period that drives a loop, at most `max`: zero would spin, and Node turns a timer of 2^31 ms
 * (24.8 days) or more into a 1 ms one, so an unbounded period would spin too.
 */
function period(max: number) {
  return duration.refine((ms) => ms > 0, 'must be greater than zero').refine((ms) => ms <= max, `must be at most ${formatDuration(max)}`);
}

const HOUR = 3_600_000;

export const nodePortRangeSchema = z
  .string()
  .regex(/^\d+-\d+$/, 'expected "FROM-TO", e.g. "30000-32767"')
  .transform((value, ctx) => {
    const [from, to] = value.split('-').map(Number) as [number, number];
    if (from < 1 || to > 65535 || from > to) {
      ctx.addIssue({ code: 'custom', message: `invalid range ${value}` });
      return z.NEVER;
    }
    return { from, to };
  });

export const configSchema = z.strictObject({
  clusterName: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label')
    .default('kubernetes'),
  /** When set, only Services of this class are handled; when unset, only Services without a class. */
  loadBalancerClass: z.string().min(1).nullable().default(null),
  provider: z
    .strictObject({
      name: z.enum(['local', 'aws', 'azure', 'gcp', 'module']).default('local'),
      local: localProviderConfigSchema.prefault({}),
      aws: awsProviderConfigSchema.optional(),
      azure: azureProviderConfigSchema.optional(),
      gcp: gcpProviderConfigSchema.optional(),
      /** provider.name: module: a path ("./x.js" is relative to the config file; "/x.js") or a package name. */
      module: z.string().min(1).optional(),
      /** Handed to the module's createProvider as written: the module validates it itself. */
      moduleConfig: z.record(z.string(), z.unknown()).optional(),
    })
    .prefault({})
    .superRefine((provider, ctx) => {
      if (provider.name === 'aws' && !provider.aws) {
        ctx.addIssue({ code: 'custom', path: ['aws'], message: 'required when provider.name is "aws"' });
      }
      if (provider.name === 'azure' && !provider.azure) {
        ctx.addIssue({ code: 'custom', path: ['azure'], message: 'required when provider.name is "azure"' });
      }
      if (provider.name === 'gcp' && !provider.gcp) {
        ctx.addIssue({ code: 'custom', path: ['gcp'], message: 'required when provider.name is "gcp"' });
      }
      if (provider.name === 'module' && !provider.module) {
        ctx.addIssue({ code: 'custom', path: ['module'], message: 'required when provider.name is "module"' });
      }
    }),
  controller: z
    .strictObject({
      /**
       * Provider calls in flight at once. A sync spends most of its time waiting (on the API server for the
       * finalizer and the status, on the provider), so 16 keep up with a burst of creates where 4 fell
       * seconds behind; twice as many syncs run, so the API writes overlap provider calls (src/app.ts).
       * Providers also hold their cloud calls to their own rate budgets.
       */
      workers: z.number().int().min(1).max(256).default(16),
      /** How often every load balancer is ensured again, repairing changes made behind our back. */
      resyncPeriod: period(24 * HOUR).default(10 * 60_000),
      nodePortRange: nodePortRangeSchema.prefault('30000-32767'),
      backoff: z.strictObject({ initial: period(HOUR).default(5_000), max: period(HOUR).default(300_000) }).prefault({}),
      /**
       * Client-side limit on API requests, watches excluded (upstream --kube-api-qps/--kube-api-burst). A
       * safety net against a runaway loop, not a throttle for normal work. The defaults fit the benchmark's
       * peak: 16 workers at 50 ms a provider call sync about 320 Services a second, each with about four
       * requests (finalizer, status, two events), so a 1000-Service start-up is about 4000 requests in about
       * 3 s: a burst of 2000 plus 1000 a second covers it; a hot loop is still held to 1000 a second.
       */
      kubeApi: z
        .strictObject({
          qps: z.number().positive().max(100_000).default(1000),
          burst: z.number().int().min(1).max(100_000).default(2000),
        })
        .prefault({}),
      garbageCollection: z
        .strictObject({
          enabled: z.boolean().default(true),
          dryRun: z.boolean().default(false),
          period: period(24 * HOUR).default(5 * 60_000),
        })
        .prefault({}),
    })
    .prefault({}),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true),
      namespace: z.string().min(1).default('kube-system'),
      leaseName: z.string().min(1).default('service-lb-controller'),
      // client-go's defaults are 15s, 10s and 2s; a lease of an hour already leaves Services unreconciled
      // that long after a leader dies.
      leaseDuration: period(HOUR).default(15_000),
      renewDeadline: period(HOUR).default(10_000),
      retryPeriod: period(HOUR).default(2_000),
    })
    .prefault({})
    .refine((le) => le.renewDeadline < le.leaseDuration && le.retryPeriod < le.renewDeadline, {
      message: 'need retryPeriod < renewDeadline < leaseDuration',
    }),
  // Loopback unless the config says otherwise: an empty config must not publish metrics on every
  // interface. The deploy manifests set ":8080" and ":10258" for Prometheus and the kubelet's probes.
  server: serverAddressesSchema({ metricsAddress: '127.0.0.1:8080', healthAddress: '127.0.0.1:10258' }),
  logging: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
