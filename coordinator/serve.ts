// The two long-running services: `plearn coordinator` and `plearn worker`. Each
// connects to NATS, wires the shared job logic to it, answers health probes, and
// shuts down cleanly on SIGTERM/SIGINT (a worker drains first).

import { availableParallelism, hostname } from 'node:os';
import type { Command } from 'commander';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { API_OPS, apiSubject, COORDINATOR_SERVICE, WORKER_SERVICE, workerStatusSubject } from '../shared/protocol/subjects.ts';
import { encodeJson } from '../shared/protocol/codec.ts';
import { intIn, oneOf } from '../shared/util/validate.ts';
import { startHealthServer } from '../worker/health.ts';
import { createLocalPool, lazyPool } from '../worker/local-pool.ts';
import { usableCpus } from '../worker/cpu-budget.ts';
import { Worker } from '../worker/service.ts';
import { logLevelOption } from './cli-common.ts';
import { FIT_PLACEMENTS } from './engine.ts';
import { DEFAULT_LEADER_TTL_MS } from './leader/lease.ts';
import { CoordinatorReplica } from './leader/replica.ts';
import { addNatsOptions, openNats } from './nats-cli.ts';
import type { NatsFlags, OpenNats } from './nats-cli.ts';
import { registerService } from './nats/services.ts';
import type { ShutdownStep } from './shutdown.ts';
import { deadlineOf, shutDown } from './shutdown.ts';
import { createCoordinatorRegistry } from './metrics.ts';
import { createWorkerRegistry } from '../worker/metrics.ts';

interface ServiceFlags extends NatsFlags {
  threads?: string; healthPort: string; logLevel: string;
}

interface CoordinatorFlags extends ServiceFlags {
  replicas: string; storage: string; leaseMs: string; maxDeliveries: string; reconcileMs: string; fitsOn: string;
  id?: string; leaderTtlMs: string;
}

interface WorkerFlags extends ServiceFlags {
  id?: string; drainTimeoutMs: string; taskTimeoutMs?: string; taskHeapMb?: string; taskMemoryMb?: string;
}

/** Resolve on the first SIGTERM or SIGINT; a second one ends the process at once. */
function untilSignal(log: Logger): Promise<string> {
  return new Promise((resolve) => {
    let first = true;
    const on = (sig: string) => {
      if (!first) {
        log.warn({ signal: sig }, 'second signal during shutdown; exiting now');
        process.exit(1);
      }
      first = false;
      log.info({ signal: sig }, 'shutting down');
      resolve(sig);
    };
    process.on('SIGTERM', () => on('SIGTERM'));
    process.on('SIGINT', () => on('SIGINT'));
  });
}

/** Stop the health server without waiting for idle keep-alive connections (a probe holds one open). */
function closeHealth(health: { close(cb?: () => void): unknown; closeAllConnections(): void }): Promise<void> {
  return new Promise((resolve) => {
    health.close(() => resolve());
    health.closeAllConnections();
  });
}

/** Drain the connection if the server answers; otherwise drop it (a drain would wait for a server that is gone). */
function closeNats(nats: OpenNats): ShutdownStep[] {
  const gone = () => (nats.nc.isClosed() ? undefined : 'the NATS server did not answer; the connection is dropped without draining');
  return [
    { name: 'drain the NATS connection', run: () => nats.close(), timeoutMs: 2000, hint: gone },
    { name: 'drop the NATS connection', run: () => (nats.nc.isClosed() ? undefined : nats.nc.close()), timeoutMs: 500 },
  ];
}

/** The reply's error code, or "ok": read from its first bytes (`{"error":{"code":"…"`) without decoding it. */
function replyCode(reply: Uint8Array): string {
  const head = new TextDecoder().decode(reply.subarray(0, 48));
  return /^\{"error":\{"code":"([a-z_]+)"/.exec(head)?.[1] ?? 'ok';
}

/** Count reconnections from the connection's status stream (it ends when the connection closes). */
function countReconnects(nats: OpenNats, on: () => void): void {
  void (async () => {
    for await (const s of nats.nc.status()) if (s.type === 'reconnect') on();
  })().catch(() => undefined);
}

/** A service's id: the flag's, else <hostname>-<pid> (a pod's hostname is its name). */
function serviceId(flag: string | undefined): string {
  const id = flag ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${process.pid}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`id: ${JSON.stringify(id)} must be 1–64 of A–Z a–z 0–9 _ -`);
  return id;
}

/** Exit with `code` once the shutdown is done: the NATS client's reconnect timers would otherwise keep a cut-off process alive. */
function exitAfter(code: number): never {
  process.exit(code);
}

async function runCoordinator(flags: CoordinatorFlags): Promise<number> {
  const log = pino({ level: flags.logLevel, base: { svc: 'plearn-coordinator' } }, pino.destination(2));
  const setup = {
    replicas: intIn('replicas', flags.replicas, 1, 5),
    storage: oneOf('storage', flags.storage, ['file', 'memory'] as const),
    leaseMs: intIn('lease-ms', flags.leaseMs, 1000, 3_600_000),
    maxDeliveries: intIn('max-deliveries', flags.maxDeliveries, 1, 100),
  };
  const healthPort = intIn('health-port', flags.healthPort, 0, 65535);
  const threads = flags.threads === undefined ? availableParallelism() : intIn('threads', flags.threads, 1, 1024);
  const fitsOn = oneOf('fits-on', flags.fitsOn, FIT_PLACEMENTS);
  const reconcileMs = intIn('reconcile-ms', flags.reconcileMs, 100, 3_600_000);
  const leaderTtlMs = intIn('leader-ttl-ms', flags.leaderTtlMs, 1000, 600_000);
  const id = serviceId(flags.id);
  const nats = await openNats(flags, 'plearn-coordinator', { setup });
  const m = createCoordinatorRegistry(API_OPS);
  countReconnects(nats, () => m.reconnected());
  const pool = lazyPool(threads, () => createLocalPool(threads));
  const replica = new CoordinatorReplica({
    transport: nats.transport, pool, log, id, leaderTtlMs, reconcileMs, fitsOn, metrics: { deadLettered: (r) => m.deadLettered(r) },
  });
  const unfollow = m.followEvents(nats.transport.events, () => replica.role === 'active');
  m.watch({ jobs: () => replica.activeJobs, sweeps: () => replica.activeSweeps, leader: () => (replica.role === 'active' ? 1 : 0) });
  await replica.start();
  const answer = async (op: string, req: Uint8Array) => {
    const t0 = performance.now();
    const reply = await replica.answer(op, req);
    m.apiRequest(op, replyCode(reply), (performance.now() - t0) / 1000);
    return reply;
  };
  const service = await registerService(nats.nc, {
    name: COORDINATOR_SERVICE, version: '0.1.0', description: `plearn job API: ${API_OPS.join(', ')}`,
    metadata: { threads: String(threads), replica: id },
    endpoints: API_OPS.map((op) => ({ name: op, subject: apiSubject(op), handler: (req: Uint8Array) => answer(op, req) })),
  });
  let up = true;
  const health = await startHealthServer(healthPort, {
    live: () => up, ready: () => up && !nats.nc.isClosed(), metrics: m.registry,
    detail: () => ({ id, role: replica.role, epoch: replica.epoch, leader: replica.leader ?? null }),
  });
  log.info({ id, nats: nats.transport.describe, threads, fitsOn, leaderTtlMs, healthPort: health.boundPort, ...setup }, `coordinator ready (${replica.role})`);
  await untilSignal(log);
  up = false;
  const steps: ShutdownStep[] = [
    { name: 'stop the API service', run: () => service.stop(), timeoutMs: 2000 },
    {
      name: 'stop scheduling and release the leader lease', run: async () => { unfollow(); await replica.stop(); }, timeoutMs: 1000,
      hint: () => 'the lease could not be marked released: a standby takes over once its TTL has run out',
    },
    { name: 'close the fit pool', run: () => pool.close(), timeoutMs: 3000 },
    ...closeNats(nats),
    { name: 'close the health server', run: () => closeHealth(health), timeoutMs: 1000 },
  ];
  return exitAfter(await shutDown(log, steps, deadlineOf(steps)));
}

/**
 * Default pool size of a worker: one thread per GPU on a GPU node (the devices the
 * NVIDIA runtime exposes, or PLEARN_GPUS), else one per usable CPU (the cores,
 * capped by the container's CPU quota and the pod's CPU request).
 */
export function defaultWorkerThreads(env: NodeJS.ProcessEnv): number {
  const explicit = env.PLEARN_GPUS?.trim();
  if (explicit && /^\d+$/.test(explicit)) return Math.max(1, Number(explicit));
  const visible = env.NVIDIA_VISIBLE_DEVICES?.trim();
  if (visible && !['all', 'none', 'void'].includes(visible)) return visible.split(',').length;
  return usableCpus(env);
}

async function runWorker(flags: WorkerFlags): Promise<number> {
  const log = pino({ level: flags.logLevel, base: { svc: 'plearn-worker' } }, pino.destination(2));
  const threads = flags.threads === undefined ? defaultWorkerThreads(process.env) : intIn('threads', flags.threads, 1, 1024);
  const healthPort = intIn('health-port', flags.healthPort, 0, 65535);
  const drainMs = intIn('drain-timeout-ms', flags.drainTimeoutMs, 0, 86_400_000);
  const taskTimeoutMs = flags.taskTimeoutMs === undefined ? undefined : intIn('task-timeout-ms', flags.taskTimeoutMs, 1000, 604_800_000);
  const heapMb = flags.taskHeapMb === undefined ? undefined : intIn('task-heap-mb', flags.taskHeapMb, 64, 1_048_576);
  const memoryMb = flags.taskMemoryMb === undefined ? undefined : intIn('task-memory-mb', flags.taskMemoryMb, 16, 16_777_216);
  const id = serviceId(flags.id);
  const nats = await openNats(flags, `plearn-worker-${id}`, { onWait: (why) => log.warn(why) });
  const m = createWorkerRegistry(id);
  countReconnects(nats, () => m.reconnected());
  const pool = createLocalPool(threads, { ...(heapMb !== undefined ? { heapMb } : {}), ...(memoryMb !== undefined ? { memoryMb } : {}) });
  const worker = new Worker({
    transport: nats.transport, pool, id, slots: threads, log, metrics: m.metrics, ...(taskTimeoutMs !== undefined ? { taskTimeoutMs } : {}),
  });
  m.watchSlots(threads, () => worker.stats().current.length);
  const service = await registerService(nats.nc, {
    name: WORKER_SERVICE, version: '0.1.0', description: 'plearn worker: trains agents from the task queue',
    metadata: { worker: id, threads: String(threads), host: hostname() },
    endpoints: [{ name: 'status', subject: workerStatusSubject(id), handler: async () => encodeJson(worker.stats()) }],
    statsData: () => worker.stats(),
  });
  const health = await startHealthServer(healthPort, {
    live: () => true, ready: () => worker.ready && !nats.nc.isClosed(), detail: () => ({ id, state: worker.stats().state }), metrics: m.registry,
  });
  worker.start();
  log.info({ id, threads, nats: nats.transport.describe, healthPort: health.boundPort, taskTimeoutMs, taskHeapMb: heapMb, taskMemoryMb: memoryMb }, 'worker ready');
  await untilSignal(log);
  const steps: ShutdownStep[] = [
    {
      name: 'drain the held tasks',
      run: async () => {
        const released = await worker.drain(drainMs);
        log.info({ released }, released > 0 ? 'drain timed out; tasks handed back' : 'drained');
      },
      timeoutMs: drainMs + 2000,
    },
    { name: 'stop the worker service', run: () => service.stop(), timeoutMs: 2000 },
    { name: 'close the task pool', run: () => pool.close(), timeoutMs: 3000 },
    ...closeNats(nats),
    { name: 'close the health server', run: () => closeHealth(health), timeoutMs: 1000 },
  ];
  return exitAfter(await shutDown(log, steps, deadlineOf(steps)));
}

export function registerServiceCommands(program: Command): void {
  addNatsOptions(program.command('coordinator')
    .description('Run the coordinator service: the job API on NATS, task dispatch, centralized P-learning fits (one per seed over all its agents; run by the workers or here), results. Start several for a standby: one is active (a leader lease in NATS), the others answer reads and take over when it stops.'))
    .option('--fits-on <where>', 'where world-model fits run: workers (a task on the queue, any worker takes it) | coordinator (this process\'s threads)', 'workers')
    .option('--threads <n>', 'fit threads when --fits-on coordinator (default: available cores)')
    .option('--replicas <n>', 'JetStream replicas of the streams and buckets it creates', '1')
    .option('--storage <kind>', 'JetStream storage: file | memory', 'file')
    .option('--lease-ms <ms>', 'task lease (ack wait): a worker silent this long loses its task', '30000')
    .option('--max-deliveries <n>', 'deliveries before a task is dead-lettered', '5')
    .option('--reconcile-ms <ms>', 'interval of the full state rescan', '10000')
    .option('--leader-ttl-ms <ms>', 'leader lease TTL: with several coordinator replicas, a standby takes over once the active one has not renewed for this long (it renews every third of it)', String(DEFAULT_LEADER_TTL_MS))
    .option('--id <id>', 'replica id in the leader lease (default: <hostname>-<pid>)')
    .option('--health-port <port>', 'HTTP port of /healthz and /readyz', '8081')
    .addOption(logLevelOption().default('info'))
    .action(async (flags: CoordinatorFlags) => { process.exitCode = await runCoordinator(flags); });

  addNatsOptions(program.command('worker')
    .description('Run a worker service: pull agent tasks from NATS and train them in a thread pool.'))
    .option('--threads <n>', 'pool threads = tasks held at once (default: one per GPU in NVIDIA_VISIBLE_DEVICES or PLEARN_GPUS, else one per usable CPU: the cores, capped by a container CPU limit and by PLEARN_CPU_REQUEST)')
    .option('--id <id>', 'worker id (default: <hostname>-<pid>)')
    .option('--drain-timeout-ms <ms>', 'on SIGTERM, wait this long for held tasks before handing them back', '25000')
    .option('--task-timeout-ms <ms>', 'stop a task still running after this long: it fails, is retried up to max deliveries, then dead-lettered (default: no deadline)')
    .option('--task-heap-mb <mb>', 'V8 heap limit of each task thread; a thread past it is stopped and its task fails as above (default: Node\'s)')
    .option('--task-memory-mb <mb>', 'memory budget of each task\'s arrays (grids, kernels, buffers: outside the V8 heap); a task whose estimate exceeds it is refused before it allocates, and fails as above (default: none)')
    .option('--health-port <port>', 'HTTP port of /healthz and /readyz', '8080')
    .addOption(logLevelOption().default('info'))
    .action(async (flags: WorkerFlags) => { process.exitCode = await runWorker(flags); });
}
