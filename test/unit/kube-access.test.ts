import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError } from '../../platform/config';
import { inClusterAccess, loadKubeAccess, parseKubeconfig } from '../../platform/kube-http';

import { b64, kubeconfig } from '../support/kubeconfig-text';
describe('parseKubeconfig', () => {
  const files: Record<string, string> = {
    '/cfg/ca.pem': 'CA-FILE',
    '/cfg/sub/client.crt': 'CERT-FILE',
    '/keys/client.key': 'KEY-FILE',
    '/cfg/token': ' tok-from-file \n',
  };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return Buffer.from(text);
  };
  const parse = (text: string) => parseKubeconfig(text, '/cfg/config', readFile);

  it('reads the current context: server, inline CA, bearer token', () => {
    const access = parse(kubeconfig({ server: 'https://127.0.0.1:6443/', 'certificate-authority-data': b64('CA') }, { token: 'tok' }));
    expect(access).toMatchObject({ source: '/cfg/config', server: 'https://127.0.0.1:6443', token: 'tok', insecureSkipTlsVerify: false });
    expect(access.ca?.toString()).toBe('CA');
    expect(access.cert).toBeUndefined();
  });

  it('reads files relative to the kubeconfig folder (or absolute), and inline data before files', () => {
    const access = parse(
      kubeconfig(
        { server: 'https://k:6443', 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes', 'insecure-skip-tls-verify': true },
        { 'client-certificate': 'sub/client.crt', 'client-key': '/keys/client.key', as: 'someone' },
      ),
    );
    expect([access.ca?.toString(), access.cert?.toString(), access.key?.toString()]).toEqual(['CA-FILE', 'CERT-FILE', 'KEY-FILE']);
    expect(access).toMatchObject({ tlsServerName: 'kubernetes', insecureSkipTlsVerify: true, impersonate: 'someone' });
    const inline = parse(
      kubeconfig(
        { server: 'https://k', 'certificate-authority-data': b64('CA'), 'certificate-authority': 'missing.pem' },
        { 'client-certificate-data': b64('C'), 'client-key-data': b64('K') },
      ),
    );
    expect([inline.ca?.toString(), inline.cert?.toString(), inline.key?.toString()]).toEqual(['CA', 'C', 'K']);
  });

  it('reads a token file (tokenFile or token-file) and basic credentials; a context without a user sends none', () => {
    expect(parse(kubeconfig({ server: 'http://k' }, { tokenFile: 'token' }))).toMatchObject({ tokenFile: '/cfg/token', token: undefined });
    expect(parse(kubeconfig({ server: 'http://k' }, { 'token-file': '/cfg/token' }))).toMatchObject({ tokenFile: '/cfg/token' });
    expect(parse(kubeconfig({ server: 'http://k' }, { username: 'u', password: 'p' }))).toMatchObject({
      basic: { username: 'u', password: 'p' },
    });
    const anonymous = parse(kubeconfig({ server: 'http://k' }));
    expect([anonymous.token, anonymous.tokenFile, anonymous.basic, anonymous.cert]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it.each([
    ['not YAML', 'clusters: [\n', /^not YAML: /],
    ['not a kubeconfig', 'just text', /\(document\): /],
    ['no current context', 'clusters: []', /current-context is not set/],
    ['a context it does not define', 'current-context: x\ncontexts: []', /current-context "x" is not among its contexts/],
    [
      'a cluster it does not define',
      'current-context: x\ncontexts: [{name: x, context: {cluster: c}}]',
      /names cluster "c", which it does not define/,
    ],
    [
      'a user it does not define',
      kubeconfig({ server: 'http://k' }).replace('cluster: local', 'cluster: local\n      user: ghost'),
      /names user "ghost", which it does not define/,
    ],
    [
      'a cluster without a server',
      'current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]',
      /clusters\.0\.cluster\.server: /,
    ],
    ['a server that is not a URL', kubeconfig({ server: 'k:6443' }), /server "k:6443": expected an http\(s\) URL/],
    ['a proxy', kubeconfig({ server: 'https://k', 'proxy-url': 'http://proxy:3128' }), /proxy-url is not supported/],
    [
      'exec credentials',
      kubeconfig({ server: 'https://k' }, { exec: { command: 'aws' } }),
      /user "me": exec and auth-provider credentials are not supported/,
    ],
    [
      'an auth provider',
      kubeconfig({ server: 'https://k' }, { 'auth-provider': { name: 'oidc' } }),
      /exec and auth-provider credentials are not supported/,
    ],
    [
      'a certificate without its key',
      kubeconfig({ server: 'https://k' }, { 'client-certificate-data': b64('C') }),
      /a client certificate needs its key/,
    ],
    [
      'a missing CA file',
      kubeconfig({ server: 'https://k', 'certificate-authority': 'nope.pem' }),
      /certificate-authority \/cfg\/nope\.pem: ENOENT/,
    ],
    ['a missing token file', kubeconfig({ server: 'https://k' }, { tokenFile: 'gone' }), /token file \/cfg\/gone: ENOENT/],
  ])('refuses %s, saying why', (_what, text, message) => {
    expect(() => parse(text)).toThrow(message);
  });
});

describe('inClusterAccess', () => {
  const sa: Record<string, string> = { '/sa/token': 'pod-token\n', '/sa/ca.crt': 'SA-CA' };
  const readFile = (path: string) => {
    if (sa[path] === undefined) throw new Error(`ENOENT: ${path}`);
    return Buffer.from(sa[path]);
  };

  it("reads the service account's CA and token file; http on the insecure ports; IPv6 in brackets", () => {
    const access = inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, '/sa', readFile);
    expect(access).toMatchObject({ server: 'https://10.96.0.1:443', tokenFile: '/sa/token', source: 'in-cluster service account' });
    expect(access.ca?.toString()).toBe('SA-CA');
    expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '8080' }, '/sa', readFile).server).toBe(
      'http://[fd00::1]:8080',
    );
  });

  it('says what is missing', () => {
    expect(() => inClusterAccess({}, '/sa', readFile)).toThrow('KUBERNETES_SERVICE_HOST is not set');
    expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: 'h' }, '/none', readFile)).toThrow(/token file \/none\/token: ENOENT/);
  });
});

describe('loadKubeAccess', () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'kube-http-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads KUBECONFIG', async () => {
    await writeFile(join(dir, 'config'), kubeconfig({ server: 'https://127.0.0.1:6443' }, { token: 't' }));
    expect(loadKubeAccess({ kubernetes: { kubeconfigPath: join(dir, 'config'), inCluster: false } })).toMatchObject({
      server: 'https://127.0.0.1:6443',
      token: 't',
    });
  });

  it('turns every failure into a ConfigError on KUBECONFIG naming the source', async () => {
    await writeFile(join(dir, 'broken'), 'current-context: x');
    const cases: [Parameters<typeof loadKubeAccess>[0], RegExp][] = [
      [
        { kubernetes: { kubeconfigPath: join(dir, 'absent'), inCluster: false } },
        /KUBECONFIG: cannot load kubeconfig from .*absent: .*ENOENT/,
      ],
      [
        { kubernetes: { kubeconfigPath: join(dir, 'broken'), inCluster: false } },
        /KUBECONFIG: cannot load kubeconfig from .*broken: current-context "x" is not among its contexts/,
      ],
      [
        { kubernetes: { kubeconfigPath: undefined, inCluster: true } },
        /KUBECONFIG: cannot load kubeconfig from in-cluster service account: /,
      ],
    ];
    for (const [config, message] of cases) {
      let error: unknown;
      try {
        loadKubeAccess(config, {});
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
  });
});
