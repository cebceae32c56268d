#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --optimize-for-size
// The service-lb-controller command line: run, proxy and check-config, with their exit codes.
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import packageJson from '../package.json' with { type: 'json' };
import { restartFlags } from './compilers.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { createLogger, LOG_FORMATS, type LogFormat } from './logger.ts';
import { errorMessage } from './error-message.ts';
import type { Config } from './config/schema.ts';
import { MetricsRegistry } from './server/metrics-registry.ts';

const EXIT_CONFIG = 2;

async function readConfig(file: string) {
  try {
    return await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

/**
 * check-config builds a module provider without starting it, so a module that cannot load or does not
 * keep the contract fails here as it would fail `run`. The other providers need nothing beyond the schema.
 */
async function checkProvider(config: Config): Promise<void> {
  if (config.provider.name !== 'module') return;
  const { createModuleProvider } = await import('./providers/module.ts');
  try {
    await createModuleProvider(config.provider.module!, config.provider.moduleConfig ?? {}, {
      clusterName: config.clusterName,
      logger: createLogger('silent'),
      registry: new MetricsRegistry(),
      events: { record: () => undefined },
      capacityFreed: () => undefined,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}

/**
 * A config that parses but cannot be used (a provider module that does not load or keep the contract, a
 * listen port in use) exits 2 with the field named, like a bad field; anything else exits 1.
 */
function failedToStart(logger: Logger, err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  logger.fatal({ err: errorMessage(err) }, 'could not start');
  process.exit(1);
}

/** On SIGINT or SIGTERM (the first one counts), stops and exits 0, or 1 when the stop fails. */
function exitOnSignal(logger: Logger, stop: () => Promise<void>, context: Record<string, unknown> = {}): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, ...context }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** run and proxy log alike. */
const logFormatOption = () => new Option('--log-format <format>', 'json lines, or text for people').choices(LOG_FORMATS).default('json');

const program = new Command().name('service-lb-controller').description(packageJson.description).version(packageJson.version);

program
  .command('run')
  .description('run the controller')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster config)')
  .addOption(logFormatOption())
  .action(async (opts: { config: string; kubeconfig?: string; logFormat: LogFormat }) => {
    const config = await readConfig(opts.config);
    const flags = restartFlags(config, process.execArgv);
    let notRestarted: unknown;
    try {
      // execve: this process (its pid, signals and stdio) starts over with the flags; nothing has run yet.
      if (flags && process.execve) process.execve(process.execPath, [process.execPath, ...flags, ...process.argv.slice(1)]);
    } catch (err) {
      notRestarted = err;
    }
    // Loaded after the restart, not twice.
    const { runController } = await import('./app.ts');
    const logger = createLogger(config.logging.level, opts.logFormat);
    // Only memory is at stake: the controller runs as started.
    if (notRestarted) logger.warn({ err: errorMessage(notRestarted) }, 'could not restart without the optimizing compilers');
    let running;
    try {
      running = await runController(config, {
        ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
        logger,
        onLostLeadership: () => process.exit(1),
      });
    } catch (err) {
      failedToStart(logger, err);
    }
    logger.info({ metrics: running.metricsUrl, health: running.healthUrl, provider: config.provider.name }, 'started');
    exitOnSignal(logger, () => running.stop());
  });

program
  .command('proxy')
  .description("run the local provider's data path alone, fed by a controller with provider.local.dataPath: external")
  .requiredOption('-c, --config <file>', "YAML config file (the controller's: provider.local is read)")
  .option('--socket <path>', 'unix socket the controller connects to (default: provider.local.proxySocket)')
  .addOption(logFormatOption())
  .action(async (opts: { config: string; socket?: string; logFormat: LogFormat }) => {
    const config = await readConfig(opts.config);
    const logger = createLogger(config.logging.level, opts.logFormat);
    const local = config.provider.local;
    // A controller with an in-process data path binds the same listeners itself.
    if (config.provider.name !== 'local' || local.dataPath !== 'external') {
      process.stderr.write(
        `${opts.config}: provider.local.dataPath: the proxy serves a controller with provider.name local and dataPath external\n`,
      );
      process.exit(EXIT_CONFIG);
    }
    const { runProxy } = await import('./proxy.ts');
    let running;
    try {
      running = await runProxy(config, { ...(opts.socket ? { socketPath: opts.socket } : {}), logger });
    } catch (err) {
      failedToStart(logger, err);
    }
    logger.info({ metrics: running.metricsUrl, health: running.healthUrl }, 'proxy started');
    exitOnSignal(logger, () => running.stop(), { drainGraceSeconds: local.drainGraceSeconds });
  });

program
  .command('check-config')
  .description('validate a config file and exit (0: valid, 2: invalid)')
  .argument('<file>', 'YAML config file')
  .action(async (file: string) => {
    await checkProvider(await readConfig(file));
    process.stdout.write(`${file}: ok\n`);
  });

await program.parseAsync();
