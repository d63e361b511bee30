// One fit unit of a job — read its agents' artifacts from the blob store, run the
// fit in a pool thread, store the fitted model and its record — wherever it runs:
// in the coordinator's own pool, or on a worker that took it from the queue as a
// task. "Centralized" P-learning keeps its meaning either way: one fit per unit
// over all of that unit's agents; only the process running it changes.

import type { JobSpec } from '../shared/experiments/jobs.ts';
import { fitTaskFor, planJob } from '../shared/experiments/jobs.ts';
import { encodeJson, packBulk, unpackBulk } from '../shared/protocol/codec.ts';
import { checkArtifactSize } from '../shared/protocol/limits.ts';
import type { FitRecord } from '../shared/protocol/records.ts';
import { nowIso } from '../shared/protocol/records.ts';
import { artifactBlob, fitBlob, fitKey } from '../shared/protocol/subjects.ts';
import type { AgentArtifact } from '../shared/tasks/task.ts';
import type { Transport } from '../shared/transport/transport.ts';
import { inParallel } from '../shared/util/in-parallel.ts';
import type { TaskPool } from './local-pool.ts';

export interface FitUnitInput {
  readonly transport: Transport;
  readonly pool: TaskPool;
  readonly jobId: string;
  readonly spec: JobSpec;
  /** Position of the unit in the job's plan. */
  readonly index: number;
  /** Wraps each store call (the coordinator retries through server restarts). */
  readonly io?: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly progress?: (done: number, total: number) => void;
  /** Stops the fit (a worker's task deadline). */
  readonly signal?: AbortSignal;
  /** Who runs it, for the fit's record: a worker id, or "coordinator". */
  readonly by?: string;
  /** Told the time and size of each artifact read and of the output stored (metrics). */
  readonly observe?: { read?(seconds: number, bytes: number): void; stored?(seconds: number, bytes: number): void };
}

export interface FitUnitDone { readonly fitId: string; readonly bytes: number; readonly wallMs: number; readonly startedAt: string; readonly finishedAt: string }

const direct = <T>(fn: () => Promise<T>) => fn();
const READS_IN_FLIGHT = 8;

/** Run fit unit `index` of the job and store its output and record; throws if an artifact is missing or oversized. */
export async function runFitUnit(o: FitUnitInput): Promise<FitUnitDone> {
  const io = o.io ?? direct;
  const plan = planJob(o.spec);
  const unit = plan.fits[o.index];
  if (unit === undefined) throw new Error(`the job plans ${plan.fits.length} fit(s); there is no fit ${o.index}`);
  const t0 = performance.now();
  // A few reads in flight at once: each is a round trip (and an ordered consumer on
  // the server), so a fit over thousands of agents read one by one waited a minute.
  // Agents trained here (their tasks' artifacts), then agents a client uploaded (`plearn extract --submit`).
  const sources = [...unit.needs.map((taskId) => ({ blob: artifactBlob(o.jobId, taskId), what: `artifact of task ${taskId}` })),
    ...(unit.imports ?? []).map((blob) => ({ blob, what: `uploaded agent ${blob}` }))];
  const artifacts: AgentArtifact[] = new Array(sources.length);
  await inParallel(sources, READS_IN_FLIGHT, async ({ blob, what }, i) => {
    const r0 = performance.now();
    const bytes = await io(() => o.transport.blobs.get(blob));
    if (!bytes) throw new Error(`${what} is missing from the store`);
    o.observe?.read?.((performance.now() - r0) / 1000, bytes.byteLength);
    // A store the process does not control could hold anything: bound it before decoding.
    checkArtifactSize(bytes.byteLength, what);
    artifacts[i] = unpackBulk(bytes) as AgentArtifact;
  });
  const startedAt = nowIso();
  const out = await o.pool.run(fitTaskFor(o.spec, plan, o.index, artifacts), o.progress, o.signal);
  const finishedAt = nowIso();
  const bytes = packBulk(out);
  const s0 = performance.now();
  await io(() => o.transport.blobs.put(fitBlob(o.jobId, unit.fitId), bytes));
  o.observe?.stored?.((performance.now() - s0) / 1000, bytes.byteLength);
  const wallMs = performance.now() - t0;
  const rec: FitRecord = {
    status: 'done', bytes: bytes.byteLength, wallMs, startedAt, finishedAt, storedAt: nowIso(), ...(o.by ? { worker: o.by } : {}),
  };
  // The record last: its presence is what says the fit is done.
  await io(() => o.transport.state.put(fitKey(o.jobId, unit.fitId), encodeJson(rec)));
  return { fitId: unit.fitId, bytes: bytes.byteLength, wallMs, startedAt, finishedAt };
}
