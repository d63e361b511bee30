// `plearn extract --submit`, both ends. The submitter's role reaches nothing but
// the job API, so agents travel through it: the client sends each one (already
// read and probed on its machine) in parts; the coordinator stores the parts as
// they come, and the last part of an agent assembles it, checks it as a fit
// would, and stores it where the job's fits read it. Then the client submits
// the extraction as a job.

import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { checkExternalArtifact, ExternalAgentError } from '../../shared/agents/agent-card.ts';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import type { UploadPart } from '../../shared/protocol/api.ts';
import { ApiFailure } from '../../shared/protocol/api.ts';
import { packBulk, unpackBulk } from '../../shared/protocol/codec.ts';
import { MAX_ARTIFACT_BYTES, UPLOAD_PART_BYTES } from '../../shared/protocol/limits.ts';
import { uploadedAgentBlob, uploadPartBlob } from '../../shared/protocol/subjects.ts';
import type { BlobStore } from '../../shared/transport/transport.ts';
import { callApi, submitAndFollow, withClient } from '../cluster-cli.ts';
import type { ExtractFlags, PreparedExtract } from './cli.ts';

// ---- the coordinator's side ----------------------------------------------------

export interface UploadReply { upload: string; index: number; part: number; complete: boolean; bytes?: number }

export async function storeUploadPart(blobs: BlobStore, p: UploadPart): Promise<UploadReply> {
  await blobs.put(uploadPartBlob(p.upload, p.index, p.part), p.data);
  if (p.part < p.parts - 1) return { upload: p.upload, index: p.index, part: p.part, complete: false };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let k = 0; k < p.parts; k++) {
    const c = k === p.part ? p.data : await blobs.get(uploadPartBlob(p.upload, p.index, k));
    if (c === null) throw new ApiFailure('bad_request', `upload ${p.upload}: part ${k} of agent ${p.index} never arrived; send the agent again`, 'part');
    size += c.byteLength;
    if (size > MAX_ARTIFACT_BYTES) throw new ApiFailure('bad_request', `upload ${p.upload}: agent ${p.index} exceeds the artifact limit of ${MAX_ARTIFACT_BYTES} bytes`, 'parts');
    chunks.push(c);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  try {
    checkExternalArtifact(unpackBulk(bytes, undefined, `agent ${p.index}`), p.experiment);
  } catch (e) {
    if (e instanceof ExternalAgentError) throw new ApiFailure('bad_request', `upload ${p.upload}: agent ${p.index}: ${e.message}`, e.field);
    throw new ApiFailure('bad_request', `upload ${p.upload}: agent ${p.index} is not a packed agent: ${(e as Error).message}`, 'data');
  }
  await blobs.put(uploadedAgentBlob(p.upload, p.index), bytes);
  for (let k = 0; k < p.parts; k++) await blobs.delete(uploadPartBlob(p.upload, p.index, k));
  return { upload: p.upload, index: p.index, part: p.part, complete: true, bytes: size };
}

// ---- the client's side -------------------------------------------------------------

/** Send one packed agent in parts; the reply to the last part says the coordinator assembled and checked it. */
export async function uploadAgent(nc: NatsConnection, upload: string, experiment: 'mountaincar' | 'reacher', index: number, bytes: Uint8Array,
  timeoutMs: number): Promise<UploadReply> {
  const parts = Math.max(1, Math.ceil(bytes.byteLength / UPLOAD_PART_BYTES));
  let last: UploadReply | undefined;
  for (let part = 0; part < parts; part++) {
    const data = Buffer.from(bytes.subarray(part * UPLOAD_PART_BYTES, Math.min(bytes.byteLength, (part + 1) * UPLOAD_PART_BYTES))).toString('base64');
    last = await callApi<UploadReply>(nc, 'upload', { upload, experiment, index, part, parts, data }, timeoutMs);
  }
  if (!last?.complete) throw new Error(`upload ${upload}: agent ${index} was not assembled by the coordinator`);
  return last;
}

export function newUploadId(): string {
  return `x-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export async function submitExtract(prepared: PreparedExtract, flags: ExtractFlags): Promise<number> {
  const upload = newUploadId();
  const experiment = prepared.spec.experiment as 'mountaincar' | 'reacher';
  const spec: JobSpec = { experiment, options: { ...prepared.spec.options, upload } };
  return withClient(flags, async (n) => {
    for (const a of prepared.agents) {
      const r = await uploadAgent(n.nc, upload, experiment, a.artifact.shardIndex, packBulk(a.artifact), Number(flags.timeoutMs));
      process.stderr.write(`uploaded ${a.artifact.label} (${r.bytes} bytes)\n`);
    }
    return submitAndFollow(n, spec, flags, (r) => ({ ...r, imported: prepared.imported }));
  });
}
