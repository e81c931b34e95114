/** What every part of the OpenAPI document shares: the error body, and how answers are described. */
import { z } from 'zod';

export const ErrorBodySchema = z
  .object({
    error: z.string().meta({ description: 'What went wrong, in one line.' }),
    details: z.array(
      z.object({
        field: z.string().meta({ description: 'The offending field as a JavaScript accessor, e.g. `stages[0].pods`, `target`, `body`; the apiserver\'s field (`metadata.annotations`) when it refused.' }),
        message: z.string(),
      }),
    ),
  })
  .meta({ id: 'Error' });

/** True when A and B are the same type: a schema checked against its interface both ways. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export type Security = { [scheme: string]: string[] }[];

export const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });

export const errors = (codes: Record<number, string>) =>
  Object.fromEntries(Object.entries(codes).map(([code, description]) => [code, json(ErrorBodySchema, description)]));

/** A JSON request body; an optional one may be left out entirely. */
export const jsonRequest = (schema: z.ZodType, required: boolean) => ({ required, content: { 'application/json': { schema } } });

export const AUTH_ERRORS = {
  401: 'No bearer token, or one the cluster does not accept.',
  403: 'The caller may not do this (the message names the permission needed).',
  503: 'The Kubernetes apiserver did not answer the TokenReview or SubjectAccessReview.',
};

/** A JSON body's own refusals, `limit` as the README states it. */
export const bodyErrors = (limit: string) => errors({ 413: `The body is larger than ${limit}.`, 415: 'The body is not JSON (Content-Type other than application/json).' });
