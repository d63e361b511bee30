// What a timeline says in numbers: its lanes (one per worker slot), wall time,
// how busy the lanes were, the speed-up over running every task on one thread,
// and a critical path — the least time the work could take with unlimited
// workers, given that a fit waits for its agents.

import type { TimelineEntry } from '../../shared/protocol/records.ts';
import type { DispatchStats } from './dispatch.ts';
import { dispatchDelays, dispatchStats } from './dispatch.ts';

export interface Lane { readonly label: string; readonly entries: TimelineEntry[] }

/** A drawn task: it must have run (start and end known). */
export const ran = (e: TimelineEntry): e is TimelineEntry & { startedAt: number; finishedAt: number } =>
  e.startedAt !== undefined && e.finishedAt !== undefined && e.finishedAt >= e.startedAt;

const from = (e: TimelineEntry) => e.claimedAt ?? e.startedAt!;
const to = (e: TimelineEntry) => e.storedAt ?? e.finishedAt!;

/**
 * One lane per worker slot, workers in name order. Entries without a slot (the
 * coordinator's own fits, which share its pool) are packed into as many lanes as
 * overlap needs.
 */
export function lanesOf(entries: readonly TimelineEntry[]): Lane[] {
  const bySlot = new Map<string, TimelineEntry[]>();
  const loose = new Map<string, TimelineEntry[]>();
  for (const e of entries.filter(ran)) {
    const map = e.slot >= 0 ? bySlot : loose;
    const key = e.slot >= 0 ? `${e.worker}\u0000${String(e.slot).padStart(6, '0')}` : e.worker;
    const list = map.get(key);
    if (list) list.push(e);
    else map.set(key, [e]);
  }
  const lanes: Lane[] = [];
  for (const key of [...bySlot.keys()].sort()) {
    const [worker, slot] = key.split('\u0000');
    lanes.push({ label: `${worker} #${Number(slot)}`, entries: bySlot.get(key)! });
  }
  for (const worker of [...loose.keys()].sort()) {
    const packed: TimelineEntry[][] = [];
    for (const e of loose.get(worker)!.sort((a, b) => from(a) - from(b))) {
      const lane = packed.find((l) => to(l[l.length - 1]) <= from(e));
      if (lane) lane.push(e);
      else packed.push([e]);
    }
    packed.forEach((l, i) => lanes.push({ label: `${worker} #${i}`, entries: l }));
  }
  return lanes;
}

export interface TimelineStats {
  readonly tasks: number;
  readonly lanes: number;
  /** First queued (or claimed) to last stored, ms since the epoch. */
  readonly start: number;
  readonly end: number;
  readonly wallMs: number;
  /** Slot occupancy: claimed → stored, summed. */
  readonly busyMs: number;
  /** Run time: started → finished, summed (what one thread would need). */
  readonly workMs: number;
  /** busy / (lanes × wall). */
  readonly utilisation: number;
  readonly idleMs: number;
  /** work / wall: the speed-up over one thread. */
  readonly speedup: number;
  /** Per job, its longest agent task plus its longest fit; the largest over jobs. */
  readonly criticalMs: number;
  readonly byKind: Readonly<Record<string, { n: number; workMs: number }>>;
  /** Queued-and-slot-free → claimed, over first deliveries (see dispatch.ts). */
  readonly dispatch: DispatchStats;
}

export function timelineStats(entries: readonly TimelineEntry[], lanes: number): TimelineStats {
  const done = entries.filter(ran);
  // Loops, not Math.min(...spread): a timeline may hold 200 000 entries, past the argument limit.
  let start = Infinity;
  let end = -Infinity;
  for (const e of done) {
    start = Math.min(start, e.queuedAt ?? from(e));
    end = Math.max(end, to(e));
  }
  const wallMs = done.length > 0 ? Math.max(0, end - start) : 0;
  let busyMs = 0;
  let workMs = 0;
  const byKind: Record<string, { n: number; workMs: number }> = {};
  const perJob = new Map<string, { agent: number; fit: number }>();
  for (const e of done) {
    const work = e.finishedAt - e.startedAt;
    busyMs += to(e) - from(e);
    workMs += work;
    const k = (byKind[e.kind] ??= { n: 0, workMs: 0 });
    k.n++;
    k.workMs += work;
    const j = perJob.get(e.job) ?? { agent: 0, fit: 0 };
    if (e.kind === 'fit') j.fit = Math.max(j.fit, work);
    else j.agent = Math.max(j.agent, work);
    perJob.set(e.job, j);
  }
  let criticalMs = 0;
  for (const j of perJob.values()) criticalMs = Math.max(criticalMs, j.agent + j.fit);
  const capacity = lanes * wallMs;
  return {
    tasks: done.length, lanes, start: done.length > 0 ? start : 0, end: done.length > 0 ? end : 0, wallMs, busyMs, workMs,
    utilisation: capacity > 0 ? busyMs / capacity : 0, idleMs: Math.max(0, capacity - busyMs),
    speedup: wallMs > 0 ? workMs / wallMs : 0, criticalMs, byKind, dispatch: dispatchStats(dispatchDelays(entries)),
  };
}
