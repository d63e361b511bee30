// The coordinator's public request/reply API: JSON bodies on `plearn.api.<op>`,
// validated here so every edge (NATS service, in-process calls, tests) rejects the
// same bad input with the same message. Replies are `{...}` or `{error: {...}}`.

import type { JobSpec } from '../experiments/jobs.ts';
import { validateSpec } from '../experiments/jobs.ts';
import { ConfigError } from '../util/validate.ts';
import type { ApiOp } from './subjects.ts';
import { API_OPS, ID_PATTERN } from './subjects.ts';
import type { JobStatus } from './records.ts';

/** Largest request body accepted (a layout file is a few kB; nothing legitimate comes near this). */
export const MAX_REQUEST_BYTES = 256 * 1024;

export type ApiRequest =
  | { op: 'submit'; spec: JobSpec }
  | { op: 'get'; id: string }
  | { op: 'list'; status?: JobStatus; limit: number }
  | { op: 'cancel'; id: string }
  | { op: 'result'; id: string };

export type ErrorCode = 'bad_request' | 'not_found' | 'conflict' | 'not_ready' | 'internal';

export interface ApiError { error: { code: ErrorCode; message: string; field?: string } }

export class ApiFailure extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'ApiFailure';
  }
}

const STATUSES: readonly JobStatus[] = ['running', 'fitting', 'completed', 'failed', 'cancelled'];

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiFailure('bad_request', 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

function idOf(b: Record<string, unknown>): string {
  if (typeof b.id !== 'string' || !ID_PATTERN.test(b.id)) {
    throw new ApiFailure('bad_request', `id: expected a job id (1–64 of A–Z a–z 0–9 _ -), got ${JSON.stringify(b.id)?.slice(0, 80)}`, 'id');
  }
  return b.id;
}

/** Validate a decoded request body for `op`; throws ApiFailure('bad_request') naming the field. */
export function parseRequest(op: string, body: unknown): ApiRequest {
  if (!(API_OPS as readonly string[]).includes(op)) throw new ApiFailure('bad_request', `unknown operation ${JSON.stringify(op)}; available: ${API_OPS.join(', ')}`);
  const b = objectBody(body);
  switch (op as ApiOp) {
    case 'submit':
      try {
        return { op: 'submit', spec: validateSpec(b) };
      } catch (e) {
        if (e instanceof ConfigError) throw new ApiFailure('bad_request', e.message, e.field);
        throw e;
      }
    case 'get': return { op: 'get', id: idOf(b) };
    case 'cancel': return { op: 'cancel', id: idOf(b) };
    case 'result': return { op: 'result', id: idOf(b) };
    case 'list': {
      let status: JobStatus | undefined;
      if (b.status !== undefined) {
        if (typeof b.status !== 'string' || !(STATUSES as readonly string[]).includes(b.status)) {
          throw new ApiFailure('bad_request', `status: expected one of ${STATUSES.join(', ')}`, 'status');
        }
        status = b.status as JobStatus;
      }
      const limit = b.limit === undefined ? 100 : b.limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new ApiFailure('bad_request', 'limit: expected an integer in [1, 1000]', 'limit');
      }
      return { op: 'list', status, limit };
    }
  }
}

export function errorBody(e: unknown): ApiError {
  if (e instanceof ApiFailure) return { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } };
  if (e instanceof ConfigError) return { error: { code: 'bad_request', message: e.message, field: e.field } };
  if (e instanceof SyntaxError) return { error: { code: 'bad_request', message: `malformed JSON: ${e.message}` } };
  return { error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
}
