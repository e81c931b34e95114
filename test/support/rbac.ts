/** Service accounts, their tokens and RBAC Roles on the sandbox cluster, for the API's real TokenReview and SubjectAccessReview. */
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { kubernetesClusterAuth, type ResourceAction } from '../../api/auth';
import { eventually, type KubeClients } from './kube';

/** Creates service account `name` in `namespace` and returns a 10-minute token of it (unbound). */
export async function serviceAccountToken(k: KubeClients, namespace: string, name: string): Promise<string> {
  await k.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const request = await k.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  return request.status!.token;
}

/** A Role named `name` in `namespace` with `rules`, bound to the service account `subject`. */
export async function grantRole(
  k: KubeClients,
  namespace: string,
  name: string,
  rules: V1PolicyRule[],
  subject: { namespace: string; name: string },
): Promise<void> {
  const rbac = k.kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', ...subject }],
    },
  });
}

/**
 * Waits until the apiserver's RBAC authorizer, which learns of new Roles through its informers,
 * answers `allowed` for the token's user and `action`, as a SubjectAccessReview.
 */
export async function awaitAccess(k: KubeClients, token: string, action: ResourceAction, allowed = true): Promise<void> {
  const cluster = kubernetesClusterAuth(k.kc);
  const user = await cluster.reviewToken(token);
  if (user === null) throw new Error('the token was not accepted by the TokenReview');
  await eventually(async () => {
    const answer = await cluster.canAccess(user, action);
    if (answer !== allowed) throw new Error(`SubjectAccessReview still answers ${answer} for ${user.username}`);
  }, 15_000);
}
