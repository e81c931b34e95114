/**
 * What every OpenAPI document (the API's, the data repository's) shares: the error body, how
 * answers are described, the routes every server has, and how a document is generated.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

export const ErrorBodySchema = z
  .object({
    error: z.string().meta({ description: 'What went wrong, in one line.' }),
    details: z.array(
      z.object({
        field: z.string().meta({
          description:
            "The offending field as a JavaScript accessor, e.g. `stages[0].pods`, `target`, `body`; the apiserver's field (`metadata.annotations`) when it refused.",
        }),
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

/** A JSON body's own refusals, `limit` as docs/api.md states it. */
export const bodyErrors = (limit: string) =>
  errors({ 413: `The body is larger than ${limit}.`, 415: 'The body is not JSON (Content-Type other than application/json).' });

/** The routes every AutoCrane HTTP server has: liveness, metrics and its own document. */
export function registerServingPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    responses: { 200: json(z.object({ status: z.literal('ok') }), 'The process serves requests.') },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } } },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    responses: {
      200: {
        description: 'The OpenAPI 3.1 document.',
        content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } },
      },
    },
  });
}

/** An OpenAPI 3.1 document of `registry`'s paths, generated on first use and kept. */
export function lazyDocument(build: (registry: OpenAPIRegistry) => void, info: { title: string; description: string }) {
  let document: ReturnType<OpenApiGeneratorV31['generateDocument']> | undefined;
  return () => {
    if (document === undefined) {
      const registry = new OpenAPIRegistry();
      build(registry);
      document = new OpenApiGeneratorV31(registry.definitions).generateDocument({ openapi: '3.1.0', info: { ...info, version: '1' } });
    }
    return document;
  };
}
