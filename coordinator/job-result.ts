// A finished job's result document: every fit unit's output and every agent task's
// timing, read back from the store and assembled as `plearn run` assembles it, then
// stored as the job's result blob.

import { assembleResult } from '../shared/experiments/jobs.ts';
import type { JobPlan, JobResult } from '../shared/experiments/jobs.ts';
import { decodeJson, encodeJson, unpackBulk } from '../shared/protocol/codec.ts';
import type { TaskRecord } from '../shared/protocol/records.ts';
import { fitBlob, resultBlob, taskKey } from '../shared/protocol/subjects.ts';
import type { FitOutput } from '../shared/tasks/task.ts';
import type { Transport } from '../shared/transport/transport.ts';

export interface ResultSource {
  transport: Transport;
  jobId: string;
  plan: JobPlan;
  createdAt: string;
  threads: number;
  /** Store operations go through the coordinator's retry. */
  io: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** Assemble and store the result; returns the job's wall time in ms. */
export async function storeJobResult(o: ResultSource): Promise<number> {
  const { transport: t, jobId: id, plan, io } = o;
  const outputs: FitOutput[] = [];
  for (const f of plan.fits) {
    const bytes = await io(() => t.blobs.get(fitBlob(id, f.fitId)));
    if (!bytes) throw new Error(`fit output ${f.fitId} is missing from the store`);
    outputs.push(unpackBulk(bytes) as FitOutput);
  }
  const records = await io(() => t.state.entries(`task.${id}`));
  const timings = plan.tasks.map((task) => {
    const e = records.get(taskKey(id, task.taskId));
    return { wallMs: e ? ((decodeJson(e.value) as TaskRecord).wallMs ?? 0) : 0 };
  });
  const wallMs = Date.now() - Date.parse(o.createdAt);
  const result: JobResult = assembleResult(plan, outputs, timings, { wallMs, threads: o.threads });
  await io(() => t.blobs.put(resultBlob(id), encodeJson(result)));
  return wallMs;
}
