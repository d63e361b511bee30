// The leader lease: any number of coordinator replicas, exactly one active. The
// lease is one key in the state store ({holder, epoch, renewedAt, ttlMs}), taken
// and renewed only by compare-and-set on its revision.
//
// Timing, with the lease's TTL as T: the active one renews every T/3 and
// considers itself active only while its last successful renewal began less than
// 2T/3 ago. A standby polls the key and takes over when its revision has not
// changed for T by the standby's own clock (no clock comparison between hosts),
// or at once when the holder released it on shutdown. The epoch grows by one at
// every takeover; fence.ts turns it into fencing of the job state.

import type { Logger } from 'pino';
import { decodeJson, encodeJson } from '../../shared/protocol/codec.ts';
import { LEADER_KEY } from '../../shared/protocol/subjects.ts';
import type { StateStore } from '../../shared/transport/transport.ts';
import type { Fence } from './fence.ts';
import { LeadershipLost } from './fence.ts';

export interface LeaseRecord {
  holder: string;
  epoch: number;
  renewedAt: string;
  ttlMs: number;
  /** Set by a holder that shut down: a standby need not wait out the TTL. */
  released?: boolean;
}

export type Role = 'active' | 'standby';

export interface LeaderLeaseOptions {
  state: StateStore;
  /** This replica's name in the lease (pod name, or host-pid). */
  id: string;
  ttlMs: number;
  log: Logger;
  /** Called on each takeover, with the new epoch; not awaited (renewals go on meanwhile). */
  onActive(epoch: number): void;
  /** Called when this replica stops being active, with why. */
  onStandby(reason: string): void;
  now?: () => number;
}

export const DEFAULT_LEADER_TTL_MS = 15_000;

function isLeaseRecord(v: unknown): v is LeaseRecord {
  const r = v as LeaseRecord;
  return typeof r === 'object' && r !== null && typeof r.holder === 'string' && Number.isInteger(r.epoch) && r.epoch >= 0
    && typeof r.ttlMs === 'number' && r.ttlMs > 0;
}

export class LeaderLease implements Fence {
  private roleNow: Role = 'standby';
  private epochNow = 0;
  private rev = 0;
  /** Local time at which the last successful renewal (or the takeover) was sent. */
  private renewedAt = 0;
  private seenRev = -1;
  private seenAt = 0;
  private holderSeen: string | undefined;
  private busy = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;

  constructor(private readonly o: LeaderLeaseOptions) {
    this.now = o.now ?? (() => performance.timeOrigin + performance.now());
  }

  get role(): Role { return this.roleNow; }
  /** Active, and its last renewal recent enough to trust (what check() demands, without throwing). */
  get holds(): boolean { return this.roleNow === 'active' && !this.lapsed(); }
  get epoch(): number { return this.epochNow; }
  /** The active replica as last seen (this one when active). */
  get holder(): string | undefined { return this.roleNow === 'active' ? this.o.id : this.holderSeen; }

  /** How long the active one trusts its last renewal; a standby waits the full TTL, so a third of it is margin. */
  private get validMs(): number { return (2 * this.o.ttlMs) / 3; }

  /** Since the last successful renewal began (ms). */
  private age(): number { return this.now() - this.renewedAt; }
  private lapsed(): boolean { return this.age() > this.validMs; }

  check(): void {
    if (this.roleNow !== 'active') throw new LeadershipLost(`this coordinator is a standby (active: ${this.holderSeen ?? 'none yet'})`);
    if (this.lapsed()) {
      this.stepDown(`its lease was last renewed ${Math.round(this.age())} ms ago (it trusts a renewal for ${Math.round(this.validMs)} ms)`);
      throw new LeadershipLost(`this coordinator's leader lease lapsed (epoch ${this.epochNow})`);
    }
  }

  /** Start competing; resolves once the first try has been made (a free lease is then held). */
  start(): Promise<void> {
    const tick = Math.max(50, Math.min(1000, Math.floor(this.o.ttlMs / 5)));
    this.timer = setInterval(() => { void this.tick(); }, tick);
    this.timer.unref?.();
    return this.tick();
  }

  /** Stop competing; when active, mark the lease released so a standby takes over at once. Best effort. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.roleNow !== 'active') return;
    const rev = this.rev;
    this.roleNow = 'standby';
    const rec: LeaseRecord = { holder: this.o.id, epoch: this.epochNow, renewedAt: new Date().toISOString(), ttlMs: this.o.ttlMs, released: true };
    const ok = await this.o.state.update(LEADER_KEY, encodeJson(rec), rev);
    this.o.log.info({ epoch: this.epochNow, released: ok !== null }, ok !== null ? 'leader lease released' : 'leader lease was no longer ours to release');
  }

  private async tick(): Promise<void> {
    if (this.roleNow === 'active' && this.lapsed()) {
      this.stepDown(`renewals have failed for ${Math.round(this.age())} ms`);
    }
    if (this.busy || this.timer === undefined) return;
    this.busy = true;
    try {
      if (this.roleNow === 'active') {
        if (this.age() >= this.o.ttlMs / 3) await this.renew();
      } else {
        await this.tryAcquire();
      }
    } catch (e) {
      this.o.log.warn({ err: e, role: this.roleNow }, 'leader lease: the store did not answer');
    } finally {
      this.busy = false;
    }
  }

  private async renew(): Promise<void> {
    const sentAt = this.now();
    const rec: LeaseRecord = { holder: this.o.id, epoch: this.epochNow, renewedAt: new Date().toISOString(), ttlMs: this.o.ttlMs };
    const rev = await this.o.state.update(LEADER_KEY, encodeJson(rec), this.rev);
    if (this.roleNow !== 'active') return;
    if (rev === null) {
      this.stepDown('another replica took the lease over');
      return;
    }
    this.rev = rev;
    this.renewedAt = sentAt;
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = this.now();
    const cur = await this.o.state.get(LEADER_KEY);
    if (!cur) {
      await this.take(null, 1, sentAt);
      return;
    }
    let rec: unknown;
    try { rec = decodeJson(cur.value); } catch { rec = undefined; }
    if (!isLeaseRecord(rec)) {
      // Not a lease we can read (written by hand?): replace it, with an epoch above any it can have held.
      this.o.log.warn({ revision: cur.revision }, 'leader lease record unreadable; replacing it');
      // A key's revision is at least the number of writes to it, so it exceeds any epoch it held.
      await this.take(cur.revision, cur.revision + 1, sentAt);
      return;
    }
    if (cur.revision !== this.seenRev) {
      this.seenRev = cur.revision;
      this.seenAt = sentAt;
      this.holderSeen = rec.holder;
    }
    const lapsed = rec.released === true || rec.holder === this.o.id || sentAt - this.seenAt > rec.ttlMs;
    if (lapsed) await this.take(cur.revision, rec.epoch + 1, sentAt);
  }

  private async take(revision: number | null, epoch: number, sentAt: number): Promise<void> {
    const rec: LeaseRecord = { holder: this.o.id, epoch, renewedAt: new Date().toISOString(), ttlMs: this.o.ttlMs };
    const value = encodeJson(rec);
    const rev = revision === null ? await this.o.state.create(LEADER_KEY, value) : await this.o.state.update(LEADER_KEY, value, revision);
    if (rev === null || this.timer === undefined) return; // another standby won this round, or we are shutting down
    const previous = this.holderSeen;
    this.rev = rev;
    this.epochNow = epoch;
    this.renewedAt = sentAt;
    this.roleNow = 'active';
    this.holderSeen = this.o.id;
    this.o.log.info({ epoch, previous }, 'leader lease taken: this coordinator is active');
    this.o.onActive(epoch);
  }

  private stepDown(reason: string): void {
    if (this.roleNow !== 'active') return;
    this.roleNow = 'standby';
    this.seenRev = -1;
    this.o.log.warn({ epoch: this.epochNow, reason }, 'leader lease lost: this coordinator steps down to standby');
    this.o.onStandby(reason);
  }
}
