// The coordinator's request handler: bytes in, bytes out, every failure an error
// reply. The NATS service calls it per request; tests call it directly with
// hostile bytes. The body's size (per operation) is checked before anything else
// reads it, its nesting and key count before JSON.parse builds it.

import type { ApiRequest } from '../shared/protocol/api.ts';
import { ApiFailure, errorBody, MAX_REQUEST_DEPTH, MAX_REQUEST_KEYS, maxRequestBytes, parseRequest } from '../shared/protocol/api.ts';
import { decodeJson, encodeJson } from '../shared/protocol/codec.ts';
import type { Coordinator } from './engine.ts';
import type { SweepScheduler } from './sweep/scheduler.ts';
import { LeadershipLost } from './leader/fence.ts';
import { storeUploadPart } from './extract/upload.ts';

const REQUEST_SHAPE = { maxDepth: MAX_REQUEST_DEPTH, maxKeys: MAX_REQUEST_KEYS };

function sweepsOf(s: SweepScheduler | undefined): SweepScheduler {
  if (!s) throw new ApiFailure('internal', 'this coordinator does not run sweeps');
  return s;
}

/** The operations that change state: only the active coordinator runs them. */
export const WRITE_OPS: ReadonlySet<string> = new Set(['submit', 'cancel', 'sweep-submit', 'sweep-cancel', 'upload']);

/** Whether this process may write now; throws ApiFailure('not_active') when it is a standby. */
export type WriteGate = () => void;

async function dispatch(c: Coordinator, req: ApiRequest, sweeps: SweepScheduler | undefined): Promise<unknown> {
  switch (req.op) {
    case 'submit': return c.submit(req.spec);
    case 'get': return { job: await c.get(req.id) };
    case 'list': return { jobs: await c.list(req.status, req.limit) };
    case 'cancel': return c.cancel(req.id);
    case 'result': return c.resultInfo(req.id);
    case 'sweep-submit': return sweepsOf(sweeps).submit(req.sweep);
    case 'sweep-get': return { sweep: await sweepsOf(sweeps).get(req.id, req.offset, req.limit) };
    case 'sweep-list': return { sweeps: await sweepsOf(sweeps).list(req.status, req.limit) };
    case 'sweep-cancel': return sweepsOf(sweeps).cancel(req.id);
    case 'timeline': return { timeline: await c.timeline(req.id, req.offset, req.limit) };
    case 'upload': return storeUploadPart(c.blobs, req.upload);
  }
}

export async function handleApi(c: Coordinator, op: string, body: Uint8Array, sweeps?: SweepScheduler, gate?: WriteGate): Promise<Uint8Array> {
  try {
    if (gate && WRITE_OPS.has(op)) gate();
    const max = maxRequestBytes(op);
    if (body.byteLength > max) {
      throw new ApiFailure('bad_request', `request of ${body.byteLength} bytes exceeds the limit of ${max} (allowed: [0, ${max}])`, 'request');
    }
    // An empty body is an empty request (`list` needs nothing).
    const parsed = body.byteLength === 0 ? {} : decodeJson(body, REQUEST_SHAPE);
    return encodeJson(await dispatch(c, parseRequest(op, parsed), sweeps));
  } catch (e) {
    // Leadership lost mid-request: the new leader will answer a retry.
    if (e instanceof LeadershipLost) return encodeJson(errorBody(new ApiFailure('not_active', e.message)));
    return encodeJson(errorBody(e));
  }
}
