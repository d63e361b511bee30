// Fencing: what keeps a coordinator that lost its leader lease from writing. Two
// layers. (1) Every write through `guardedTransport` first asks the lease whether
// it still holds (by its own clock): a process frozen past its lease, or cut off
// from its renewals, fails its next write and steps down. (2) The records that
// carry the job state (job, sweep, and the task records the coordinator writes)
// are written by compare-and-set on the revision just read, carrying the writer's
// epoch, and refused when the record already carries a higher one. A new leader
// rewrites every unfinished job and sweep with its epoch when it takes over, so a
// write prepared before the takeover loses its compare-and-set, and one prepared
// after it meets the higher epoch: either way the former leader writes nothing.

import { decodeJson, encodeJson } from '../../shared/protocol/codec.ts';
import type { BlobStore, EventBus, StateStore, TaskQueue, Transport } from '../../shared/transport/transport.ts';

/** What a coordinator asks before it writes. */
export interface Fence {
  /** The leader epoch this process writes under (0: no leader election, one coordinator). */
  readonly epoch: number;
  /** Throws LeadershipLost when this process may no longer write. */
  check(): void;
}

/** The fence of a coordinator with no rivals (`plearn run`, tests): always allowed, epoch 0. */
export const NO_FENCE: Fence = { epoch: 0, check: () => undefined };

/** This coordinator is no longer the active one; whatever it was doing is the new leader's now. */
export class LeadershipLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeadershipLost';
  }
}

/** A record's writer epoch, 0 when it has none (a worker wrote it, or it predates leader election). */
function epochOf(value: Uint8Array): number {
  const e = (decodeJson(value) as { epoch?: unknown }).epoch;
  return typeof e === 'number' && Number.isFinite(e) ? e : 0;
}

const CAS_TRIES = 8;

/**
 * Write `next` (stamped with the fence's epoch) at `key` by compare-and-set on the
 * revision read just before. A record stamped with a higher epoch means another
 * coordinator leads now: LeadershipLost. A lost compare-and-set against the same
 * epoch (our own concurrent write) is retried on the fresh revision.
 */
export async function fencedPut<T extends object>(state: StateStore, key: string, next: T, fence: Fence): Promise<number> {
  for (let i = 0; i < CAS_TRIES; i++) {
    fence.check();
    const cur = await state.get(key);
    if (cur) {
      const theirs = epochOf(cur.value);
      if (theirs > fence.epoch) throw new LeadershipLost(`${key} was written under leader epoch ${theirs}; this coordinator leads epoch ${fence.epoch}`);
    }
    const value = encodeJson({ ...next, epoch: fence.epoch });
    const rev = cur ? await state.update(key, value, cur.revision) : await state.create(key, value);
    if (rev !== null) return rev;
  }
  throw new Error(`${key} changed under each of ${CAS_TRIES} compare-and-set writes`);
}

function guardState(s: StateStore, check: () => void): StateStore {
  return {
    get: (k) => s.get(k),
    keys: (p) => s.keys(p),
    entries: (p) => s.entries(p),
    put: async (k, v) => { check(); return s.put(k, v); },
    create: async (k, v) => { check(); return s.create(k, v); },
    update: async (k, v, r) => { check(); return s.update(k, v, r); },
    delete: async (k) => { check(); return s.delete(k); },
  };
}

function guardBlobs(b: BlobStore, check: () => void): BlobStore {
  return {
    get: (n) => b.get(n),
    put: async (n, d) => { check(); return b.put(n, d); },
    delete: async (n) => { check(); return b.delete(n); },
  };
}

function guardQueue(q: TaskQueue, check: () => void): TaskQueue {
  return {
    get leaseMs() { return q.leaseMs; },
    get maxDeliveries() { return q.maxDeliveries; },
    enqueue: async (j, t, d) => { check(); return q.enqueue(j, t, d); },
    purge: async (j) => { check(); return q.purge(j); },
    abandon: async (j, t, n, r) => { check(); return q.abandon(j, t, n, r); },
    next: (w, sig) => q.next(w, sig),
    onDeadLetter: (h) => q.onDeadLetter(h),
  };
}

function guardEvents(e: EventBus, check: () => void): EventBus {
  return {
    publish: (s, d) => {
      // An event from a former leader would mislead watchers; dropping it is enough (events are advisory).
      try { check(); } catch { return; }
      e.publish(s, d);
    },
    subscribe: (s, h) => e.subscribe(s, h),
  };
}

/** The transport as the active coordinator uses it: every write first checks the fence. Reads pass through. */
export function guardedTransport(t: Transport, fence: Fence): Transport {
  const check = () => fence.check();
  return {
    queue: guardQueue(t.queue, check),
    state: guardState(t.state, check),
    blobs: guardBlobs(t.blobs, check),
    events: guardEvents(t.events, check),
    describe: t.describe,
    close: () => t.close(),
  };
}
