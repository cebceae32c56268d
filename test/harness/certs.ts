// Throw-away PKI for a test cluster, made with openssl.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files for one throw-away cluster. Paths feed apiserver flags; PEM text feeds the kubeconfig. */
export interface ClusterPki {
  caCertPath: string;
  servingCertPath: string;
  servingKeyPath: string;
  serviceAccountPublicKeyPath: string;
  serviceAccountPrivateKeyPath: string;
  caCertPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

// Our own minimal config, so that neither a missing nor a customised system openssl.cnf changes the result.
const REQ_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n';
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.error) {
    const hint = (run.error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install it: apt-get install openssl)' : '';
    throw new Error(`cannot run openssl${hint}: ${run.error.message}`);
  }
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
}

function signedLeaf(dir: string, name: string, subject: string, extensions: string[], serial: number): void {
  writeFileSync(join(dir, `${name}.ext`), `[v3]\n${extensions.join('\n')}\n`);
  openssl(dir, ['req', '-new', ...KEY_ARGS, '-config', 'req.cnf', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-set_serial',
    String(serial),
    '-days',
    '7',
    '-extfile',
    `${name}.ext`,
    '-extensions',
    'v3',
    '-out',
    `${name}.crt`,
  ]);
}

/**
 * A CA, an apiserver serving certificate for 127.0.0.1, an admin client certificate in system:masters
 * (which bypasses RBAC, as a cluster admin's does), and the service account token signing key pair.
 */
export function generateClusterPki(dir: string): ClusterPki {
  writeFileSync(join(dir, 'req.cnf'), REQ_CONFIG);
  openssl(dir, [
    'req',
    '-x509',
    ...KEY_ARGS,
    '-config',
    'req.cnf',
    '-subj',
    '/CN=service-lb-controller-test-ca',
    '-days',
    '7',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  ]);
  signedLeaf(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    2,
  );
  signedLeaf(
    dir,
    'admin',
    '/O=system:masters/CN=test-admin',
    ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'],
    3,
  );

  const sa = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey);
  writeFileSync(join(dir, 'sa.key'), sa.privateKey, { mode: 0o600 });

  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return {
    caCertPath: join(dir, 'ca.crt'),
    servingCertPath: join(dir, 'apiserver.crt'),
    servingKeyPath: join(dir, 'apiserver.key'),
    serviceAccountPublicKeyPath: join(dir, 'sa.pub'),
    serviceAccountPrivateKeyPath: join(dir, 'sa.key'),
    caCertPem: read('ca.crt'),
    adminCertPem: read('admin.crt'),
    adminKeyPem: read('admin.key'),
  };
}
