// One coordinator replica: active while it holds the leader lease, standby
// otherwise. Both answer the job API's reads from the state store; only the
// active one accepts writes, dispatches tasks and runs fits. Each takeover builds
// a fresh job engine and sweep scheduler over a fenced transport (fence.ts), and
// each step-down stops them, so nothing a former leader had in flight outlives
// its lease.

import type { Logger } from 'pino';
import { ApiFailure } from '../../shared/protocol/api.ts';
import type { Transport } from '../../shared/transport/transport.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import { handleApi } from '../api.ts';
import type { CoordinatorOptions, FitPlacement } from '../engine.ts';
import { Coordinator } from '../engine.ts';
import { SweepScheduler } from '../sweep/scheduler.ts';
import { guardedTransport, LeadershipLost } from './fence.ts';
import { LeaderLease } from './lease.ts';
import type { Role } from './lease.ts';

export interface ReplicaOptions {
  transport: Transport;
  pool: TaskPool;
  log: Logger;
  /** This replica's name in the lease and in `not_active` replies. */
  id: string;
  leaderTtlMs: number;
  reconcileMs: number;
  fitsOn: FitPlacement;
  metrics?: CoordinatorOptions['metrics'];
}

interface ActiveSet { epoch: number; jobs: Coordinator; sweeps: SweepScheduler }

export class CoordinatorReplica {
  private readonly lease: LeaderLease;
  /** Never started: answers reads on a standby (they only read the store). */
  private readonly readerJobs: Coordinator;
  private readonly readerSweeps: SweepScheduler;
  private active: ActiveSet | undefined;
  /** Takeovers and step-downs, one after the other. */
  private transitions: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: ReplicaOptions) {
    this.readerJobs = new Coordinator({ transport: o.transport, pool: o.pool, log: o.log, fitsOn: o.fitsOn });
    this.readerSweeps = new SweepScheduler({ transport: o.transport, jobs: this.readerJobs, log: o.log });
    this.lease = new LeaderLease({
      state: o.transport.state, id: o.id, ttlMs: o.leaderTtlMs, log: o.log,
      onActive: (epoch) => this.queue(() => this.becomeActive(epoch)),
      onStandby: () => this.queue(() => this.becomeStandby()),
    });
  }

  /** Start competing for the lease; resolves once the first try is made and, if it won, the engine has started. */
  async start(): Promise<void> {
    await this.lease.start();
    await this.transitions;
  }

  get role(): Role { return this.active && this.lease.holds ? 'active' : 'standby'; }
  get epoch(): number { return this.lease.epoch; }
  /** The active replica as last seen. */
  get leader(): string | undefined { return this.lease.holder; }
  get activeJobs(): number { return this.active?.jobs.activeJobs ?? 0; }
  get activeSweeps(): number { return this.active?.sweeps.activeSweeps ?? 0; }

  /** Answer one API request: the active engine when this replica leads, the reader otherwise (writes refused). */
  answer(op: string, body: Uint8Array): Promise<Uint8Array> {
    const a = this.active;
    return handleApi(a?.jobs ?? this.readerJobs, op, body, a?.sweeps ?? this.readerSweeps, () => this.gate());
  }

  /** Stop scheduling, then hand the lease back so a standby takes over without waiting out its TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue(() => this.becomeStandby());
    await this.lease.release();
  }

  private gate(): void {
    if (this.role === 'active') return;
    throw new ApiFailure('not_active', `coordinator ${this.o.id} is a standby; the active one is ${this.lease.holder ?? 'not chosen yet'} (retry)`);
  }

  private queue(step: () => Promise<void>): Promise<void> {
    this.transitions = this.transitions.then(step).catch((e: unknown) => this.o.log.error({ err: e }, 'leadership change failed'));
    return this.transitions;
  }

  private async becomeActive(epoch: number): Promise<void> {
    if (this.stopped || this.lease.role !== 'active' || this.lease.epoch !== epoch) return;
    await this.becomeStandby();
    const transport = guardedTransport(this.o.transport, this.lease);
    const common = { transport, log: this.o.log.child({ epoch }), reconcileMs: this.o.reconcileMs, fence: this.lease };
    const jobs = new Coordinator({ ...common, pool: this.o.pool, fitsOn: this.o.fitsOn, ...(this.o.metrics ? { metrics: this.o.metrics } : {}) });
    const sweeps = new SweepScheduler({ ...common, jobs });
    this.active = { epoch, jobs, sweeps };
    // The first pass claims every unfinished job and sweep for this epoch; a failure is retried by the periodic pass.
    await jobs.start().catch((e: unknown) => this.firstPassFailed(e, 'jobs'));
    await sweeps.start().catch((e: unknown) => this.firstPassFailed(e, 'sweeps'));
    this.o.log.info({ epoch, jobs: jobs.activeJobs, sweeps: sweeps.activeSweeps }, 'coordinator active');
  }

  private firstPassFailed(e: unknown, what: string): void {
    if (e instanceof LeadershipLost) return;
    this.o.log.error({ err: e }, `first ${what} pass after taking the lease failed; the next periodic pass retries`);
  }

  private async becomeStandby(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = undefined;
    await a.sweeps.stop();
    await a.jobs.stop();
    this.o.log.info({ epoch: a.epoch }, 'coordinator standby: scheduling stopped');
  }
}
