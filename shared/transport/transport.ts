// The four things the coordinator and workers need from a message system, as small
// interfaces with no I/O of their own. `in-process.ts` implements them in memory
// for `plearn run`; the NATS JetStream implementation lives with the services
// (coordinator/nats/), so the job logic above them is the same code in both modes.

/** One task handed to a worker. It holds the task until ack, nak, term, or its lease runs out. */
export interface Delivery {
  readonly jobId: string;
  readonly taskId: string;
  readonly data: Uint8Array;
  /** 1 on the first delivery, then counts redeliveries (after a nak, a lost worker, an expired lease). */
  readonly deliveryCount: number;
  /** Extend the lease while the task is still being worked on (JetStream in-progress ack). */
  working(): void;
  /** Done: never deliver again. Resolves once the queue has recorded it. */
  ack(): Promise<void>;
  /** Give it back for redelivery, to any worker, after `delayMs`. Counts as a delivery spent. */
  nak(delayMs?: number): void;
  /**
   * Give it back without spending a delivery (a draining worker: the task did not
   * fail). Resolves true once a fresh copy is queued and this one is off the queue;
   * false when that was not possible and it was nak'ed instead.
   */
  handBack(): Promise<boolean>;
  /** Poison: never deliver again, whatever the delivery count. */
  term(reason: string): void;
}

/** Dead-letter reasons: a queue's when deliveries ran out; the prefix of a worker's refusal (term); the coordinator's when that notice was lost. */
export const MAX_DELIVERIES_REASON = 'max deliveries';
export const MALFORMED_REASON = 'malformed task';
export const LOST_NOTICE = 'max deliveries (advisory lost)';

/**
 * How long a worker waits before a failed task is offered again (its nak delay): it
 * doubles from 0.5 s, capped at 30 s. After the last delivery, the queue reports the
 * dead letter only once this delay has passed, so the coordinator's rule for a lost
 * notice waits for it too.
 */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(30_000, 500 * 2 ** (Math.max(1, deliveryCount) - 1));
}

/** A task that ran out of deliveries, as the queue reports it once. */
export interface DeadLetter {
  readonly jobId: string;
  readonly taskId: string;
  readonly data: Uint8Array;
  readonly deliveries: number;
  /** Why it was dead-lettered, where the queue knows: "max deliveries", "malformed task: …", an abandon's reason. */
  readonly reason?: string;
}

export interface TaskQueue {
  /** Lease of a delivery in ms: a worker that neither acks nor calls working() within it loses the task. */
  readonly leaseMs: number;
  /** Deliveries after which a task is dead-lettered instead of redelivered. */
  readonly maxDeliveries: number;
  /** Add a task. Idempotent per (jobId, taskId) while it is queued. */
  enqueue(jobId: string, taskId: string, data: Uint8Array): Promise<void>;
  /** Drop every queued (not yet delivered) task of a job; returns how many. */
  purge(jobId: string): Promise<number>;
  /** The next task, or null when none arrived within `waitMs` or `signal` was aborted first (a worker draining). */
  next(waitMs: number, signal?: AbortSignal): Promise<Delivery | null>;
  /** Be told (once per task) about tasks that exhausted their deliveries. */
  onDeadLetter(handler: (letter: DeadLetter) => void): () => void;
  /**
   * Dead-letter a task that will never be delivered again but whose dead letter
   * never came (the coordinator's rule for a lost max-deliveries notice): off the
   * queue, into the dead letters with `reason`, and to the onDeadLetter handlers
   * as any letter. True when the task was still queued.
   */
  abandon(jobId: string, taskId: string, deliveries: number, reason: string): Promise<boolean>;
}

export interface StoredValue {
  readonly value: Uint8Array;
  readonly revision: number;
}

/** Durable key-value state (JetStream KV). Keys are dot-separated tokens of [-_=a-zA-Z0-9]. */
export interface StateStore {
  get(key: string): Promise<StoredValue | null>;
  put(key: string, value: Uint8Array): Promise<number>;
  /** Write only if the key does not exist; null when it does. */
  create(key: string, value: Uint8Array): Promise<number | null>;
  /** Write only if the key is still at `revision`; null when someone else wrote first. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | null>;
  delete(key: string): Promise<void>;
  /** Keys under `prefix` (its own tokens, then anything below). */
  keys(prefix: string): Promise<string[]>;
  /** Every key under `prefix` with its value, read in one pass (not one request per key). */
  entries(prefix: string): Promise<Map<string, StoredValue>>;
}

/** Large immutable blobs (JetStream Object Store): artifacts, world models, results. */
export interface BlobStore {
  put(name: string, data: Uint8Array): Promise<{ size: number }>;
  get(name: string): Promise<Uint8Array | null>;
  delete(name: string): Promise<void>;
}

/** Fire-and-forget events (core NATS subjects): progress, job lifecycle. Lost when no one listens. */
export interface EventBus {
  publish(subject: string, data: Uint8Array): void;
  /** `*` matches one token, a trailing `>` one or more, as in NATS. */
  subscribe(subject: string, handler: (subject: string, data: Uint8Array) => void): () => void;
}

export interface Transport {
  readonly queue: TaskQueue;
  readonly state: StateStore;
  readonly blobs: BlobStore;
  readonly events: EventBus;
  /** A short description for logs ("in-process", "nats://host:4222"). */
  readonly describe: string;
  close(): Promise<void>;
}

/** NATS-style subject matching, shared by the in-process bus and tests. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
