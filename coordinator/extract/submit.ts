// `plearn extract --submit`: the agents, already read and probed here, go to the
// cluster in parts through the job API (the submitter's role reaches nothing
// else), then the extraction is submitted as a job whose fits read them.

import { randomBytes } from 'node:crypto';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import { packBulk } from '../../shared/protocol/codec.ts';
import { UPLOAD_PART_BYTES } from '../../shared/protocol/limits.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { callApi, submitAndFollow, withClient } from '../cluster-cli.ts';
import type { PreparedExtract, ExtractFlags } from './cli.ts';
import type { UploadReply } from './uploads.ts';

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
