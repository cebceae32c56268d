// Finds (or builds, through the hack/ install scripts) kube-apiserver and etcd, helm and kustomize.
import { accessSync, constants } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
  /** Where they came from, for log lines and error messages. */
  source: string;
}

const INSTALL_SCRIPT = fileURLToPath(new URL('../../hack/install-control-plane.sh', import.meta.url));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function fromDir(dir: string, source: string): ControlPlaneBinaries | undefined {
  const kubeApiserver = join(dir, 'kube-apiserver');
  const etcd = join(dir, 'etcd');
  return isExecutable(kubeApiserver) && isExecutable(etcd) ? { kubeApiserver, etcd, source } : undefined;
}

/**
 * Binaries named explicitly by the environment, or undefined when the environment names none.
 * A half-set or wrong explicit setting throws: silently building something else would hide the mistake.
 */
export function binariesFromEnv(env: NodeJS.ProcessEnv): ControlPlaneBinaries | undefined {
  const { KUBE_APISERVER_BIN: api, ETCD_BIN: etcd, KUBEBUILDER_ASSETS: assets } = env;
  if (api || etcd) {
    if (!api || !etcd) throw new Error('set both KUBE_APISERVER_BIN and ETCD_BIN, or neither');
    for (const [name, path] of [
      ['KUBE_APISERVER_BIN', api],
      ['ETCD_BIN', etcd],
    ] as const) {
      if (!isExecutable(path)) throw new Error(`${name}=${path} is not an executable file`);
    }
    return { kubeApiserver: api, etcd, source: 'KUBE_APISERVER_BIN/ETCD_BIN' };
  }
  // controller-runtime users may point KUBEBUILDER_ASSETS at a partial set; then we build our own.
  return assets ? fromDir(assets, `KUBEBUILDER_ASSETS=${assets}`) : undefined;
}

let cached: ControlPlaneBinaries | undefined;

/**
 * Finds kube-apiserver and etcd: $KUBE_APISERVER_BIN + $ETCD_BIN, then $KUBEBUILDER_ASSETS, then the
 * install script (which builds them on a cache miss, taking minutes). Throws when none works, so a
 * missing control plane fails the suite instead of skipping it.
 */
export function findControlPlaneBinaries(env: NodeJS.ProcessEnv = process.env): ControlPlaneBinaries {
  const explicit = binariesFromEnv(env);
  if (explicit) return explicit;
  if (cached) return cached;
  // The script's progress goes to stderr, which stays visible during a long first build.
  const run = spawnSync('bash', [INSTALL_SCRIPT], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = run.stdout?.trim().split('\n').at(-1) ?? '';
  const found = run.status === 0 && dir ? fromDir(dir, `${INSTALL_SCRIPT} -> ${dir}`) : undefined;
  if (!found) {
    const why = run.error ? run.error.message : `exit status ${run.status}, printed directory '${dir}'`;
    throw new Error(
      `kube-apiserver and etcd not found (${why}). Set KUBE_APISERVER_BIN and ETCD_BIN, or KUBEBUILDER_ASSETS, ` +
        `or make ${INSTALL_SCRIPT} succeed (it needs the Go module proxy; without Go >= 1.26 it fetches a pinned Go).`,
    );
  }
  cached = found;
  return found;
}

const TOOL_SCRIPT = fileURLToPath(new URL('../../hack/install-tool.sh', import.meta.url));
const tools = new Map<string, string>();

/**
 * The path of helm or kustomize: $HELM_BIN / $KUSTOMIZE_BIN, or the pinned build of hack/install-tool.sh
 * (minutes on a cache miss). Throws when neither works: a test never skips for a missing tool.
 */
export function findTool(name: 'helm' | 'kustomize', env: NodeJS.ProcessEnv = process.env): string {
  const known = tools.get(name);
  if (known) return known;
  const run = spawnSync('bash', [TOOL_SCRIPT, name], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = run.stdout?.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !path || !isExecutable(path)) {
    const why = run.error ? run.error.message : `exit status ${run.status}, printed '${path}'`;
    throw new Error(`${name} not found (${why}). Set ${name.toUpperCase()}_BIN, or make ${TOOL_SCRIPT} ${name} succeed.`);
  }
  tools.set(name, path);
  return path;
}
