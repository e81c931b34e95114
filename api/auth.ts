/**
 * Who may call the API: the watchdog, repair, rollout and data-rollout routes alike.
 *
 * Authentication: a bearer token. The embedded default's token (AUTOCRANE_API_TOKEN) is
 * compared in constant time and allows everything; any other token is sent to the cluster in
 * a TokenReview.
 *
 * Authorization, for a reviewed user: a SubjectAccessReview with the user's name, groups, uid
 * and extra, on the resource a route acts on (for watchdogs: `pods` in the target namespace,
 * `get` to read, `patch` to write; each route states its own). A pod may
 * also write its own watchdogs with its own service-account token: a token bound to that pod
 * (TokenReview extra `authentication.kubernetes.io/pod-name`) of a service account in the
 * pod's namespace. The apiserver only accepts such a token while the pod it was bound to
 * (same uid) exists, so a pod recreated under the same name does not inherit it.
 *
 * The cluster calls sit behind ClusterAuth so tests can stub them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { requestTimeout } from '../platform/kubernetes';
import { HttpError } from './http-errors';

/** A user as the cluster's TokenReview describes it. */
export interface ReviewedUser {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export type Caller = { kind: 'embedded' } | { kind: 'user'; user: ReviewedUser };

/** Who asked, for a decision log: the reviewed user's name, or the embedded token's holder. */
export const callerName = (caller: Caller | undefined): string | undefined =>
  caller === undefined ? undefined : caller.kind === 'user' ? caller.user.username : 'api-token';

/** A Kubernetes API action, as a SubjectAccessReview's resourceAttributes describe it. */
export interface ResourceAction {
  verb: string;
  /** API group; '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
  namespace: string;
  name?: string;
}

/** The action on a pod that reading (`get`) or writing (`patch`) its watchdogs stands for. */
export const podAction = (verb: 'get' | 'patch', namespace: string, pod: string): ResourceAction => ({
  verb,
  group: '',
  resource: 'pods',
  namespace,
  name: pod,
});

/** "patch on pods/eviction in namespace shop", for 403 messages. */
export function describeAction(action: ResourceAction): string {
  const resource = action.subresource ? `${action.resource}/${action.subresource}` : action.resource;
  const group = action.group === '' ? '' : `.${action.group}`;
  const where = action.namespace === '' ? 'in every namespace' : `in namespace ${action.namespace}`;
  return `${action.verb} on ${resource}${group}${action.name ? ` ${action.name}` : ''} ${where}`;
}

/** The two cluster calls authorization needs; the real one is kubernetesClusterAuth. */
export interface ClusterAuth {
  /** The token's user, or null when the cluster does not accept the token. */
  reviewToken(token: string): Promise<ReviewedUser | null>;
  /** Whether `user` may do `action` (SubjectAccessReview). */
  canAccess(user: ReviewedUser, action: ResourceAction): Promise<boolean>;
}

export interface Authorizer {
  /** The caller presenting this Authorization header; throws a 401 HttpError if none or not accepted. */
  authenticate(authorization: string | undefined): Promise<Caller>;
  /** Whether the caller may do `action`. */
  authorize(caller: Caller, action: ResourceAction): Promise<boolean>;
}

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time equality (both sides hashed first, so lengths leak nothing either). */
export function tokensEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return match?.[1];
}

/** True when `user` is a service account of `namespace` using a token bound to pod `pod`. */
export function isPodOwnToken(user: ReviewedUser, namespace: string, pod: string): boolean {
  const podNames = user.extra[POD_NAME_EXTRA] ?? [];
  return user.username.startsWith(`${SERVICE_ACCOUNT_PREFIX}${namespace}:`) && podNames.length === 1 && podNames[0] === pod;
}

const unauthenticated = (message: string) => new HttpError(401, message);
/** A 503 keeping the cluster's error as `cause`, for the log (the client sees only the message). */
const unavailable = (message: string, cause: unknown) => Object.assign(new HttpError(503, message), { cause });

export function createAuthorizer(options: { cluster: ClusterAuth; embeddedToken?: string | undefined }): Authorizer {
  const { cluster, embeddedToken } = options;
  return {
    async authenticate(authorization) {
      const token = bearerToken(authorization);
      if (token === undefined) {
        throw unauthenticated(
          authorization === undefined ? 'no credentials: send Authorization: Bearer <token>' : 'expected Authorization: Bearer <token>',
        );
      }
      if (embeddedToken !== undefined && embeddedToken !== '' && tokensEqual(token, embeddedToken)) return { kind: 'embedded' };
      let user: ReviewedUser | null;
      try {
        user = await cluster.reviewToken(token);
      } catch (err) {
        throw unavailable('cannot verify the token: the Kubernetes apiserver did not answer the TokenReview', err);
      }
      if (user === null) throw unauthenticated('the token was not accepted');
      return { kind: 'user', user };
    },

    async authorize(caller, action) {
      if (caller.kind === 'embedded') return true;
      const ownPodWrite = action.verb === 'patch' && action.group === '' && action.resource === 'pods' && action.subresource === undefined;
      if (ownPodWrite && action.name !== undefined && isPodOwnToken(caller.user, action.namespace, action.name)) return true;
      try {
        return await cluster.canAccess(caller.user, action);
      } catch (err) {
        throw unavailable('cannot check permissions: the Kubernetes apiserver did not answer the SubjectAccessReview', err);
      }
    },
  };
}

const CLUSTER_TIMEOUT_MS = 5000;

/** ClusterAuth over the apiserver of `kc` (its user needs create on tokenreviews and subjectaccessreviews). */
export function kubernetesClusterAuth(kc: KubeConfig, timeoutMs = CLUSTER_TIMEOUT_MS): ClusterAuth {
  const authentication = kc.makeApiClient(AuthenticationV1Api);
  const authorization = kc.makeApiClient(AuthorizationV1Api);
  return {
    async reviewToken(token) {
      const review = await authentication.createTokenReview({ body: { spec: { token } } }, requestTimeout(timeoutMs));
      const status = review.status;
      if (status?.authenticated !== true || status.user?.username === undefined) return null;
      const { username, uid, groups, extra } = status.user;
      return { username, ...(uid === undefined ? {} : { uid }), groups: groups ?? [], extra: extra ?? {} };
    },
    async canAccess(user, action) {
      const { verb, group, resource, subresource, namespace, name } = action;
      const review = await authorization.createSubjectAccessReview(
        {
          body: {
            spec: {
              user: user.username,
              groups: user.groups,
              ...(user.uid === undefined ? {} : { uid: user.uid }),
              extra: user.extra,
              resourceAttributes: { namespace, verb, group, resource, ...(subresource ? { subresource } : {}), ...(name ? { name } : {}) },
            },
          },
        },
        requestTimeout(timeoutMs),
      );
      return review.status?.allowed === true && review.status.denied !== true;
    },
  };
}
