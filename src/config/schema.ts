// The config file's schema (zod): every field, its default and its bounds.
import { z } from 'zod';
import { awsProviderConfigSchema } from '../providers/aws/config.ts';
import { azureProviderConfigSchema } from '../providers/azure/config.ts';
import { gcpProviderConfigSchema } from '../providers/gcp/config.ts';
import { localProviderConfigSchema } from '../providers/local/config.ts';
import { parseDuration } from './duration.ts';

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. "30s", "5m", "1h")` });
    return z.NEVER;
  }
  return ms;
});

/** A period that drives a loop: zero would spin. */
const period = duration.refine((ms) => ms > 0, 'must be greater than zero');

const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, 'expected "host:port", ":port" or "[v6]:port"');

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
      workers: z.number().int().min(1).max(256).default(4),
      /** How often every load balancer is ensured again, repairing changes made behind our back. */
      resyncPeriod: period.default(10 * 60_000),
      nodePortRange: nodePortRangeSchema.prefault('30000-32767'),
      backoff: z.strictObject({ initial: period.default(5_000), max: period.default(300_000) }).prefault({}),
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
          period: period.default(5 * 60_000),
        })
        .prefault({}),
    })
    .prefault({}),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true),
      namespace: z.string().min(1).default('kube-system'),
      leaseName: z.string().min(1).default('service-lb-controller'),
      leaseDuration: period.default(15_000),
      renewDeadline: period.default(10_000),
      retryPeriod: period.default(2_000),
    })
    .prefault({})
    .refine((le) => le.renewDeadline < le.leaseDuration && le.retryPeriod < le.renewDeadline, {
      message: 'need retryPeriod < renewDeadline < leaseDuration',
    }),
  server: z
    .strictObject({
      metricsAddress: listenAddress.default(':8080'),
      healthAddress: listenAddress.default(':10258'),
    })
    .prefault({}),
  logging: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
