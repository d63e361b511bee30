// The coordinator's side of `plearn extract --submit`: agents arrive in parts
// through the job API (the submitter role may not write to the object store),
// each part is stored as it comes, and the last part of an agent assembles it,
// checks it as a fit would, and stores it where the job's fits will read it.

import { checkExternalArtifact, ExternalAgentError } from '../../shared/agents/external-check.ts';
import type { UploadPart } from '../../shared/protocol/api.ts';
import { ApiFailure } from '../../shared/protocol/api.ts';
import { unpackBulk } from '../../shared/protocol/codec.ts';
import { MAX_ARTIFACT_BYTES } from '../../shared/protocol/limits.ts';
import { uploadedAgentBlob, uploadPartBlob } from '../../shared/protocol/subjects.ts';
import type { BlobStore } from '../../shared/transport/transport.ts';

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
