// Every bound plearn puts on untrusted input, in one place. A coordinator and its
// workers may face anyone who can publish on NATS, so each size here is chosen to
// keep one request, task or artifact from exhausting memory or booking days of
// compute, while leaving every documented experiment (and its paper settings)
// well inside. This module imports nothing, so config validators, codecs and
// services can all depend on it without cycles.

/** A limit was exceeded; `field` names what, the message says by how much and the allowed range. */
export class LimitError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'LimitError';
  }
}

// ---- API requests (JSON) ---------------------------------------------------

/** Largest submit body (a layout file is a few kB; nothing legitimate comes near this). */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** Largest body of the other operations (an id, a status, a limit): never worth decoding more. */
export const MAX_QUERY_BYTES = 4 * 1024;
/** Nesting of a request body: real requests are two levels deep ({options: {...}}). */
export const MAX_REQUEST_DEPTH = 16;
/** Object keys in a whole request body: a submit has at most ~20 options. */
export const MAX_REQUEST_KEYS = 256;
/** Options in one submit, and the length of an option's name. */
export const MAX_OPTIONS = 64;
export const MAX_OPTION_NAME = 64;
/** A string option other than the ones below (enum names, numbers written as text, a layout's name or path). */
export const MAX_OPTION_STRING = 1024;
/** `goalCells`: "x,y;" per cell, at most MAX_LAYOUT_STATES cells. */
export const MAX_GOAL_CELLS_TEXT = 16 * 1024;
/** Keys no request may carry anywhere: they reach object prototypes in naive merges. */
export const RESERVED_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

// ---- FourRooms layouts --------------------------------------------------------

/** A layout file's text (the default map is ~0.5 kB). */
export const MAX_LAYOUT_BYTES = 64 * 1024;
export const MAX_LAYOUT_WIDTH = 128;
export const MAX_LAYOUT_HEIGHT = 128;
/** Free cells: the exact kernel is dense, nS·4·nS doubles (32 MiB at 1024 states). */
export const MAX_LAYOUT_STATES = 1024;

// ---- per-option ranges (the config validators' bounds) -------------------

export const FOURROOMS_OPTION_LIMITS = {
  /** Goals of the generic family (sparse goals are bounded by the free cells). */
  goals: 10_000,
  /** Environment steps of one agent. */
  steps: 1_000_000_000,
  seeds: 1000,
  fitSteps: 1_000_000_000,
  episodeLength: 1_000_000,
} as const;

export const CONTINUOUS_OPTION_LIMITS = {
  gridMin: 3,
  /** VI grid points per state dimension: MountainCar is 2-D, Reacher 4-D (60⁴ ≈ 1.3·10⁷ cells). */
  grid: { mountaincar: 2000, reacher: 60 },
  seeds: 100,
  viMaxIters: 1_000_000,
  fitSteps: 10_000_000,
  fitBatch: 65_536,
  evalStates: 1_000_000,
  rollouts: 100_000,
} as const;

// ---- work per job ------------------------------------------------------------
// Estimates from the spec alone, checked before anything is planned, so a request
// cannot make the coordinator allocate millions of tasks just to count them. At
// roughly 10⁷–10⁸ elementary updates per core-second, each cap is about a day of
// one core, or minutes on a cluster: ample for sweeps, far from a year.

/** Agent tasks (goal shards × seeds). */
export const MAX_TASKS_PER_JOB = 100_000;
/** Q-learning environment steps over all agents of a job (tasks × steps). */
export const MAX_ENV_STEPS_PER_JOB = 1e12;
/** Oracle agents: Σ over goal solves of nS³ (policy iteration's direct linear solves). */
export const MAX_ORACLE_WORK_PER_JOB = 1e14;
/** FourRooms iterative fit: sampled updates over all seeds (seeds × fitSteps). */
export const MAX_FIT_UPDATES_PER_JOB = 1e10;
/** FourRooms closed fit on full support: one SVD of M (goals × states) per seed, ≈ G·nS·min(G, nS) each. */
export const MAX_CLOSED_FIT_WORK_PER_JOB = 1e13;
/** Continuous fit: samples over all seeds (seeds × fitSteps × fitBatch). */
export const MAX_FIT_SAMPLES_PER_JOB = 1e10;
/** Continuous VI: state-action backups of every solve (training goals, then each seed's unseen tasks). */
export const MAX_VI_BACKUPS_PER_JOB = 1e13;

// ---- sweeps -------------------------------------------------------------------
// A sweep is a product of axes, so a few short lists can multiply into more jobs
// than anyone meant (ten axes of ten values is 10¹⁰ cells). Each cell is an
// ordinary job under the per-job limits above; these bound the whole sweep, so one
// spec cannot flood the queue or the job store, while the paper's sweeps (42
// architectures × 10 seeds; 3 variants × 10 goal counts × 2 model classes) stay
// orders of magnitude inside.

/** Cells (jobs) in one sweep: the product of its axes' lengths. */
export const MAX_SWEEP_CELLS = 10_000;
/** Agent tasks summed over a sweep's cells (each cell's goal shards × seeds). */
export const MAX_SWEEP_TASKS = 1_000_000;
/** A sweep spec file (the largest shipped one is under 2 kB). */
export const MAX_SWEEP_SPEC_BYTES = 256 * 1024;
/** Layout files a submitted sweep may carry (each at most MAX_LAYOUT_BYTES). */
export const MAX_SWEEP_LAYOUTS = 8;
/** A `sweep-submit` request: the spec and its layouts, inside NATS's default 1 MiB payload. */
export const MAX_SWEEP_REQUEST_BYTES = MAX_SWEEP_SPEC_BYTES + MAX_SWEEP_LAYOUTS * 64 * 1024 + 4096;
/** Cells in one `sweep-get` page. */
export const MAX_SWEEP_PAGE = 1000;
/** Entries one timeline keeps (a sweep's of all its jobs), and one `timeline` page holds. */
export const MAX_TIMELINE_ENTRIES = 200_000;
export const MAX_TIMELINE_PAGE = 2000;

// ---- bulk payloads (msgpack) -------------------------------------------------

/** An agent artifact or fit output (Q tables dominate: Reacher's 31⁴ grid × 9 actions is 33 MB a goal). */
export const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;
/** One task message on the queue (a layout plus ≤ 10⁴ goal specs is < 0.5 MB; NATS's default max_payload is 1 MB). */
export const MAX_TASK_PAYLOAD_BYTES = 1024 * 1024;
/** Nesting of any bulk payload (envelopes and artifacts are < 8 deep). */
export const MAX_BULK_DEPTH = 32;
/** Values outside typed arrays in one artifact or fit output (big data travels as typed arrays). */
export const MAX_BULK_ITEMS = 4_000_000;
/** Values in one task message (≤ 10⁴ goals of 3 values each, plus the config). */
export const MAX_TASK_ITEMS = 100_000;
/** One string in a bulk payload (the longest is a layout's text). */
export const MAX_BULK_STRING_BYTES = 1024 * 1024;

/** Raw bytes of one part of an agent upload (`plearn extract --submit`): base64 in a JSON request under 256 KiB. */
export const UPLOAD_PART_BYTES = 160 * 1024;
/** An upload request: the part in base64 plus its small envelope. */
export const MAX_UPLOAD_REQUEST_BYTES = Math.ceil(UPLOAD_PART_BYTES / 3) * 4 + 1024;
/** Parts of one uploaded agent: as many as the artifact limit needs. */
export const MAX_UPLOAD_PARTS = Math.ceil(MAX_ARTIFACT_BYTES / UPLOAD_PART_BYTES);

/** Throws a LimitError when an artifact of `bytes` bytes must not be stored or loaded; `what` names it. */
export function checkArtifactSize(bytes: number, what: string): void {
  if (!(bytes <= MAX_ARTIFACT_BYTES)) {
    throw new LimitError(what, `${bytes} bytes exceeds the artifact limit of ${MAX_ARTIFACT_BYTES} bytes (allowed: [0, ${MAX_ARTIFACT_BYTES}])`);
  }
}

/**
 * Sweeps value iteration needs to reach `tol` when each sweep contracts the error by
 * `gamma` (from an error of order 1), capped by `maxIters`: the budget of one solve.
 */
export function viSweeps(tol: number, gamma: number, maxIters: number): number {
  if (!(gamma > 0) || !(tol < 1)) return 1;
  return Math.max(1, Math.min(maxIters, Math.ceil(Math.log(tol) / Math.log(gamma))));
}

/** Bytes of a FourRooms agent's artifact: Q and π, a copy of Q per checkpoint, rewards and terminations. */
export function tabularArtifactBytes(goals: number, states: number, actions: number, checkpoints: number): number {
  return 8 * goals * states * actions * (2 + checkpoints) + 9 * goals * states;
}

/** Bytes of a continuous oracle agent's artifact: one float32 Q table per goal over the VI grid. */
export function continuousArtifactBytes(goals: number, cells: number, actions: number): number {
  return 4 * goals * cells * actions;
}
