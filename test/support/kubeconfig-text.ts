/**
 * Kubeconfig texts for the tests of platform/kube-http.ts: one context, its cluster and user
 * merged from the fields a test gives.
 */
export const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A kubeconfig with one context; `user` and `cluster` are merged into its entries. */
export function kubeconfig(cluster: Record<string, unknown>, user?: Record<string, unknown>, extra = ''): string {
  const entries = (fields: Record<string, unknown>) =>
    Object.entries(fields)
      .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`)
      .join('\n');
  return [
    'apiVersion: v1',
    'kind: Config',
    'current-context: sandbox',
    'contexts:',
    '  - name: sandbox',
    '    context:',
    '      cluster: local',
    ...(user ? ['      user: me'] : []),
    'clusters:',
    '  - name: local',
    '    cluster:',
    entries(cluster),
    ...(user ? ['users:', '  - name: me', '    user:', entries(user)] : []),
    extra,
  ].join('\n');
}
