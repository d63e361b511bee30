// The JetStream resources plearn needs, created (or brought up to date) at
// coordinator start-up. Safe to run any number of times.

import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { ARTIFACT_BUCKET, DLQ_STREAM, STATE_BUCKET, TASK_STREAM, WORKER_CONSUMER } from '../../shared/protocol/subjects.ts';

export interface SetupConfig {
  replicas: number;
  storage: 'file' | 'memory';
  leaseMs: number;
  maxDeliveries: number;
}

export const DEFAULT_SETUP: SetupConfig = { replicas: 1, storage: 'file', leaseMs: 30_000, maxDeliveries: 5 };

const NS_PER_MS = 1_000_000;
/** Pull requests the task consumer holds at once: idle worker slots cluster-wide. */
export const MAX_WAITING_PULLS = 16_384;
/** Window in which re-publishing the same task id is dropped by JetStream. */
const DEDUPE_WINDOW_MS = 120_000;

async function ensureStream(jsm: JetStreamManager, name: string, subjects: string[], cfg: SetupConfig, workQueue: boolean): Promise<void> {
  const want = {
    name,
    subjects,
    retention: workQueue ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: cfg.storage === 'file' ? StorageType.File : StorageType.Memory,
    num_replicas: cfg.replicas,
    duplicate_window: DEDUPE_WINDOW_MS * NS_PER_MS,
  };
  const existing = await jsm.streams.info(name).catch(() => null);
  if (!existing) {
    await jsm.streams.add(want);
    return;
  }
  // Retention and storage cannot change on a live stream; subjects and replicas can.
  await jsm.streams.update(name, { subjects, num_replicas: cfg.replicas, duplicate_window: want.duplicate_window });
}

export async function setupJetStream(nc: NatsConnection, partial: Partial<SetupConfig> = {}): Promise<SetupConfig> {
  const cfg: SetupConfig = { ...DEFAULT_SETUP, ...partial };
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, TASK_STREAM, ['plearn.task.>'], cfg, true);
  await ensureStream(jsm, DLQ_STREAM, ['plearn.dlq.>'], cfg, false);
  const consumer = {
    durable_name: WORKER_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: cfg.leaseMs * NS_PER_MS,
    max_deliver: cfg.maxDeliveries,
    // One message per pull per slot: a worker never holds tasks it is not running.
    max_ack_pending: -1,
    // Every idle worker slot has a pull waiting; the server's default of 512 refused
    // the rest of a thousand simulated workers (the scaling benchmark).
    max_waiting: MAX_WAITING_PULLS,
  };
  const existing = await jsm.consumers.info(TASK_STREAM, WORKER_CONSUMER).catch(() => null);
  if (!existing) await jsm.consumers.add(TASK_STREAM, consumer);
  else {
    if (existing.config.ack_wait !== consumer.ack_wait || existing.config.max_deliver !== consumer.max_deliver) {
      await jsm.consumers.update(TASK_STREAM, WORKER_CONSUMER, { ack_wait: consumer.ack_wait, max_deliver: consumer.max_deliver });
    }
    // A queue made by an older plearn has the server's default; servers that cannot
    // raise it on a live consumer keep it (the workers beyond it retry their pulls).
    if ((existing.config.max_waiting ?? 0) < MAX_WAITING_PULLS) {
      await jsm.consumers.update(TASK_STREAM, WORKER_CONSUMER, { max_waiting: MAX_WAITING_PULLS }).catch(() => undefined);
    }
  }
  const storage = cfg.storage === 'file' ? StorageType.File : StorageType.Memory;
  await new Kvm(nc).create(STATE_BUCKET, { replicas: cfg.replicas, storage, history: 1 });
  await new Objm(nc).create(ARTIFACT_BUCKET, { replicas: cfg.replicas, storage });
  return cfg;
}
