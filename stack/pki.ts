import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Key material of the sandbox cluster; made once per state folder and reused across restarts. */
export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  /** Signs and verifies service-account tokens (TokenReview of pod tokens depends on it). */
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** Static token file of the apiserver: token,user,uid,"groups". */
  tokenFile: string;
  tokens: Record<SandboxUser, string>;
}

/**
 * The sandbox's users. Each system component gets its own identity so apiserver
 * audit and RBAC errors name who did what; all are cluster admins (system:masters)
 * because this is a throwaway local cluster, not a hardened one.
 */
export const SANDBOX_USERS = ['admin', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type SandboxUser = (typeof SANDBOX_USERS)[number];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function ensurePki(stateDir: string): ClusterPki {
  const dir = join(stateDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  const pki: Omit<ClusterPki, 'tokens'> = {
    dir,
    caCert: file('ca.crt'),
    caKey: file('ca.key'),
    apiserverCert: file('apiserver.crt'),
    apiserverKey: file('apiserver.key'),
    serviceAccountKey: file('sa.key'),
    serviceAccountPub: file('sa.pub'),
    tokenFile: file('tokens.csv'),
  };

  if (!existsSync(pki.caCert)) {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      pki.caKey,
      '-out',
      pki.caCert,
      '-days',
      '3650',
      '-subj',
      '/CN=autocrane-sandbox-ca',
    ]);
  }
  if (!existsSync(pki.apiserverCert)) {
    const ext = file('apiserver.ext');
    writeFileSync(
      ext,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
        '',
      ].join('\n'),
    );
    const csr = file('apiserver.csr');
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki.apiserverKey, '-out', csr, '-subj', '/CN=kube-apiserver']);
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.caCert,
      '-CAkey',
      pki.caKey,
      '-CAcreateserial',
      '-out',
      pki.apiserverCert,
      '-days',
      '3650',
      '-extfile',
      ext,
    ]);
  }
  if (!existsSync(pki.serviceAccountKey)) {
    openssl(['genrsa', '-out', pki.serviceAccountKey, '2048']);
    openssl(['rsa', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  }
  if (!existsSync(pki.tokenFile)) {
    const lines = SANDBOX_USERS.map((user) => `${randomBytes(24).toString('hex')},${user},${user},"system:masters"`);
    writeFileSync(pki.tokenFile, lines.join('\n') + '\n', { mode: 0o600 });
  }
  return { ...pki, tokens: readTokens(pki.tokenFile) };
}

function readTokens(tokenFile: string): Record<SandboxUser, string> {
  const tokens = {} as Record<SandboxUser, string>;
  for (const line of readFileSync(tokenFile, 'utf8').split('\n')) {
    const [token, user] = line.split(',');
    if (token && user && (SANDBOX_USERS as readonly string[]).includes(user)) tokens[user as SandboxUser] = token;
  }
  for (const user of SANDBOX_USERS) {
    if (!tokens[user]) throw new Error(`stack: ${tokenFile} has no token for ${user}; delete the state folder's pki/ to regenerate`);
  }
  return tokens;
}

/** A kubeconfig with a bearer token, pinned to the sandbox CA. */
export function kubeconfigYaml(server: string, caCertPath: string, user: string, token: string): string {
  const ca = readFileSync(caCertPath).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: autocrane-sandbox',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: autocrane-sandbox',
    '  context:',
    '    cluster: autocrane-sandbox',
    `    user: ${user}`,
    '    namespace: default',
    'current-context: autocrane-sandbox',
    '',
  ].join('\n');
}
