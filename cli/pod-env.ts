/**
 * The pod a sidecar runs in, named by downward-API variables. Its own module so that the
 * pod-side commands (watchdog-healthz, data-deployer) share it without importing each other.
 */
import { dns1123LabelError, dns1123SubdomainError } from '../domain/shared/k8s-names';
import { ConfigError } from '../platform/config';

/** Environment variables naming the pod (set them from the downward API). */
export const POD_NAME_VARIABLE = 'POD_NAME';
export const POD_NAMESPACE_VARIABLE = 'POD_NAMESPACE';

export interface PodRef {
  namespace: string;
  name: string;
}

/** The pod named by POD_NAME and POD_NAMESPACE; throws a ConfigError naming each missing or invalid one. */
export function podFromEnv(env: NodeJS.ProcessEnv = process.env): PodRef {
  const problems: { variable: string; reason: string }[] = [];
  const read = (variable: string, check: (v: string) => string | null, field: string): string => {
    const value = env[variable]?.trim() ?? '';
    if (value === '') {
      problems.push({ variable, reason: `required: set it from the downward API (fieldRef: ${field})` });
    } else {
      const problem = check(value);
      if (problem !== null) problems.push({ variable, reason: `${JSON.stringify(value)} ${problem}` });
    }
    return value;
  };
  const name = read(POD_NAME_VARIABLE, dns1123SubdomainError, 'metadata.name');
  const namespace = read(POD_NAMESPACE_VARIABLE, dns1123LabelError, 'metadata.namespace');
  if (problems.length > 0) throw new ConfigError(problems);
  return { namespace, name };
}
