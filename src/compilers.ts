// Whether V8's optimizing compilers run in the controller: chosen by what the process serves.
import type { Config } from './config/schema.ts';

/** V8's optimizing tiers off; the interpreter and Sparkplug, its baseline compiler, remain. */
export const WITHOUT_OPTIMIZING_COMPILERS = ['--no-turbofan', '--no-maglev'];

/**
 * Maglev and TurboFan pay for themselves in the local provider's data path when that runs in this process:
 * its UDP forwarding is JavaScript, and forwards 20% fewer datagrams without them (bench/local-udp.ts).
 * Everything else the controller does waits on the network, and there the two compilers are mostly memory:
 * their code, and what they allocate to compile. Without them, a controller with a provider that does
 * nothing peaked at 86-100 MB at 1000 Services and 100 nodes instead of 101-108 (bench/scale.ts), and used
 * no more CPU.
 */
export function wantsOptimizingCompilers(config: Config): boolean {
  return config.provider.name === 'local' && config.provider.local.dataPath !== 'external';
}

/**
 * Node's flags to start `run` again with, or undefined to go on as started: the optimizing compilers are
 * wanted, or the flags already say something about them (an operator's own choice, or this restart).
 */
export function restartFlags(config: Config, execArgv: readonly string[]): string[] | undefined {
  if (wantsOptimizingCompilers(config)) return undefined;
  if (execArgv.some((flag) => /^--(no-)?(turbofan|maglev)$/.test(flag))) return undefined;
  return [...execArgv, ...WITHOUT_OPTIMIZING_COMPILERS];
}
