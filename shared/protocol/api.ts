// The coordinator's public request/reply API: JSON bodies on `plearn.api.<op>`,
// validated here so every edge (NATS service, in-process calls, tests) rejects the
// same bad input with the same message. Replies are `{...}` or `{error: {...}}`.
//
// A submission is judged whole before the coordinator plans it: every option's
// range, the layout's size, and the work and artifact sizes the job implies,
// estimated from the spec alone (see limits.ts), so no request can make the
// coordinator build millions of tasks or workers train for a year.

import { LayoutError, stateCount } from '../envs/fourrooms/layout.ts';
import { unseenTasks } from '../envs/continuous-tasks.ts';
import { continuousEnv } from '../experiments/continuous.ts';
import { MAX_EXTERNAL_AGENTS, TRAINING_GOALS, UPLOAD_ID } from '../experiments/continuous-config.ts';
import type { ContinuousConfig } from '../experiments/continuous-config.ts';
import { resolveFourRoomsConfig } from '../experiments/fourrooms-config.ts';
import type { FourRoomsConfig } from '../experiments/fourrooms-config.ts';
import { seriesCheckpoints } from '../experiments/fourrooms.ts';
import type { JobSpec } from '../experiments/jobs.ts';
import { continuousConfigOf, fourRoomsInput, validateSpec } from '../experiments/jobs.ts';
import { ConfigError } from '../util/validate.ts';
import {
  continuousArtifactBytes, LimitError, MAX_ARTIFACT_BYTES, MAX_CLOSED_FIT_WORK_PER_JOB, MAX_ENV_STEPS_PER_JOB, MAX_FIT_SAMPLES_PER_JOB, MAX_FIT_UPDATES_PER_JOB,
  MAX_GOAL_CELLS_TEXT, MAX_LAYOUT_BYTES, MAX_LAYOUT_HEIGHT, MAX_LAYOUT_STATES, MAX_LAYOUT_WIDTH, MAX_OPTION_NAME, MAX_OPTION_STRING,
  MAX_OPTIONS, MAX_ORACLE_WORK_PER_JOB, MAX_QUERY_BYTES, MAX_REQUEST_BYTES, MAX_SWEEP_LAYOUTS, MAX_SWEEP_PAGE, MAX_SWEEP_REQUEST_BYTES,
  MAX_SWEEP_SPEC_BYTES, MAX_TASKS_PER_JOB, MAX_TIMELINE_ENTRIES, MAX_TIMELINE_PAGE, MAX_UPLOAD_PARTS, MAX_UPLOAD_REQUEST_BYTES, MAX_VI_BACKUPS_PER_JOB,
  RESERVED_KEYS, tabularArtifactBytes, UPLOAD_PART_BYTES, viSweeps,
} from './limits.ts';
import type { ApiOp } from './subjects.ts';
import { API_OPS, ID_PATTERN } from './subjects.ts';
import type { JobStatus, SweepStatus } from './records.ts';
import { SWEEP_STATUSES } from './records.ts';

export { MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH, MAX_REQUEST_KEYS } from './limits.ts';

/** Size limit of an `op` request's body; unknown ops get the small one (they fail anyway). */
export function maxRequestBytes(op: string): number {
  return op === 'submit' ? MAX_REQUEST_BYTES : op === 'sweep-submit' ? MAX_SWEEP_REQUEST_BYTES : op === 'upload' ? MAX_UPLOAD_REQUEST_BYTES : MAX_QUERY_BYTES;
}

export type ApiRequest =
  | { op: 'submit'; spec: JobSpec }
  | { op: 'get'; id: string }
  | { op: 'list'; status?: JobStatus; limit: number }
  | { op: 'cancel'; id: string }
  | { op: 'result'; id: string }
  | { op: 'sweep-submit'; sweep: SweepSubmission }
  | { op: 'sweep-get'; id: string; offset: number; limit: number }
  | { op: 'sweep-list'; status?: SweepStatus; limit: number }
  | { op: 'sweep-cancel'; id: string }
  | { op: 'timeline'; id: string; offset: number; limit: number }
  | { op: 'upload'; upload: UploadPart };

/**
 * One part of an agent a client uploads for `plearn extract --submit`: agent
 * `index` of upload `upload` is `parts` parts of packed bytes, sent in order.
 */
export interface UploadPart {
  readonly upload: string;
  readonly experiment: 'mountaincar' | 'reacher';
  readonly index: number;
  readonly part: number;
  readonly parts: number;
  readonly data: Uint8Array;
}

/** A sweep as a client sends it: the spec file's text, and the layout files its cells name (path → text). */
export interface SweepSubmission {
  readonly text: string;
  /** The spec's file name, used in error messages. */
  readonly source: string;
  readonly layouts: Readonly<Record<string, string>>;
  readonly maxActiveCells: number;
}

/** `not_active`: a standby coordinator was asked to write (submit, cancel); the CLI retries until the active one answers. */
export type ErrorCode = 'bad_request' | 'not_found' | 'conflict' | 'not_ready' | 'not_active' | 'internal';

export interface ApiError { error: { code: ErrorCode; message: string; field?: string } }

export class ApiFailure extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'ApiFailure';
  }
}

const STATUSES: readonly JobStatus[] = ['running', 'fitting', 'completed', 'failed', 'cancelled'];

/** Top-level fields of each op's body: anything else is a client bug worth reporting, not ignoring. */
const BODY_FIELDS: Record<ApiOp, readonly string[]> = {
  submit: ['experiment', 'options'], get: ['id'], cancel: ['id'], result: ['id'], list: ['status', 'limit'],
  'sweep-submit': ['text', 'source', 'layouts', 'maxActiveCells'], 'sweep-get': ['id', 'offset', 'limit'], 'sweep-list': ['status', 'limit'],
  'sweep-cancel': ['id'], timeline: ['id', 'offset', 'limit'], upload: ['upload', 'experiment', 'index', 'part', 'parts', 'data'],
};

/** Echo of client input inside an error message: short, so a reply never grows with the request. */
function preview(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) return typeof v;
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function bad(message: string, field?: string): never {
  throw new ApiFailure('bad_request', message, field);
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Refuse prototype-reaching keys at any depth (the body is at most MAX_REQUEST_DEPTH deep, so recursion is safe). */
function rejectReservedKeys(v: unknown, path: string): void {
  if (typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => rejectReservedKeys(x, `${path}[${i}]`));
    return;
  }
  for (const k of Object.keys(v)) {
    const at = path ? `${path}.${k}` : k;
    if (RESERVED_KEYS.includes(k)) bad(`${at}: the key ${JSON.stringify(k)} is not allowed in requests`, at);
    rejectReservedKeys((v as Record<string, unknown>)[k], at);
  }
}

function idOf(b: Record<string, unknown>): string {
  if (typeof b.id !== 'string' || !ID_PATTERN.test(b.id)) bad(`id: expected a job id (1–64 of A–Z a–z 0–9 _ -), got ${preview(b.id)}`, 'id');
  return b.id;
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const utf8 = new TextEncoder();

/** Sizes of the options themselves, before any of them is interpreted. */
function checkOptionShapes(b: Record<string, unknown>): void {
  if (b.experiment !== undefined && (typeof b.experiment !== 'string' || b.experiment.length > 64)) {
    bad(`experiment: expected one of fourrooms, mountaincar, reacher, got ${preview(b.experiment)}`, 'experiment');
  }
  const options = b.options;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return; // validateSpec names it
  const entries = Object.entries(options);
  if (entries.length > MAX_OPTIONS) bad(`options: ${entries.length} options exceed the limit of ${MAX_OPTIONS}`, 'options');
  for (const [k, v] of entries) {
    if (k.length > MAX_OPTION_NAME) bad(`options: an option name of ${k.length} characters exceeds ${MAX_OPTION_NAME}`, 'options');
    if (typeof v !== 'string') continue;
    const max = k === 'layoutText' ? MAX_LAYOUT_BYTES : k === 'goalCells' ? MAX_GOAL_CELLS_TEXT : MAX_OPTION_STRING;
    const size = k === 'layoutText' ? utf8.encode(v).length : v.length;
    if (size > max) {
      // Layout failures are reported under the request field, as LayoutError's are; the rest under their flag names.
      const field = k === 'layoutText' ? k : kebab(k);
      const unit = k === 'layoutText' ? 'bytes' : 'characters';
      bad(`${field}: ${size} ${unit} exceeds the limit of ${max} (allowed: [0, ${max}])`, field);
    }
  }
}

function cap(field: string, what: string, value: number, max: number, hint: string): void {
  if (value > max) {
    throw new LimitError(field, `${what} = ${value.toExponential(2)} exceeds the limit of ${max.toExponential(0)} per job (allowed: [0, ${max.toExponential(0)}]); ${hint}`);
  }
}

function checkFourRoomsWork(config: FourRoomsConfig, nStates: number): void {
  const nActions = 4;
  const goals = 'count' in config.goals ? config.goals.count : config.goals.cells.length;
  const k = config.goalsPerAgent ?? goals;
  const tasks = config.seeds * Math.ceil(goals / k);
  cap('goals-per-agent', `seeds × ⌈goals / goals-per-agent⌉ = ${config.seeds} × ${Math.ceil(goals / k)} agent tasks`, tasks,
    MAX_TASKS_PER_JOB, 'use larger shards or fewer seeds');
  if (config.agent === 'qlearning') {
    cap('steps', `${tasks} agent tasks × ${config.qlearning.steps} steps`, tasks * config.qlearning.steps, MAX_ENV_STEPS_PER_JOB,
      'lower --steps, --goals or --seeds');
  } else {
    cap('goals', `${config.seeds} seeds × ${goals} goals × ${nStates}³ (oracle solves)`, config.seeds * goals * nStates ** 3,
      MAX_ORACLE_WORK_PER_JOB, 'lower --goals or --seeds, or use a smaller layout');
  }
  if (config.model === 'stochastic' && config.fit === 'iterative') {
    cap('fit-steps', `${config.seeds} seeds × ${config.fitSteps} fit steps`, config.seeds * config.fitSteps, MAX_FIT_UPDATES_PER_JOB,
      'lower --fit-steps or --seeds');
  }
  if (config.model === 'stochastic' && config.fit === 'closed' && config.support === 'full') {
    cap('support', `${config.seeds} seeds × SVD of ${goals}×${nStates}`, config.seeds * goals * nStates * Math.min(goals, nStates),
      MAX_CLOSED_FIT_WORK_PER_JOB, 'use --support local, fewer goals or fewer seeds');
  }
  const checkpoints = config.agent === 'qlearning' ? seriesCheckpoints(config.qlearning.steps).length : 0;
  const artifact = tabularArtifactBytes(k, nStates, nActions, checkpoints);
  if (artifact > MAX_ARTIFACT_BYTES) {
    throw new LimitError('goals-per-agent', `each agent's artifact would be ~${artifact} bytes (${k} goals × ${nStates} states), over the `
      + `artifact limit of ${MAX_ARTIFACT_BYTES} bytes; use smaller shards`);
  }
}

function checkContinuousWork(config: ContinuousConfig): void {
  const env = continuousEnv(config.experiment);
  const cells = config.grid ** env.stateDim;
  const k = config.goalsPerAgent ?? TRAINING_GOALS;
  const solves = TRAINING_GOALS + config.seeds * unseenTasks(config.experiment).length;
  const sweeps = viSweeps(config.viTol, config.gamma, config.viMaxIters);
  cap('grid', `${cells} grid cells × ${env.nActions} actions × ${sweeps} sweeps × ${solves} solves (VI backups)`,
    cells * env.nActions * sweeps * solves, MAX_VI_BACKUPS_PER_JOB, 'lower --grid, --vi-max-iters or --seeds');
  const fits = config.seeds * (config.track ?? 1);
  cap('fit-steps', `${fits} fits × ${config.fitSteps} fit steps × ${config.fitBatch} batch (fit samples)`,
    fits * config.fitSteps * config.fitBatch, MAX_FIT_SAMPLES_PER_JOB, 'lower --fit-steps, --fit-batch, --seeds or --track');
  if (config.pqn !== null && config.track !== undefined) {
    // Each agent's artifact carries its checkpoints' weights (float32 on the wire, as its final ones).
    const widths = [config.pqn.obsDims.length + config.pqn.goalDims.length, ...config.pqn.hidden, env.nActions];
    let params = 0;
    for (let i = 1; i < widths.length; i++) params += widths[i - 1] * widths[i] + widths[i];
    const bytes = params * 4 * config.track;
    if (bytes > MAX_ARTIFACT_BYTES) {
      throw new LimitError('track', `each agent's artifact would hold ${config.track} × ${params} weights (~${bytes} bytes), over the artifact limit `
        + `of ${MAX_ARTIFACT_BYTES} bytes; lower --track`);
    }
  }
  const artifact = continuousArtifactBytes(k, cells, env.nActions);
  if (artifact > MAX_ARTIFACT_BYTES) {
    throw new LimitError('goals-per-agent', `each agent's Q tables would be ~${artifact} bytes (${k} goals × ${cells} cells × ${env.nActions} actions), `
      + `over the artifact limit of ${MAX_ARTIFACT_BYTES} bytes; use --goals-per-agent 1 or a smaller --grid`);
  }
}

/** Resolve the spec as the coordinator will, and refuse what would be too large to plan, run or store. */
function checkJob(spec: JobSpec): void {
  if (spec.experiment === 'fourrooms') {
    const { config, layout } = resolveFourRoomsConfig(fourRoomsInput(spec));
    if (layout.width > MAX_LAYOUT_WIDTH || layout.height > MAX_LAYOUT_HEIGHT) {
      throw new LimitError('layoutText', `the map is ${layout.width}×${layout.height} cells; allowed width [1, ${MAX_LAYOUT_WIDTH}], `
        + `height [1, ${MAX_LAYOUT_HEIGHT}]`);
    }
    const nStates = stateCount(layout);
    if (nStates > MAX_LAYOUT_STATES) {
      throw new LimitError('layoutText', `the map has ${nStates} free cells (states); allowed: [1, ${MAX_LAYOUT_STATES}]`);
    }
    checkFourRoomsWork(config, nStates);
  } else {
    checkContinuousWork(continuousConfigOf(spec));
  }
}

/**
 * A job spec as a submission would be judged (validated, then sized): also how a
 * worker checks a spec it reads back from the state store before fitting it.
 */
export function checkedJobSpec(raw: unknown): JobSpec {
  const spec = validateSpec(raw);
  checkJob(spec);
  return spec;
}

/** Validate a decoded request body for `op`; throws ApiFailure('bad_request') naming the field. */
export function parseRequest(op: string, body: unknown): ApiRequest {
  if (!(API_OPS as readonly string[]).includes(op)) bad(`unknown operation ${preview(op)}; available: ${API_OPS.join(', ')}`);
  const b = objectBody(body);
  rejectReservedKeys(b, '');
  const allowed = BODY_FIELDS[op as ApiOp];
  for (const k of Object.keys(b)) {
    if (!allowed.includes(k)) bad(`unknown field ${preview(k)} in a ${op} request; allowed: ${allowed.join(', ')}`, k.slice(0, 64));
  }
  switch (op as ApiOp) {
    case 'submit':
      checkOptionShapes(b);
      try {
        const spec = validateSpec(b);
        checkJob(spec);
        return { op: 'submit', spec };
      } catch (e) {
        if (e instanceof ConfigError || e instanceof LimitError) bad(e.message, e.field);
        if (e instanceof LayoutError) bad(e.message, 'layoutText');
        throw e;
      }
    case 'get': return { op: 'get', id: idOf(b) };
    case 'cancel': return { op: 'cancel', id: idOf(b) };
    case 'result': return { op: 'result', id: idOf(b) };
    case 'sweep-submit': return { op: 'sweep-submit', sweep: sweepSubmission(b) };
    case 'sweep-get':
      return { op: 'sweep-get', id: idOf(b), offset: intField(b, 'offset', 0, 0, 1e6), limit: intField(b, 'limit', 100, 1, MAX_SWEEP_PAGE) };
    case 'sweep-cancel': return { op: 'sweep-cancel', id: idOf(b) };
    case 'timeline':
      return { op: 'timeline', id: idOf(b), offset: intField(b, 'offset', 0, 0, MAX_TIMELINE_ENTRIES), limit: intField(b, 'limit', MAX_TIMELINE_PAGE, 1, MAX_TIMELINE_PAGE) };
    case 'sweep-list': return { op: 'sweep-list', status: statusField(b, SWEEP_STATUSES), limit: intField(b, 'limit', 100, 1, 1000) };
    case 'list': return { op: 'list', status: statusField(b, STATUSES), limit: intField(b, 'limit', 100, 1, 1000) };
    case 'upload': return { op: 'upload', upload: uploadPart(b) };
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function uploadPart(b: Record<string, unknown>): UploadPart {
  if (typeof b.upload !== 'string' || !UPLOAD_ID.test(b.upload)) bad(`upload: expected an upload id of 8–64 characters [a-z0-9-], got ${preview(b.upload)}`, 'upload');
  if (b.experiment !== 'mountaincar' && b.experiment !== 'reacher') bad(`experiment: expected mountaincar or reacher, got ${preview(b.experiment)}`, 'experiment');
  const index = intField(b, 'index', -1, 0, MAX_EXTERNAL_AGENTS - 1);
  const parts = intField(b, 'parts', -1, 1, MAX_UPLOAD_PARTS);
  const part = intField(b, 'part', -1, 0, parts - 1);
  if (typeof b.data !== 'string' || b.data.length % 4 !== 0 || !BASE64.test(b.data)) bad('data: expected the part\'s bytes in base64', 'data');
  const data = new Uint8Array(Buffer.from(b.data, 'base64'));
  if (data.byteLength === 0 || data.byteLength > UPLOAD_PART_BYTES) bad(`data: ${data.byteLength} bytes; a part holds [1, ${UPLOAD_PART_BYTES}]`, 'data');
  return { upload: b.upload, experiment: b.experiment, index, part, parts, data };
}

/** An optional `status` filter: one of `allowed`, or undefined when absent. */
function statusField<S extends string>(b: Record<string, unknown>, allowed: readonly S[]): S | undefined {
  if (b.status === undefined) return undefined;
  if (typeof b.status !== 'string' || !(allowed as readonly string[]).includes(b.status)) {
    bad(`status: expected one of ${allowed.join(', ')}, got ${preview(b.status)}`, 'status');
  }
  return b.status as S;
}

function intField(b: Record<string, unknown>, field: string, fallback: number, min: number, max: number): number {
  const v = b[field] === undefined ? fallback : b[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${field}: expected an integer in [${min}, ${max}], got ${preview(v)}`, field);
  return v;
}

/** The shape and sizes of a sweep submission; its spec is parsed and judged by the coordinator (every cell as a job). */
function sweepSubmission(b: Record<string, unknown>): SweepSubmission {
  if (typeof b.text !== 'string' || b.text.length === 0) bad(`text: expected the sweep spec's text, got ${preview(b.text)}`, 'text');
  const size = utf8.encode(b.text).length;
  if (size > MAX_SWEEP_SPEC_BYTES) bad(`text: ${size} bytes exceeds the limit of ${MAX_SWEEP_SPEC_BYTES} bytes for a sweep spec`, 'text');
  const source = b.source === undefined ? 'sweep' : b.source;
  if (typeof source !== 'string' || source.length > MAX_OPTION_STRING) bad(`source: expected a file name of at most ${MAX_OPTION_STRING} characters`, 'source');
  const layouts: Record<string, string> = {};
  if (b.layouts !== undefined) {
    if (typeof b.layouts !== 'object' || b.layouts === null || Array.isArray(b.layouts)) bad('layouts: expected an object {path: layout text}', 'layouts');
    const entries = Object.entries(b.layouts);
    if (entries.length > MAX_SWEEP_LAYOUTS) bad(`layouts: ${entries.length} layout files exceed the limit of ${MAX_SWEEP_LAYOUTS}`, 'layouts');
    for (const [path, text] of entries) {
      if (path.length > MAX_OPTION_STRING || typeof text !== 'string' || utf8.encode(text).length > MAX_LAYOUT_BYTES) {
        bad(`layouts: each entry must be a path of at most ${MAX_OPTION_STRING} characters and a layout of at most ${MAX_LAYOUT_BYTES} bytes`, 'layouts');
      }
      layouts[path] = text;
    }
  }
  return { text: b.text, source, layouts, maxActiveCells: intField(b, 'maxActiveCells', 4, 1, 1024) };
}

/** Longest message and field name in an error reply: validators quote input, and a reply must not grow with it. */
const MAX_ERROR_MESSAGE = 1000;
const MAX_ERROR_FIELD = 100;

function reply(code: ErrorCode, message: string, field?: string): ApiError {
  const m = message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message;
  return { error: { code, message: m, ...(field ? { field: field.slice(0, MAX_ERROR_FIELD) } : {}) } };
}

export function errorBody(e: unknown): ApiError {
  if (e instanceof ApiFailure) return reply(e.code, e.message, e.field);
  if (e instanceof ConfigError || e instanceof LimitError) return reply('bad_request', e.message, e.field);
  if (e instanceof LayoutError) return reply('bad_request', e.message, 'layoutText');
  if (e instanceof SyntaxError) return reply('bad_request', `malformed JSON: ${e.message}`);
  return reply('internal', e instanceof Error ? e.message : String(e));
}
