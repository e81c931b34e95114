/** Kubernetes API errors as @kubernetes/client-node throws them, with a Status body. */
import { ApiException } from '@kubernetes/client-node';

export const apiError = (code: number, status?: object) =>
  new ApiException(code, `HTTP-Code: ${code}`, status ? JSON.stringify(status) : '', {});
export const status = (code: number, reason: string, message: string, causes: object[] = []) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
  details: { causes },
});
