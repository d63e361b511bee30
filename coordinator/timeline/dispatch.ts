// Dispatch latency from a timeline: for each task a worker slot ran, the time
// from the moment it could have started — it was queued and its slot was free
// (the slot's previous task stored) — to the moment a worker claimed it. Queue
// wait behind busy slots is not in it; the cost of handing work out is.

import type { TimelineEntry } from '../../shared/protocol/records.ts';
import { quantileSorted } from '../../shared/sweeps/stats.ts';

export interface DispatchStats {
  /** Tasks measured: first deliveries on a known slot, with both timestamps. */
  readonly n: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

/** Per measured task, its dispatch latency (ms); `kinds` limits which tasks are measured (every slot's history still counts). */
export function dispatchDelays(entries: readonly TimelineEntry[], kinds?: (kind: string) => boolean): Float64Array {
  const bySlot = new Map<string, TimelineEntry[]>();
  for (const e of entries) {
    if (e.slot < 0 || e.claimedAt === undefined) continue;
    const key = `${e.worker}\u0000${e.slot}`;
    const list = bySlot.get(key);
    if (list) list.push(e);
    else bySlot.set(key, [e]);
  }
  const out: number[] = [];
  for (const list of bySlot.values()) {
    list.sort((a, b) => a.claimedAt! - b.claimedAt!);
    let free = -Infinity;
    for (const e of list) {
      // A redelivery's queued time is its first delivery's: it says nothing about this hand-out.
      if (e.attempts <= 1 && e.queuedAt !== undefined && (kinds === undefined || kinds(e.kind))) {
        out.push(Math.max(0, e.claimedAt! - Math.max(e.queuedAt, free)));
      }
      free = e.storedAt ?? e.finishedAt ?? free;
    }
  }
  return Float64Array.from(out);
}

export function dispatchStats(delays: Float64Array): DispatchStats {
  const sorted = Float64Array.from(delays).sort();
  let sum = 0;
  for (const d of sorted) sum += d;
  return { n: sorted.length, p50Ms: quantileSorted(sorted, 0.5), p99Ms: quantileSorted(sorted, 0.99), meanMs: sorted.length > 0 ? sum / sorted.length : NaN };
}
