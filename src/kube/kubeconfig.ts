// How to reach the API server: a kubeconfig file or the in-cluster service account, read without
// @kubernetes/client-node, whose package index loads every generated API (~25 MB of code in the heap).
import { readFileSync, statSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** What KubeClient needs from a kubeconfig; @kubernetes/client-node's KubeConfig has the same shape. */
export interface KubeAccess {
  getCurrentCluster(): { server: string } | null;
  getCurrentUser(): { username?: string; password?: string } | null;
  /** Sets the TLS material and the authorization header of the next request. */
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected tokens rotate; client-go and client-node re-read the file about once a minute. */
const TOKEN_REREAD_MS = 60_000;

interface Cluster {
  server: string;
  ca?: Buffer;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
}

interface User {
  username?: string;
  password?: string;
  token?: string;
  tokenFile?: string;
  cert?: Buffer;
  key?: Buffer;
  impersonate?: string;
}

type Raw = Record<string, unknown>;

function named(list: unknown, name: unknown, what: string): Raw {
  const entry = (Array.isArray(list) ? (list as Raw[]) : []).find((e) => e.name === name);
  if (!entry) throw new Error(`kubeconfig: no ${what} named ${JSON.stringify(name)}`);
  return (entry[what] ?? {}) as Raw;
}

class LoadedKubeConfig implements KubeAccess {
  private readonly cluster: Cluster;
  private readonly user: User;
  private token: { value: string; readAt: number } | undefined;

  constructor(cluster: Cluster, user: User) {
    this.cluster = cluster;
    this.user = user;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.cluster.server };
  }

  getCurrentUser(): { username?: string; password?: string } {
    return {
      ...(this.user.username ? { username: this.user.username } : {}),
      ...(this.user.password ? { password: this.user.password } : {}),
    };
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    if (this.cluster.ca) options.ca = this.cluster.ca;
    if (this.cluster.insecureSkipTLSVerify) options.rejectUnauthorized = false;
    if (this.cluster.tlsServerName) options.servername = this.cluster.tlsServerName;
    if (this.user.cert) options.cert = this.user.cert;
    if (this.user.key) options.key = this.user.key;
    const headers: Record<string, string> = {};
    const token = this.bearerToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (this.user.impersonate) headers['Impersonate-User'] = this.user.impersonate;
    options.headers = { ...options.headers, ...headers };
  }

  private bearerToken(): string | undefined {
    if (this.user.token) return this.user.token;
    const file = this.user.tokenFile;
    if (!file) return undefined;
    if (!this.token || Date.now() - this.token.readAt >= TOKEN_REREAD_MS) {
      this.token = { value: readFileSync(file, 'utf8').trim(), readAt: Date.now() };
    }
    return this.token.value;
  }
}

/**
 * A kubeconfig whose user authenticates with an exec plugin or an auth provider is handed to
 * @kubernetes/client-node, which implements them; only then is its package loaded.
 */
class DelegatedKubeConfig implements KubeAccess {
  private readonly file: string;
  private readonly server: string;
  private loaded: Promise<KubeAccess> | undefined;

  constructor(file: string, server: string) {
    this.file = file;
    this.server = server;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.server };
  }

  getCurrentUser(): null {
    return null;
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    this.loaded ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      kc.loadFromFile(this.file);
      return kc;
    });
    await (await this.loaded).applyToHTTPSOptions(options);
  }
}

function fileOrData(base: string, file: unknown, data: unknown): Buffer | undefined {
  if (typeof file === 'string' && file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  return undefined;
}

/** The current context of a kubeconfig file: server, CA, client certificate, token or basic auth. */
export function loadKubeConfigFile(file: string): KubeAccess {
  const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Raw;
  const context = named(doc.contexts, doc['current-context'], 'context');
  const c = named(doc.clusters, context.cluster, 'cluster');
  const u = context.user === undefined ? {} : named(doc.users, context.user, 'user');
  const base = dirname(file);
  const server = String(c.server ?? '');
  if (!server) throw new Error(`kubeconfig ${file}: the current cluster has no server`);
  if (u.exec || u['auth-provider']) return new DelegatedKubeConfig(file, server);
  const ca = fileOrData(base, c['certificate-authority'], c['certificate-authority-data']);
  const cert = fileOrData(base, u['client-certificate'], u['client-certificate-data']);
  const key = fileOrData(base, u['client-key'], u['client-key-data']);
  const tokenFile = typeof u.tokenFile === 'string' && u.tokenFile ? u.tokenFile : undefined;
  return new LoadedKubeConfig(
    {
      server,
      ...(ca ? { ca } : {}),
      ...(c['insecure-skip-tls-verify'] === true ? { insecureSkipTLSVerify: true } : {}),
      ...(typeof c['tls-server-name'] === 'string' ? { tlsServerName: c['tls-server-name'] } : {}),
    },
    {
      ...(typeof u.username === 'string' ? { username: u.username } : {}),
      ...(typeof u.password === 'string' ? { password: u.password } : {}),
      ...(typeof u.token === 'string' && u.token ? { token: u.token } : {}),
      ...(tokenFile ? { tokenFile: isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile) } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(typeof u.as === 'string' ? { impersonate: u.as } : {}),
    },
  );
}

/** The Pod's service account: KUBERNETES_SERVICE_HOST/PORT, its CA, and its (rotating) token. */
export function loadInClusterKubeConfig(root = SERVICE_ACCOUNT): KubeAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
  statSync(join(root, 'token'));
  return new LoadedKubeConfig(
    { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, ca: readFileSync(join(root, 'ca.crt')) },
    { tokenFile: join(root, 'token') },
  );
}
