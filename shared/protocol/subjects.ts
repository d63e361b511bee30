// Every NATS name plearn uses, in one place (docs/cluster.md#protocol lists them).

export const TASK_STREAM = 'PLEARN_TASKS';
export const DLQ_STREAM = 'PLEARN_DLQ';
export const WORKER_CONSUMER = 'plearn-workers';
export const STATE_BUCKET = 'plearn-state';
export const ARTIFACT_BUCKET = 'plearn-artifacts';

export const COORDINATOR_SERVICE = 'plearn-coordinator';
export const WORKER_SERVICE = 'plearn-worker';

export const taskSubject = (jobId: string, taskId: string) => `plearn.task.${jobId}.${taskId}`;
export const dlqSubject = (jobId: string, taskId: string) => `plearn.dlq.${jobId}.${taskId}`;
export const eventSubject = (jobId: string) => `plearn.events.${jobId}`;
export const ALL_EVENTS = 'plearn.events.*';
/** Told to workers when a job is cancelled (empty body), so its running tasks stop at once. */
export const cancelSubject = (jobId: string) => `plearn.cancel.${jobId}`;
export const ALL_CANCELS = 'plearn.cancel.*';
export const apiSubject = (op: ApiOp) => `plearn.api.${op}`;
export const workerStatusSubject = (workerId: string) => `plearn.worker.${workerId}.status`;

export const API_OPS = ['submit', 'get', 'list', 'cancel', 'result', 'sweep-submit', 'sweep-get', 'sweep-list', 'sweep-cancel', 'timeline', 'upload'] as const;
export type ApiOp = typeof API_OPS[number];

/** State keys: one record per job, per agent task and per fit unit. */
export const jobKey = (jobId: string) => `job.${jobId}`;
export const taskKey = (jobId: string, taskId: string) => `task.${jobId}.${taskId}`;
export const fitKey = (jobId: string, fitId: string) => `fit.${jobId}.${fitId}`;
/** Sweeps: one record per sweep, one per cell of it (its job), and one per cell id across sweeps (the job that computes it). */
export const sweepKey = (sweepId: string) => `sweep.${sweepId}`;
export const sweepCellKey = (sweepId: string, cellId: string) => `sweepcell.${sweepId}.${cellId}`;
export const cellKey = (cellId: string) => `cell.${cellId}`;
/** The coordinators' leader lease: which replica is active, and its epoch. */
export const LEADER_KEY = 'leader';
/** A fit unit's id, which is also its task id when a worker runs it. */
export const fitTaskId = (index: number) => `fit-${index}`;

/** Blob names. */
export const artifactBlob = (jobId: string, taskId: string) => `artifact/${jobId}/${taskId}`;
export const fitBlob = (jobId: string, fitId: string) => `fit/${jobId}/${fitId}`;
/** `plearn extract --submit`: part `part` of agent `index` of an upload, and the agent once all its parts are in. */
export const uploadPartBlob = (upload: string, index: number, part: number) => `upload/${upload}/${index}/${part}`;
export const uploadedAgentBlob = (upload: string, index: number) => `upload/${upload}/agent-${index}`;
export const resultBlob = (jobId: string) => `result/${jobId}.json`;
/** A sweep's source as submitted: its spec text and the layouts it names. */
export const sweepBlob = (sweepId: string) => `sweep/${sweepId}.json`;

/** Ids are single subject tokens: letters, digits, `-` and `_`. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
